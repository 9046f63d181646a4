"""Fixtures: every ledger test runs on SQLite and on PostgreSQL.

`ledger_url` is parametrized over both stores; the PostgreSQL run gets a schema
of its own (dropped afterwards), so runs in parallel never meet.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

import tally
from tests.services import POSTGRES_URL, missing
from tests.support import FakeClock


def _postgres_admin() -> object:
    try:
        import psycopg

        return psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except Exception as error:  # any failure means "not available"
        missing("PostgreSQL", f"{POSTGRES_URL}: {error}")
        raise


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"


_END_SESSIONS_IN_SCHEMA = """
    SELECT pg_terminate_backend(pid) FROM (
        SELECT DISTINCT l.pid FROM pg_locks l
        JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND l.pid <> pg_backend_pid()
    ) AS holders"""


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema in the test database, as a URL whose search_path is it."""
    admin = _postgres_admin()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin.execute(f'CREATE SCHEMA "{schema}"')  # type: ignore[attr-defined]
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        # A session the test left behind (a killed writer's, not yet ended by
        # the server) must not hold the DROP up: end those that hold a lock here.
        admin.execute(_END_SESSIONS_IN_SCHEMA, (schema,))  # type: ignore[attr-defined]
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')  # type: ignore[attr-defined]
        admin.close()  # type: ignore[attr-defined]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest) -> str:
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger(ledger_url: str, clock: FakeClock) -> Iterator[tally.Ledger]:
    opened = tally.open(ledger_url, clock=clock)
    try:
        yield opened
    finally:
        opened.close()
