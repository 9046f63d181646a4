"""Pick a store from a database URL."""

from __future__ import annotations

from tally.core.errors import ValidationError
from tally.store.base import Store


def open_store(url: str) -> Store:
    if not isinstance(url, str):
        raise ValidationError("the database URL must be a string", field="url")
    if url.startswith("sqlite:"):
        from tally.store.sqlite import SQLiteStore

        return SQLiteStore(url)
    if url.startswith(("postgresql:", "postgres:", "postgresql+psycopg:")):
        from tally.store.postgres import PostgresStore

        return PostgresStore(url)
    raise ValidationError("the database URL must start with sqlite:/// or postgresql://", field="url")
