"""Create or upgrade a store's schema with Alembic, once, under a lock.

Opening a store first reads `alembic_version`; when it already says
`SCHEMA_REVISION` the store skips Alembic (one query, no Alembic import).
Otherwise it runs `run_alembic` inside a transaction that holds a lock, so that
several processes opening a fresh database at once migrate it exactly once:
SQLite takes the file's write lock (`BEGIN IMMEDIATE`), PostgreSQL a
transaction-scoped advisory lock (`upgrade_postgres`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

from tally.core.errors import ValidationError
from tally.store.schema import SCHEMA_REVISION, SCHEMA_REVISIONS, SQLITE_0003_TABLES, checks_without_in_lists

# Advisory lock of the migration, per schema: the search_path may give each
# ledger a schema of its own in one database. Released at commit or rollback.
_PG_MIGRATION_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtextextended('tally.migrate:' || coalesce(current_schema(), ''), 0))"
)
_PG_VERSION_TABLE = "SELECT to_regclass('alembic_version') IS NOT NULL"

log = logging.getLogger("tally.migrate")


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


def execute_ddl(postgres: Sequence[str], sqlite: Sequence[str]) -> None:
    """A migration's body: its statements for the database Alembic is migrating."""
    from alembic import op

    for statement in postgres if op.get_bind().dialect.name == "postgresql" else sqlite:
        op.execute(statement)


def rewrite_sqlite_checks(execute: Callable[..., Any]) -> bool:
    """Revision 0003 on SQLite: each table's CHECKs without IN lists (`schema.checks_without_in_lists`).

    SQLite cannot ALTER a CHECK, and copying the journal and the transfers
    into new tables would take a large ledger minutes. The rule stays the same,
    so the table's text in `sqlite_schema` is edited in place instead, the
    procedure SQLite documents for changing constraints ("Making Other Kinds
    Of Table Schema Changes" in lang_altertable.html): writable_schema, the
    new text, the schema version one higher, all in the migration's
    transaction. Each new text is first created in a scratch database, so
    that nothing unreadable reaches the file.

    When a new text does not make a table, or the SQLite is built defensive
    and refuses to edit its schema, the tables keep their IN lists, which
    mean the same and only cost more: a warning is logged and the answer is
    False. `execute(sql, parameters=())` runs one statement in the
    migration's transaction and returns a cursor.
    """
    import sqlite3

    marks = ", ".join("?" * len(SQLITE_0003_TABLES))
    tables = execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name IN ({marks})", SQLITE_0003_TABLES
    ).fetchall()
    rewritten = [(checks_without_in_lists(sql), sql, name) for name, sql in tables]
    changed = [(new, name) for new, old, name in rewritten if new != old]
    if not changed:
        return True
    scratch = sqlite3.connect(":memory:")
    try:
        for sql, _ in changed:
            scratch.execute(sql)
    except sqlite3.DatabaseError as error:
        log.warning("schema 0003: the tables keep their IN lists (a rewritten CHECK failed: %s)", error)
        return False
    finally:
        scratch.close()
    (version,) = execute("PRAGMA schema_version").fetchone()
    execute("SAVEPOINT tally_checks")
    try:
        execute("PRAGMA writable_schema = ON")
        for sql, name in changed:
            execute("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?", (sql, name))
        execute(f"PRAGMA schema_version = {int(version) + 1}")
    except sqlite3.DatabaseError as error:
        execute("ROLLBACK TO tally_checks")
        log.warning("schema 0003: the tables keep their IN lists (SQLite refused to edit its schema: %s)", error)
        return False
    finally:
        execute("PRAGMA writable_schema = OFF")
        execute("RELEASE tally_checks")
    return True


def refuse_unknown(revision: str | None) -> None:
    """A schema at a revision this Tally does not know, a newer Tally's, is refused and left as it is."""
    if revision is not None and revision not in SCHEMA_REVISIONS:
        raise ValidationError(
            f"the database's schema is at revision {revision}, which this version of Tally does not know "
            f"(its newest is {SCHEMA_REVISION}): open it with the version of Tally that migrated it",
            field="url",
        )


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(None))
    head = script.get_current_head()
    assert head is not None
    return head


def postgres_revision(execute: Callable[[str], Any]) -> str | None:
    """The revision a PostgreSQL schema is at (None when it has no tables yet).

    `execute(sql)` runs one statement and returns a cursor-like result, so that
    both a psycopg connection and a SQLAlchemy one can ask.
    """
    if not execute(_PG_VERSION_TABLE).fetchone()[0]:
        return None
    row = execute("SELECT version_num FROM alembic_version").fetchone()
    return None if row is None else str(row[0])


def upgrade_postgres(connect: Callable[[], Any]) -> None:
    """Migrate the PostgreSQL schema that `connect()` (a psycopg connection) sees.

    One transaction holds the advisory lock, checks the revision again (another
    process may have migrated while we waited) and runs Alembic; the DDL is
    transactional, so a crash midway leaves the schema as it was.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.pool import NullPool

    engine = create_engine("postgresql+psycopg://", creator=connect, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(text(_PG_MIGRATION_LOCK))
            if postgres_revision(lambda sql: connection.execute(text(sql))) == SCHEMA_REVISION:
                return
            run_alembic(connection)
    except DBAPIError as error:
        # The driver's own error, so that the store can tell a lost
        # connection from a schema it may not create.
        if error.orig is None:
            raise
        raise error.orig from error
    finally:
        engine.dispose()


__all__ = [
    "SCHEMA_REVISION",
    "execute_ddl",
    "head_revision",
    "postgres_revision",
    "refuse_unknown",
    "rewrite_sqlite_checks",
    "run_alembic",
    "upgrade_postgres",
]
