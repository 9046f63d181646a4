"""Tally over HTTP: a real `tally serve` process, driven by keep-alive HTTP clients.

The same ledger a user would run as a service: the server is its own process
(`tally --db URL serve`), with a writer key made by `tally keys create`, the
rate limit lifted (it would cap the clients, not measure the server) and a
throwaway state directory. Accounts are opened and funded through the library
before the server starts, as an operator would; every measured call is an
HTTP request.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.databases import Target
from bench.tally_system import TallySystem

STARTUP_SECONDS_MAX = 60


def _tally() -> list[str]:
    script = Path(sys.executable).with_name("tally")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from tally.cli import main; main()"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """`tally serve` on `url` in a process of its own, with a writer key; stopped by SIGTERM."""

    def __init__(self, url: str) -> None:
        self._state = tempfile.TemporaryDirectory(prefix="tally-serve-")
        environment = {
            **os.environ,
            "TALLY_RATE_LIMIT_PER_SECOND": "1000000000",
            "TALLY_RATE_LIMIT_BURST": "1000000000",
            "TALLY_STATE_DIR": self._state.name,
        }
        made = subprocess.run(
            [*_tally(), "--db", url, "keys", "create", "--role", "writer"],
            capture_output=True, text=True, check=True, env=environment,
        )  # fmt: skip
        self.token = made.stdout.strip().splitlines()[-1]
        port = _free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [*_tally(), "--db", url, "serve", "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment,
        )  # fmt: skip
        try:
            self._wait_healthy()
        except BaseException:
            self.close()
            raise

    def session(self) -> Session:
        return Session(self.base, self.token)

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS_MAX
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tally serve exited with {self.process.returncode}")
            session = self.session()
            try:
                if session.get("/v1/health").status_code == 200:
                    return
            except OSError:
                pass  # not listening yet
            finally:
                session.close()
            time.sleep(0.1)
        raise RuntimeError("tally serve did not become healthy")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._state.cleanup()


class Response:
    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code = status_code
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


class Session:
    """One keep-alive HTTP/1.1 connection with the bearer token, on the standard library's http.client.

    Not httpx: measured in this harness, an httpx request costs its client
    about 0.9 ms of CPU, and the 16 clients share the two cores with the
    server they measure. http.client costs a fraction of that, closer to
    what a client in any other language would cost the machine.
    """

    def __init__(self, base: str, token: str) -> None:
        parts = urlsplit(base)
        self._connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def request(self, method: str, path: str, body: Any = None) -> Response:
        """One request; a failure is the caller's error to count, never retried (a POST may have applied)."""
        payload = None if body is None else json.dumps(body).encode()
        try:
            self._connection.request(method, path, body=payload, headers=self._headers)
            answer = self._connection.getresponse()
            return Response(answer.status, answer.read())
        except BaseException:
            self._connection.close()  # the next request opens a new connection
            raise

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, json: Any = None) -> Response:
        return self.request("POST", path, json)

    def close(self) -> None:
        self._connection.close()


class TallyHTTP:
    """Tally over HTTP; reads for the counts afterwards (balances, verify) go through the library."""

    name = "Tally over HTTP"

    def __init__(self, target: Target, library: TallySystem | None = None) -> None:
        """Serve `target`; with `library`, a ledger already built there (it stays the caller's to close)."""
        self.target = target
        self._owns_library = library is None
        self.library = library or TallySystem(target)  # the ledger (and its schema), for setup and checks
        self.ledger = self.library.ledger
        self.server: Server | None = None

    def _started(self) -> Server:
        if self.server is None:
            self.server = Server(self.target.url)
        return self.server

    def setup(self, accounts: Sequence[str], balance: int) -> None:
        self.library.setup(accounts, balance)
        self._started()

    def add_history(self, account: str, rows: int) -> None:
        self.library.add_history(account, rows)
        self._started()

    def client(self) -> TallyHTTPClient:
        return TallyHTTPClient(self._started().session())

    def balances(self, accounts: Sequence[str]) -> dict[str, int]:
        return self.library.balances(accounts)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        if self._owns_library:
            self.library.close()


class TallyHTTPClient:
    """One HTTP client (one keep-alive connection): every call is one request."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _post(self, path: str, body: Any, expected: tuple[int, ...] = (200, 201)) -> Response:
        response = self.session.post(path, json=body)
        if response.status_code not in expected:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
        return response

    def transfer(self, source: str, destination: str, amount: int) -> bool:
        body = {"source": source, "destination": destination, "amount": amount}
        response = self._post("/v1/transfers", body, (201, 409))
        if response.status_code == 409:
            code = response.json().get("code")
            if code != "insufficient_funds":
                raise RuntimeError(f"HTTP 409: {code}")
            return False
        return True

    def transfer_batch(self, items: Sequence[tuple[str, str, int]]) -> int:
        body = {"transfers": [{"source": s, "destination": d, "amount": a} for s, d, a in items]}
        results = self._post("/v1/transfers/batch", body).json()["results"]
        return sum(result["status"] == "rejected" for result in results)

    def hold(self, source: str, destination: str, amount: int) -> str:
        body = {"source": source, "destination": destination, "amount": amount, "pending": True}
        id: str = self._post("/v1/transfers", body).json()["id"]
        return id

    def post(self, id: str) -> None:
        self._post(f"/v1/transfers/{id}/post", None)

    def void(self, id: str) -> None:
        self._post(f"/v1/transfers/{id}/void", None)

    def balance(self, account: str) -> int:
        response = self.session.get(f"/v1/accounts/{account}/balance")
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
        posted: int = response.json()["posted"]
        return posted

    def close(self) -> None:
        self.session.close()
