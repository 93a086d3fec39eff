"""an index on request_events (kind, at) for the quality figures of a period

/stats and the digest read the status changes and ratings of a period over every department
(issue 15): without it, a scan of the whole history, which grows by several rows a request.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 04:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_request_events_kind_at", "request_events", ["kind", "at"])


def downgrade() -> None:
    op.drop_index("ix_request_events_kind_at", table_name="request_events")
