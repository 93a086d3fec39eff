"""Imports every model module so the metadata is complete (for Alembic and tests)."""

from models import entities  # noqa: F401
