"""the answers to a category's extra questions, kept with the request

A category may ask up to three questions with buttons when a resident files (issue 11): the
answers go to the card and the export.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 07:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # In place (no table rebuild on SQLite, which would drop the address search's triggers).
    op.add_column("requests", sa.Column("answers", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("answers")
