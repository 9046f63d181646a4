"""`tally serve` and `make run` as real processes: signals, expiry on time, the stored admin token."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.http.conftest import Served, free_port, start_server

WAIT_SECONDS_MAX = 60.0


def in_flight(served: Served) -> float:
    for line in httpx.get(served.url + "/metrics").text.splitlines():
        if line.startswith("tally_http_requests_in_flight "):
            return float(line.split()[1])
    raise AssertionError("no in-flight gauge")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_finishes_the_request_in_flight_then_exits_0(
    ledger_url: str, tmp_path: Path, sig: signal.Signals
) -> None:
    served = start_server(ledger_url, tmp_path)
    answers: list[httpx.Response] = []
    poll = threading.Thread(
        target=lambda: answers.append(
            httpx.get(served.url + "/v1/events", params={"after": 10**9, "wait": 3}, headers=auth(served), timeout=60)
        )
    )
    poll.start()
    deadline = time.monotonic() + WAIT_SECONDS_MAX
    while in_flight(served) < 2 and time.monotonic() < deadline:  # the long poll, and this /metrics request
        time.sleep(0.02)
    assert served.stop(sig) == 0
    poll.join()
    assert answers[0].status_code == 200
    assert answers[0].json() == {"events": [], "next": 10**9}


def auth(served: Served) -> dict[str, str]:
    return {"Authorization": f"Bearer {served.admin}"}


def test_holds_expire_on_time_without_anyone_asking(ledger_url: str, tmp_path: Path) -> None:
    served = start_server(ledger_url, tmp_path)
    try:
        api = served.client(served.admin)
        api.post("/v1/accounts", json={"id": "@world", "currency": "USD", "min_balance": None})
        api.post("/v1/accounts", json={"id": "user:1", "currency": "USD"})
        after = api.get("/v1/audit/head").json()["seq"]
        hold = {"id": "hold-1", "source": "@world", "destination": "user:1", "amount": 5, "pending": True}
        assert api.post("/v1/transfers", json={**hold, "expires_in": 1}).status_code == 201
        deadline = time.monotonic() + WAIT_SECONDS_MAX
        kinds: list[str] = []
        while "pending_expired" not in kinds and time.monotonic() < deadline:
            # The events feed reads the journal only: it never expires anything itself.
            page = api.get("/v1/events", params={"after": after, "wait": 2}).json()
            kinds += [event["type"] for event in page["events"]]
            after = page["next"]
        assert "pending_expired" in kinds
    finally:
        assert served.stop() == 0


def run_make_run(cwd: Path) -> tuple[str, str, int, int]:
    """Start `python -m tally.run`, read the URL and token it prints, count the keys, stop it.

    Returns the URL, the token, the exit status and how many keys exist.
    """
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tally.run", "--port", str(port)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(3)]
    url = lines[0].split()[3]
    token = lines[2].strip()
    deadline = time.monotonic() + WAIT_SECONDS_MAX
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/v1/keys", headers={"Authorization": f"Bearer {token}"}).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    keys = httpx.get(url + "/v1/keys", headers={"Authorization": f"Bearer {token}"}).json()["keys"]
    process.send_signal(signal.SIGTERM)
    status = process.wait(timeout=60)
    process.stdout.close()
    return url, token, status, len(keys)


def test_make_run_serves_sqlite_and_keeps_one_admin_token(tmp_path: Path) -> None:
    url, token, status, keys = run_make_run(tmp_path)
    assert url.startswith("http://127.0.0.1:") and token.startswith("tly_")
    assert (status, keys) == (0, 1)
    assert (tmp_path / "tally.sqlite3").exists() and (tmp_path / ".tally" / "admin-token").exists()
    _, again, status, keys = run_make_run(tmp_path)
    assert again == token
    assert (status, keys) == (0, 1)


def test_every_request_is_one_json_log_line_with_its_request_id(ledger_url: str, tmp_path: Path) -> None:
    served = start_server(ledger_url, tmp_path)
    try:
        api = served.client(served.admin)
        created = api.post(
            "/v1/accounts", json={"id": "user:log", "currency": "USD"}, headers={"X-Request-Id": "trace-42"}
        )
        assert created.status_code == 201 and created.headers["x-request-id"] == "trace-42"
        assert api.get("/v1/accounts/user:none").status_code == 404
    finally:
        assert served.stop() == 0
    output = next(tmp_path.glob("serve-*.log")).read_text().splitlines()
    lines = [json.loads(line) for line in output if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    mine = next(line for line in requests if line["request_id"] == "trace-42")
    assert mine["method"] == "POST" and mine["route"] == "/v1/accounts" and mine["status"] == 201
    assert mine["level"] == "info" and mine["key_id"] and mine["duration_ms"] > 0 and mine["timestamp"].endswith("Z")
    missing = next(line for line in requests if line["status"] == 404)
    assert missing["route"] == "/v1/accounts/{id}" and len(missing["request_id"]) == 32  # one was made up
