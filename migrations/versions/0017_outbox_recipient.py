"""a recipient's messages found by index: those waiting for their next message go out at once

Over the month's cap of billed Viber messages (issue 13), a message the bot would start waits
for the resident's next message; every message a resident sends looks for such messages.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 09:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_outbox_recipient", "outbox", ["channel", "recipient", "status"])


def downgrade() -> None:
    op.drop_index("ix_outbox_recipient", table_name="outbox")
