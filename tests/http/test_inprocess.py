"""The app in this process: rate limits, database trouble, settings and the app's own registry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import anyio.to_thread
import pytest

import tally
from tally.http import create_app
from tally.keys import create_key
from tally.settings import Settings
from tests.http.conftest import InProcess, TestClient, assert_problem, make_inproc
from tests.services import POSTGRES_URL


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[InProcess]:
    yield from make_inproc(tmp_path, rate_limit_per_second=0.001, rate_limit_burst=3)


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(limited: InProcess) -> None:
    answers = [limited.client.get("/v1/events") for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    problem = assert_problem(answers[3], 429, "rate_limited")
    assert int(answers[3].headers["retry-after"]) >= 1 and problem["detail"]
    other = limited.key("reader")
    assert limited.client.get("/v1/events", headers=limited.as_(other)).status_code == 200


def test_a_closed_database_answers_503_unavailable_never_500(inproc: InProcess) -> None:
    inproc.client.post("/v1/accounts", json={"id": "user:1", "currency": "USD"})
    inproc.ledger.close()
    for response in (
        inproc.client.get("/v1/accounts/user:1"),
        inproc.client.post("/v1/accounts", json={"id": "user:2", "currency": "USD"}),
        inproc.client.get("/v1/health"),
    ):
        assert_problem(response, 503, "unavailable")
        assert response.headers["x-request-id"]


def test_the_session_secret_is_made_once_and_kept(tmp_path: Path) -> None:
    first = Settings(state_dir=str(tmp_path)).resolved().session_secret
    again = Settings(state_dir=str(tmp_path)).resolved().session_secret
    assert first and first == again
    assert (tmp_path / "session-secret").stat().st_mode & 0o077 == 0
    assert Settings(session_secret="given", state_dir=str(tmp_path)).resolved().session_secret == "given"


def test_two_apps_keep_separate_metrics(tmp_path: Path) -> None:
    with tally.open(f"sqlite:///{tmp_path / 'a.sqlite3'}") as ledger:
        settings = Settings(state_dir=str(tmp_path), session_secret="s")
        one, two = create_app(settings, ledger), create_app(settings, ledger)
        with TestClient(one) as a, TestClient(two) as b:
            a.get("/v1/health")
            assert 'route="/v1/health"' in a.get("/metrics").text
            assert 'route="/v1/health"' not in b.get("/metrics").text


def test_transfer_outcomes_and_batch_sizes_are_counted(inproc: InProcess) -> None:
    c = inproc.client
    c.post("/v1/accounts", json={"id": "@world", "currency": "USD", "min_balance": None})
    c.post("/v1/accounts", json={"id": "user:1", "currency": "USD"})
    c.post("/v1/transfers", json={"source": "@world", "destination": "user:1", "amount": 5})
    c.post("/v1/transfers", json={"source": "user:1", "destination": "@world", "amount": 50})
    c.post("/v1/transfers/batch", json={"transfers": [{"source": "@world", "destination": "user:1", "amount": 1}] * 3})
    text = c.get("/metrics").text
    assert 'tally_transfers_total{outcome="posted"} 4.0' in text
    assert 'tally_transfers_total{outcome="insufficient_funds"} 1.0' in text
    assert "tally_batch_size_count 1.0" in text


def test_accounts_of_a_scoped_key_are_listed_within_its_scope(inproc: InProcess) -> None:
    for id in ("user:4", "user:42", "user:421", "user:5"):
        inproc.client.post("/v1/accounts", json={"id": id, "currency": "USD"})
    scoped = inproc.as_(inproc.key("reader", "user:42"))
    listed = inproc.client.get("/v1/accounts", params={"prefix": "user:4"}, headers=scoped).json()
    assert [a["id"] for a in listed["accounts"]] == ["user:42", "user:421"]
    assert inproc.client.get("/v1/accounts", params={"prefix": "user:5"}, headers=scoped).json()["accounts"] == []


@pytest.mark.postgres
def test_database_trouble_answers_503_unavailable(postgres_schema_url: Callable[[], str], tmp_path: Path) -> None:
    import psycopg

    url = postgres_schema_url()
    with tally.open(url) as ledger:
        _, admin = create_key(ledger, "admin")
        app = create_app(Settings(database_url=url, state_dir=str(tmp_path), session_secret="s"), ledger)
        with TestClient(app, raise_server_exceptions=False) as client:
            headers = {"Authorization": f"Bearer {admin}"}
            assert client.get("/v1/events", headers=headers).status_code == 200
            schema = parse_qs(urlsplit(url).query)["options"][0].split("=", 1)[1]
            with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
                connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
            for response in (client.get("/v1/events", headers=headers), client.get("/v1/health")):
                assert_problem(response, 503, "unavailable")


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_reads_and_keys_are_answered_on_the_event_loop_where_the_store_reads_locally(
    store: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each hand-off to the thread pool costs 0.1-0.2 ms of CPU (bench/ANALYSIS.md). On SQLite the
    caller's key and a one-row read are answered on the event loop: no hand-off; a read that must
    first expire a hold that came due (a write) goes to a thread, and answers with it expired.
    Across a network both go to threads. The plain transfer route reads the key in its write's
    thread on both stores."""
    if store == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_schema_url")()
    hand_offs: list[object] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(func: Callable[..., object], *args: object, **kwargs: object) -> object:
        hand_offs.append(func)
        return await run_sync(func, *args, **kwargs)

    now = [1_900_000_000.0]
    with tally.open(url, clock=lambda: now[0]) as ledger:
        _, admin = create_key(ledger, "admin")
        ledger.create_account("@world", currency="USD", min_balance=None)
        for account in ("user:1", "user:2"):
            ledger.create_account(account, currency="USD")
        hold = ledger.transfer("@world", "user:1", 5, pending=True)
        ledger.transfer("@world", "user:2", 7, pending=True, expires_in=60)
        app = create_app(Settings(database_url=url, state_dir=str(tmp_path / "state"), session_secret="s"), ledger)
        with TestClient(app, raise_server_exceptions=False) as client:
            client.headers["Authorization"] = f"Bearer {admin}"
            monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
            requests = {
                "balance": lambda: client.get("/v1/accounts/user:1/balance"),
                "account": lambda: client.get("/v1/accounts/user:1"),
                "transfer": lambda: client.get(f"/v1/transfers/{hold.id}"),
                "health": lambda: client.get("/v1/health"),
                "post": lambda: client.post(f"/v1/transfers/{hold.id}/post", json={}),
                "plain transfer": lambda: client.post(
                    "/v1/transfers", json={"source": "@world", "destination": "user:1", "amount": 1}
                ),
                "unknown key": lambda: client.get("/v1/accounts/user:1", headers={"Authorization": "Bearer tly_x"}),
                "balance with a hold come due": lambda: client.get("/v1/accounts/user:2/balance"),
            }
            counts, answers = {}, {}
            for name, send in requests.items():
                if name == "balance with a hold come due":
                    now[0] += 61
                hand_offs.clear()
                answers[name] = send()
                counts[name] = len(hand_offs)
    assert {name: answer.status_code for name, answer in answers.items()} == {
        "balance": 200, "account": 200, "transfer": 200, "health": 200, "post": 200, "plain transfer": 201,
        "unknown key": 401, "balance with a hold come due": 200,
    }  # fmt: skip
    assert answers["balance with a hold come due"].json() == {
        "posted": 0, "pending_in": 0, "pending_out": 0, "available": 0
    }  # fmt: skip
    local = store == "sqlite"
    assert counts == {
        "balance": 0 if local else 2,
        "account": 0 if local else 2,
        "transfer": 0 if local else 2,
        "health": 0 if local else 1,
        "post": 1 if local else 2,
        "plain transfer": 1,
        "unknown key": 0 if local else 1,  # refused before the endpoint
        "balance with a hold come due": 1 if local else 2,
    }
