"""Alembic environment: runs on the connection `tally.store.migrate` hands it."""

from __future__ import annotations

from alembic import context

from tally.store.migrate import refuse_unknown

connection = context.config.attributes["connection"]
context.configure(connection=connection, transactional_ddl=True)
with context.begin_transaction():
    # Inside the migration's transaction and lock: what it finds is what it migrates.
    refuse_unknown(context.get_context().get_current_revision())
    context.run_migrations()
