"""Alembic environment: always called by censorwatch with an open connection.

censorwatch runs migrations itself (``censorwatch init``, ``db upgrade`` and on first use), so
there is no alembic.ini; the connection comes in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from censorwatch.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - guarded by censorwatch.store.migrate
    raise RuntimeError("censorwatch migrations need an open connection; use `censorwatch db`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER constraints in place: batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
