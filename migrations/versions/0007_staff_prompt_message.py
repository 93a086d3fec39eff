"""staff prompts remember their message

In a group only a reply to the prompt's own message completes it (issue 17, break 13): the
group's other talk ("who took the van keys?") must not resolve a request and reach the
resident as the department's comment.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_prompts") as batch:
        batch.add_column(sa.Column("message_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_prompts") as batch:
        batch.drop_column("message_id")
