"""photos of the fix: a staff member's proof photos and the prompt that collects them

A department may attach photos to its resolution (issue 15): they are kept with the request's
photos, marked as the department's, and a resolve prompt collects the photos sent before its
text (an album comes as one message per photo).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 06:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("photos") as batch:
        batch.add_column(
            sa.Column("proof", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("staff_prompts") as batch:
        batch.add_column(sa.Column("photos", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("album", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_prompts") as batch:
        batch.drop_column("album")
        batch.drop_column("photos")
    with op.batch_alter_table("photos") as batch:
        batch.drop_column("proof")
