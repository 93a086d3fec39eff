"""a topic per request in forum groups

A department whose Telegram group has topics on gets one topic per request (issue 15): the
card and everything said about the request go there, and the topic closes with the request.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 06:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "request_topics",
        sa.Column(
            "request_id",
            sa.Integer(),
            sa.ForeignKey("requests.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("chat_id", sa.String(length=64), primary_key=True),
        sa.Column("thread_id", sa.String(length=32), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_request_topics_chat_thread", "request_topics", ["chat_id", "thread_id"])


def downgrade() -> None:
    op.drop_index("ix_request_topics_chat_thread", table_name="request_topics")
    op.drop_table("request_topics")
