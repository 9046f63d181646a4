"""Fixtures for the HTTP API: a real `tally serve` process per store, and in-process apps.

`served` starts one `tally serve` subprocess per test module and store (SQLite,
then PostgreSQL in a schema of its own); tests use ids of their own (`ids`) so
they never meet. `inproc` is the same app in this process, for the tests that
need to reach inside (closing the database under it, a tiny rate limit).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

import tally
from tally.keys import create_key
from tally.settings import Settings
from tests.services import POSTGRES_URL, missing

with warnings.catch_warnings():
    # Starlette's TestClient warns at import that it prefers `httpx2`; it works with httpx.
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

STARTUP_SECONDS_MAX = 60.0
TALLY = str(Path(sys.executable).with_name("tally"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Served:
    """A running `tally serve`: its URL, database and an admin token."""

    url: str
    database_url: str
    admin: str
    process: subprocess.Popen[bytes]
    state_dir: Path
    log: Any = None
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, token: str | None = None, **headers: str) -> httpx.Client:
        auth = {} if token is None else {"Authorization": f"Bearer {token}"}
        client = httpx.Client(base_url=self.url, headers={**auth, **headers}, timeout=60)
        self.clients.append(client)
        return client

    def key(self, role: str, accounts: str | None = None) -> str:
        body: dict[str, Any] = {"role": role}
        if accounts is not None:
            body["accounts"] = accounts
        response = self.client(self.admin).post("/v1/keys", json=body)
        assert response.status_code == 201, response.text
        token: str = response.json()["token"]
        return token

    def stop(self, sig: int = signal.SIGTERM) -> int:
        for client in self.clients:
            client.close()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=60)
        finally:
            if self.log is not None:
                self.log.close()


def start_server(database_url: str, state_dir: Path, **env: str) -> Served:
    with tally.open(database_url) as ledger:
        _, admin = create_key(ledger, "admin", name="tests")
    port = free_port()
    environment = {**os.environ, "TALLY_STATE_DIR": str(state_dir), "TALLY_RATE_LIMIT_PER_SECOND": "0", **env}
    log = (state_dir / f"serve-{port}.log").open("wb")
    process = subprocess.Popen(
        [TALLY, "--db", database_url, "serve", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=environment,
        cwd=state_dir,
    )
    served = Served(f"http://127.0.0.1:{port}", database_url, admin, process, state_dir, log)
    wait_until_healthy(served)
    return served


def wait_until_healthy(served: Served) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS_MAX
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            pytest.fail(f"tally serve exited with {served.process.returncode}")
        try:
            if httpx.get(served.url + "/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    served.stop(signal.SIGKILL)
    pytest.fail("tally serve did not become healthy")


@pytest.fixture(scope="session", autouse=True)
def json_logs() -> None:
    """Log as `tally serve` does (structlog's default console renderer formats tracebacks slowly)."""
    from tally.http.serve import configure_logging

    configure_logging()


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[Callable[[], str]]:
    """Make fresh PostgreSQL schemas (as URLs), dropped at the end of the session."""
    try:
        import psycopg

        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except Exception as error:  # any failure means "not available"
        missing("PostgreSQL", f"{POSTGRES_URL}: {error}")
        raise
    made: list[str] = []

    def make() -> str:
        schema = f"t_{uuid.uuid4().hex[:16]}"
        admin.execute(f'CREATE SCHEMA "{schema}"')
        made.append(schema)
        separator = "&" if "?" in POSTGRES_URL else "?"
        return f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"

    yield make
    for schema in made:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    admin.close()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    state_dir = tmp_path_factory.mktemp(f"serve-{request.param}")
    if request.param == "sqlite":
        database_url = f"sqlite:///{state_dir / 'ledger.sqlite3'}"
    else:
        database_url = request.getfixturevalue("postgres_schema_url")()
    server = start_server(database_url, state_dir)
    yield server
    assert server.stop() == 0


@pytest.fixture
def ids() -> Callable[[str], str]:
    """Ids unique to the test: ids("user") -> "user:3f2a…"."""
    run = uuid.uuid4().hex[:10]
    return lambda name: f"{name}:{run}"


@dataclass
class InProcess:
    client: TestClient
    ledger: tally.Ledger
    admin: str

    def key(self, role: str, accounts: str | None = None) -> str:
        _, token = create_key(self.ledger, role, accounts)
        return token

    def as_(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


def make_inproc(tmp_path: Path, **settings: Any) -> Iterator[InProcess]:
    from tally.http import create_app

    ledger = tally.open(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    _, admin = create_key(ledger, "admin")
    values = {"rate_limit_per_second": 0.0, "state_dir": str(tmp_path / "state"), **settings}
    app = create_app(Settings(database_url=ledger.store.url, **values), ledger)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {admin}"
        yield InProcess(client, ledger, admin)
    ledger.close()


@pytest.fixture
def inproc(tmp_path: Path) -> Iterator[InProcess]:
    yield from make_inproc(tmp_path)


def assert_problem(response: httpx.Response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    if field is not None:
        assert body.get("field") == field, body
    return body
