"""open-queue indexes and address search

- Two partial indexes over the open requests only (a few per cent of the table): the queue of
  all departments, oldest first, reads its first rows straight off ``ix_requests_open_created``
  and counts the open requests on it; a department's queue uses ``ix_requests_open_dept_created``.
  Their ``WHERE`` is the same text ``models.storage.desk_queries.open_clause`` renders (sorted literals):
  SQLite uses a partial index only when the query repeats its condition.
- ``/find`` by address text. SQLite: an FTS5 table with the trigram tokenizer
  (``requests_fts``, rowid = requests.id; trigram folds Unicode case, which SQLite's LIKE does not
  do beyond ASCII), filled from the existing rows and kept in step by three triggers on
  ``requests``. A later migration that makes Alembic *recreate* ``requests`` on SQLite (batch
  mode "move and copy") drops these triggers with the old table and must create them again
  (tests/test_storage_indexes.py checks they exist at head). PostgreSQL: the ``pg_trgm``
  extension and a GIN trigram index on ``address``, which ILIKE (Unicode-aware there) uses. A
  role that may not create the extension still gets the migration: the index is skipped with a
  warning and ILIKE reads the table, as before.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 09:30:00
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

# The open statuses, sorted, exactly as models.storage.desk_queries.open_clause() renders them.
OPEN = "status IN ('assigned', 'in_progress', 'needs_info', 'new', 'reopened')"

FTS_TRIGGERS = {
    "requests_fts_insert": """
        CREATE TRIGGER requests_fts_insert AFTER INSERT ON requests
        WHEN new.address IS NOT NULL BEGIN
            INSERT INTO requests_fts(rowid, address) VALUES (new.id, new.address);
        END""",
    "requests_fts_delete": """
        CREATE TRIGGER requests_fts_delete AFTER DELETE ON requests BEGIN
            DELETE FROM requests_fts WHERE rowid = old.id;
        END""",
    "requests_fts_update": """
        CREATE TRIGGER requests_fts_update AFTER UPDATE OF id, address ON requests BEGIN
            DELETE FROM requests_fts WHERE rowid = old.id;
            INSERT INTO requests_fts(rowid, address)
                SELECT new.id, new.address WHERE new.address IS NOT NULL;
        END""",
}


def upgrade() -> None:
    bind = op.get_bind()
    for name, columns in (
        ("ix_requests_open_created", ["created_at", "id"]),
        ("ix_requests_open_dept_created", ["department", "created_at", "id"]),
    ):
        op.create_index(
            name,
            "requests",
            columns,
            sqlite_where=sa.text(OPEN),
            postgresql_where=sa.text(OPEN),
        )
    if bind.dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE requests_fts USING fts5(address, tokenize='trigram')")
        op.execute(
            "INSERT INTO requests_fts(rowid, address) "
            "SELECT id, address FROM requests WHERE address IS NOT NULL"
        )
        for ddl in FTS_TRIGGERS.values():
            op.execute(ddl)
    elif bind.dialect.name == "postgresql":
        _postgres_trigram_index(bind)


def _postgres_trigram_index(bind: sa.Connection) -> None:
    try:
        with bind.begin_nested():  # a failure must not abort the migration's transaction
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError as exc:
        log.warning(
            "pg_trgm could not be created (%s); /find by address will read the whole table. "
            "Ask the database administrator to run CREATE EXTENSION pg_trgm in this database, "
            "then create the index: CREATE INDEX ix_requests_address_trgm ON requests "
            "USING gin (address gin_trgm_ops)",
            str(exc.orig).strip().splitlines()[0] if exc.orig else exc,
        )
        return
    op.create_index(
        "ix_requests_address_trgm",
        "requests",
        ["address"],
        postgresql_using="gin",
        postgresql_ops={"address": "gin_trgm_ops"},
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for name in FTS_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS requests_fts")
    elif bind.dialect.name == "postgresql":
        # The extension stays: it may have been there before, or serve other databases' needs.
        op.execute("DROP INDEX IF EXISTS ix_requests_address_trgm")
    op.drop_index("ix_requests_open_dept_created", table_name="requests")
    op.drop_index("ix_requests_open_created", table_name="requests")
