"""Alembic migrations of the censorwatch store (run by :func:`censorwatch.store.migrate`)."""
