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


FK = "fk_requests_duplicate_of_id_requests"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with its reference in place; Alembic's way (a constraint of
        # its own) rebuilds the table, which drops the triggers that keep the address search
        # (requests_fts, migration 0005) in step.
        op.execute(
            "ALTER TABLE requests ADD COLUMN duplicate_of_id INTEGER"
            " REFERENCES requests (id) ON DELETE SET NULL"
        )
        return
    op.add_column("requests", sa.Column("duplicate_of_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        FK, "requests", "requests", ["duplicate_of_id"], ["id"], ondelete="SET NULL"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(FK, "requests", type_="foreignkey")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("duplicate_of_id")
