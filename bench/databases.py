"""Where each system under test keeps its data: a fresh place per system and workload.

SQLite: a new file in a temporary directory. PostgreSQL: a new schema in a
database of the bench's own (`tally_bench_<pid>`), created at the start and
dropped at the end, so a run never touches anyone else's tables.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

POSTGRES_URL = os.environ.get("TALLY_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class Target:
    """One empty database place: a URL for Tally, a connect() for the baselines."""

    dialect: str  # "sqlite" | "postgres"
    url: str

    @property
    def path(self) -> str:
        return self.url[len("sqlite:///") :]

    def connect(self) -> Any:
        """A plain DB-API connection, configured the way a careful user would."""
        if self.dialect == "sqlite":
            # Python's default transaction handling, WAL and synchronous=FULL:
            # the same durability Tally runs with, so the comparison is fair.
            connection = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL")
            return connection
        import psycopg

        return psycopg.connect(self.url)


class Places:
    """Hands out fresh targets for one store and removes them all at the end."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self._directory = tempfile.mkdtemp(prefix="tally-bench-")
        self._database = f"tally_bench_{os.getpid()}"
        self._admin: Any = None
        if dialect == "postgres":
            import psycopg

            self._admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
            self._admin.execute(f'CREATE DATABASE "{self._database}"')

    def new(self, label: str) -> Target:
        name = f"{label}_{uuid.uuid4().hex[:8]}"
        if self.dialect == "sqlite":
            return Target("sqlite", f"sqlite:///{os.path.join(self._directory, name + '.sqlite3')}")
        import psycopg

        base = _with_database(POSTGRES_URL, self._database)
        with psycopg.connect(base, autocommit=True) as connection:
            connection.execute(f'CREATE SCHEMA "{name}"')
        separator = "&" if "?" in base else "?"
        return Target("postgres", f"{base}{separator}options={quote(f'-csearch_path={name}')}")

    def close(self) -> None:
        shutil.rmtree(self._directory, ignore_errors=True)
        if self._admin is not None:
            self._admin.execute(f'DROP DATABASE IF EXISTS "{self._database}" WITH (FORCE)')
            self._admin.close()


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def postgres_available() -> str | None:
    """None when PostgreSQL answers; otherwise why not."""
    try:
        import psycopg

        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except Exception as error:  # noqa: BLE001 - any failure means "not here"
        return str(error).strip().splitlines()[0]
    return None
