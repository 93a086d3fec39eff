"""the digest's chart is kept in the database, not in a local file

With several workers (issue 12) the one that draws the day's chart and the one that sends it
may be different processes on different machines; the picture travels with the database.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "digest_charts",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("png", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("digest_charts")
