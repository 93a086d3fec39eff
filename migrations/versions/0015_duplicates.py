"""a request closed as a duplicate of another (/merge)

Staff merge reports of one problem into one incident (issue 11): the others close as its
duplicates, and their residents follow it.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 07:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("duplicate_of_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_requests_duplicate_of_id_requests",
            "requests",
            ["duplicate_of_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_constraint("fk_requests_duplicate_of_id_requests", type_="foreignkey")
        batch.drop_column("duplicate_of_id")
