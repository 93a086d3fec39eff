"""subscribers of a request ("this is my problem too"), and the key of its building

Residents reporting a problem already reported at the same building (or near the same pin)
may join that request instead of filing another (issue 11): they are its subscribers, told
every change. ``place_key`` is the typed address's street and house as compared
(models/domain/addresses.py), computed here for the open requests already filed.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = ("new", "assigned", "in_progress", "needs_info", "reopened")


def upgrade() -> None:
    from models.domain.addresses import place_key

    op.create_table(
        "request_subscribers",
        sa.Column(
            "request_id",
            sa.Integer(),
            sa.ForeignKey("requests.id", ondelete="CASCADE"),
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
    op.create_index("ix_request_subscribers_resident_id", "request_subscribers", ["resident_id"])
    # A plain ADD COLUMN (no table rebuild on SQLite, which would drop the address search's
    # triggers of migration 0005).
    op.add_column("requests", sa.Column("place_key", sa.String(length=200), nullable=True))
    op.create_index("ix_requests_category_place", "requests", ["category", "place_key"])
    op.create_index("ix_requests_category_lat", "requests", ["category", "latitude"])
    requests = sa.table(
        "requests",
        sa.column("id", sa.Integer),
        sa.column("address", sa.String),
        sa.column("status", sa.String),
        sa.column("place_key", sa.String),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(requests.c.id, requests.c.address).where(
            requests.c.status.in_(OPEN), requests.c.address.is_not(None)
        )
    ).all()
    for request_id, address in rows:
        key = place_key(address)
        if key is not None:
            conn.execute(requests.update().where(requests.c.id == request_id).values(place_key=key))


def downgrade() -> None:
    op.drop_index("ix_requests_category_lat", table_name="requests")
    op.drop_index("ix_requests_category_place", table_name="requests")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("place_key")
    op.drop_index("ix_request_subscribers_resident_id", table_name="request_subscribers")
    op.drop_table("request_subscribers")
