"""Pick a store from a database URL."""

from __future__ import annotations

from tally.core.errors import ValidationError
from tally.core.limits import WRITE_RETRY_SECONDS_MAX
from tally.store.base import Store


def open_store(url: str, *, write_timeout: float = WRITE_RETRY_SECONDS_MAX) -> Store:
    """The store at `url`; a write waits at most about `write_timeout` seconds for a lock."""
    if not isinstance(url, str):
        raise ValidationError("the database URL must be a string", field="url")
    if url.startswith("sqlite:"):
        from tally.store.sqlite import SQLiteStore

        return SQLiteStore(url, write_timeout=write_timeout)
    if url.startswith(("postgresql:", "postgres:", "postgresql+psycopg:")):
        from tally.store.postgres import PostgresStore

        return PostgresStore(url, write_timeout=write_timeout)
    raise ValidationError("the database URL must start with sqlite:/// or postgresql://", field="url")
