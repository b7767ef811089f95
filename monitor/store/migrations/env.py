"""Alembic's entry point: runs the steps on the connection the store hands over.

The store opens the database itself (:mod:`monitor.store.migrate`) and passes its
connection in ``config.attributes["connection"]``; nothing here reads a URL or a file.
"""

from __future__ import annotations

from alembic import context

from monitor.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
