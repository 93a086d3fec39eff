"""known outages and their subscribers

Staff declare an outage for a category and streets or buildings; residents about to file
there may subscribe instead, and are told when it ends (issue 11).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 06:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("department", sa.String(length=32), nullable=False),
        sa.Column("places", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("until_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_text", sa.Text(), nullable=True),
    )
    op.create_index("ix_outages_category_ended", "outages", ["category", "ended_at"])
    op.create_table(
        "outage_subscribers",
        sa.Column(
            "outage_id",
            sa.Integer(),
            sa.ForeignKey("outages.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "resident_id",
            sa.Integer(),
            sa.ForeignKey("residents.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("outage_subscribers")
    op.drop_index("ix_outages_category_ended", table_name="outages")
    op.drop_table("outages")
