"""Imports every model module so the metadata is complete (for Alembic and tests)."""

from models.domain import outages, outbox, prompts, staff, tables  # noqa: F401
