"""Create or upgrade a store's schema with Alembic, once, under a lock.

Opening a ledger calls `upgrade()`; when the schema is already at
`SCHEMA_REVISION` it returns after one query, without importing Alembic.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from tally.store.schema import SCHEMA_REVISION


def alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("tally.store") / "migrations"))
    config.attributes["connection"] = connection
    return config


def run_alembic(sqlalchemy_connection: Any) -> None:
    """Upgrade to head on a SQLAlchemy connection whose transaction the caller owns."""
    from alembic import command

    command.upgrade(alembic_config(sqlalchemy_connection), "head")


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(None))
    head = script.get_current_head()
    assert head is not None
    return head


__all__ = ["SCHEMA_REVISION", "head_revision", "run_alembic"]
