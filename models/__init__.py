"""SQLAlchemy models and the domain operations on them."""
