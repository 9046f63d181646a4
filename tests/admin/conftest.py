"""A real `tally serve` on a SQLite file, and a real headless Chromium to drive it.

The server runs in its own process (as staff would run it); the tests seed and
check the ledger through the library in this process, on the same database
file. Chromium is the system one (/usr/bin/chromium): Playwright's own browser
download cannot work on these machines. Without it the browser tests skip
(and fail under CI=true).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import tally
from tally.keys import create_key
from tests.services import missing

# The system Chromium that scripts/install-browser.sh installs (Debian names it either way).
CHROMIUM_CANDIDATES = [os.environ.get("TALLY_TEST_CHROMIUM", ""), "/usr/bin/chromium", "/usr/bin/chromium-browser"]
CHROMIUM = next((path for path in CHROMIUM_CANDIDATES if path and Path(path).exists()), "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SERVER_START_SECONDS_MAX = 60
SERVER_STOP_SECONDS_MAX = 30
WAIT_MS = 15_000  # how long Playwright waits for an element before the test fails


@dataclass
class Server:
    url: str
    database_url: str
    tokens: dict[str, str]  # role -> token
    books: tally.Ledger  # the same ledger, opened in the test process

    def fresh_account(self, prefix: str = "user", funded: int = 0, currency: str = "USD") -> str:
        """A new account (funded from @world when asked), so tests never share balances."""
        account_id = f"{prefix}:{uuid.uuid4().hex[:10]}"
        self.books.create_account(account_id, currency=currency)
        if funded:
            self.books.transfer(f"@world:{currency}", account_id, funded, reason="Opening deposit")
        return account_id


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _seed(ledger: tally.Ledger) -> dict[str, str]:
    for currency in ("USD", "JPY"):
        ledger.create_account(f"@world:{currency}", currency=currency, min_balance=None)
    tokens = {}
    for role, name in (("admin", "Ada Admin"), ("staff", "Sam Staff"), ("writer", "Wes Writer"), ("reader", "Rae")):
        _, tokens[role] = create_key(ledger, role, name=name)
    return tokens


def _wait_until_up(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS_MAX
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"tally serve exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/admin/login", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"tally serve did not answer within {SERVER_START_SECONDS_MAX} s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("admin")
    database_url = f"sqlite:///{home / 'ledger.sqlite3'}"
    with tally.open(database_url) as ledger:
        tokens = _seed(ledger)
    port = _free_port()
    env = {**os.environ, "TALLY_STATE_DIR": str(home / "state"), "TALLY_DATABASE_URL": database_url}
    log = home / "serve.log"
    command = [sys.executable, "-c", "from tally.cli import main; main()", "serve", "--port", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=home)
    url = f"http://127.0.0.1:{port}"
    books = tally.open(database_url)
    try:
        _wait_until_up(process, url, log)
        yield Server(url, database_url, tokens, books)
    finally:
        books.close()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(SERVER_STOP_SECONDS_MAX)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        missing("Chromium", f"{CHROMIUM} not found (bash scripts/install-browser.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    """A fresh browser profile (no cookies) on the admin page; fails the test on any script error."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        yield opened
        # 4xx answers show as console errors of the failed resource; anything else is a bug.
        unexpected = [e for e in errors if "status of 4" not in e]
        assert not unexpected, unexpected
    finally:
        context.close()


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"admin-{name}.png"), full_page=True)
