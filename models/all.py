"""Imports every model module so the metadata is complete (for Alembic and tests)."""

from models import entities, outbox, staff, staff_prompts  # noqa: F401
