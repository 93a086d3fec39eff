"""backfill waiting_since for requests that were waiting before 0003

Requests already resolved or waiting for the resident's information when 0003 added
``waiting_since`` kept it empty, so the follow-up ("Is it fixed?") and the automatic closure
never came for them. They are dated from when they were resolved, or last changed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 11:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE requests SET waiting_since = COALESCE(resolved_at, updated_at) "
        "WHERE status IN ('resolved', 'needs_info') AND waiting_since IS NULL"
    )


def downgrade() -> None:
    pass  # the dates are right for the rows they were given; nothing to undo
