"""outbox rows say whether the bot started the conversation, and what Viber billed

Viber bills the messages a bot sends outside the 24-hour session a resident's own message
opens (issue 13); the city needs to see how many such messages its notifications cost.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("bot_initiated", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("billing_status", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("billing_status")
        batch.drop_column("bot_initiated")
