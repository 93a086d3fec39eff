"""a voice message as a request's description, its length and a transcript for staff

Residents who would rather speak than type send a voice message (issue 14).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # In place (no table rebuild on SQLite, which would drop the address search's triggers).
    op.add_column("requests", sa.Column("voice", sa.String(255), nullable=True))
    op.add_column("requests", sa.Column("voice_seconds", sa.Integer(), nullable=True))
    op.add_column("requests", sa.Column("voice_transcript", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("voice_transcript")
        batch.drop_column("voice_seconds")
        batch.drop_column("voice")
