"""The app in this process: rate limits, database trouble, settings and the app's own registry."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import anyio.to_thread
import httpx
import pytest

import tally
from tally.http import create_app, service
from tally.keys import create_key, revoke_key
from tally.settings import Settings
from tests.http.conftest import InProcess, TestClient, assert_problem, make_inproc
from tests.services import POSTGRES_URL
from tests.support import WAIT_SECONDS_MAX, another_writer_holds_the_lock, wait_until_writing

CLIENTS = 16
TRANSFERS_EACH = 10


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
def test_reads_keys_and_lone_writes_are_made_on_the_event_loop_where_the_store_is_local(
    store: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each hand-off to the thread pool costs 0.1-0.2 ms of CPU (bench/ANALYSIS.md). On SQLite the
    caller's key and a one-row read are answered on the event loop: no hand-off; a read that must
    first expire a hold that came due (a write) goes to a thread, and answers with it expired.
    Across a network both go to threads. A write that is the only write request in flight is made
    on the event loop on SQLite (each write route), and in a thread across a network (where the
    plain write routes read the key in their write's thread)."""
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
        other_hold = ledger.transfer("@world", "user:1", 3, pending=True)
        reversible = ledger.transfer("@world", "user:1", 4)
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
                "void": lambda: client.post(f"/v1/transfers/{other_hold.id}/void", json={}),
                "plain transfer": lambda: client.post(
                    "/v1/transfers", json={"source": "@world", "destination": "user:1", "amount": 1}
                ),
                "transfer with Idempotency-Key": lambda: client.post(
                    "/v1/transfers",
                    json={"source": "@world", "destination": "user:1", "amount": 1},
                    headers={"Idempotency-Key": "keyed"},
                ),
                "batch": lambda: client.post(
                    "/v1/transfers/batch",
                    json={"transfers": [{"source": "@world", "destination": "user:1", "amount": 1}]},
                ),
                "reverse": lambda: client.post(f"/v1/transfers/{reversible.id}/reverse", json={}),
                "open account": lambda: client.post("/v1/accounts", json={"id": "user:3", "currency": "USD"}),
                "update account": lambda: client.patch("/v1/accounts/user:3", json={"metadata": {"a": 1}}),
                "freeze": lambda: client.post("/v1/accounts/user:3/freeze", json={}),
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
        "balance": 200, "account": 200, "transfer": 200, "health": 200, "post": 200, "void": 200,
        "plain transfer": 201, "transfer with Idempotency-Key": 201, "batch": 200, "reverse": 201,
        "open account": 201, "update account": 200, "freeze": 200, "unknown key": 401,
        "balance with a hold come due": 200,
    }  # fmt: skip
    assert answers["balance with a hold come due"].json() == {
        "posted": 0, "pending_in": 0, "pending_out": 0, "available": 0
    }  # fmt: skip
    local = store == "sqlite"
    assert counts == {
        "balance": 0 if local else 1,  # the plain route: the key and the balance in one trip
        "account": 0 if local else 2,
        "transfer": 0 if local else 2,
        "health": 0 if local else 1,
        "post": 0 if local else 1,  # the plain route: the key and the write in one trip
        "void": 0 if local else 1,
        "plain transfer": 0 if local else 1,
        "transfer with Idempotency-Key": 0 if local else 2,
        "batch": 1 if local else 2,  # a long write: in a thread, even alone
        "reverse": 0 if local else 2,
        "open account": 0 if local else 2,
        "update account": 0 if local else 2,
        "freeze": 0 if local else 2,
        "unknown key": 0 if local else 1,  # refused before the endpoint
        "balance with a hold come due": 1,
    }


def test_a_plain_transfer_waiting_for_the_file_lock_leaves_the_event_loop_free(inproc: InProcess) -> None:
    """A write tried on the event loop does not wait there for another process's lock: it goes
    to a thread, and the loop answers other requests until the lock is released."""
    c = inproc.client
    c.post("/v1/accounts", json={"id": "@world", "currency": "USD", "min_balance": None})
    c.post("/v1/accounts", json={"id": "user:1", "currency": "USD"})
    answers: list[httpx.Response] = []
    body = {"source": "@world", "destination": "user:1", "amount": 5}
    sender = threading.Thread(target=lambda: answers.append(c.post("/v1/transfers", json=body)))
    with another_writer_holds_the_lock(inproc.ledger.store.path) as released:  # type: ignore[attr-defined]
        sender.start()
        wait_until_writing(inproc.ledger)  # the write waits for the lock
        assert c.get("/v1/accounts/user:1/balance").json()["posted"] == 0
        assert c.get("/v1/health").status_code == 200
        assert sender.is_alive() and not released.is_set(), "the event loop waited for the lock"
    sender.join(WAIT_SECONDS_MAX)
    assert [a.status_code for a in answers] == [201]
    assert c.get("/v1/accounts/user:1/balance").json()["posted"] == 5


def test_plain_transfers_sent_together_share_commits(inproc: InProcess) -> None:
    """Only a write alone in flight is made on the event loop: writes that arrive together go to
    threads and commit as groups, as in the library."""
    c = inproc.client
    c.post("/v1/accounts", json={"id": "@world", "currency": "USD", "min_balance": None})
    for index in range(CLIENTS):
        c.post("/v1/accounts", json={"id": f"user:{index}", "currency": "USD"})
    commits = inproc.ledger.engine.commits
    start = threading.Barrier(CLIENTS)

    def send(index: int) -> list[int]:
        start.wait()
        body = {"source": "@world", "destination": f"user:{index}", "amount": 1}
        return [c.post("/v1/transfers", json=body).status_code for _ in range(TRANSFERS_EACH)]

    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = [s for answered in pool.map(send, range(CLIENTS)) for s in answered]
    assert statuses == [201] * (CLIENTS * TRANSFERS_EACH)
    assert inproc.ledger.engine.commits - commits < CLIENTS * TRANSFERS_EACH * 3 // 4
    for index in range(CLIENTS):
        assert c.get(f"/v1/accounts/user:{index}/balance").json()["posted"] == TRANSFERS_EACH


def test_writes_sent_together_go_to_one_thread_together_each_with_its_own_answer(
    inproc: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrent write requests on SQLite are gathered on the event loop and handed to one thread
    together (`Ledger.write_all`), not to a thread each (bench/ANALYSIS.md): each request still gets
    its own answer, its own refusal or rejection, and the counters count each once."""
    c, ledger = inproc.client, inproc.ledger
    ledger.create_account("@world", currency="USD", min_balance=None)
    for index in range(CLIENTS):
        ledger.create_account(f"user:{index}", currency="USD")
        ledger.transfer("@world", f"user:{index}", 100)
    holds = {
        (index, n): ledger.transfer("@world", f"user:{index}", 1, pending=True).id
        for index in range(3, CLIENTS, 4)
        for n in range(TRANSFERS_EACH)
    }
    handed: list[int] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(func: Callable[..., object], *args: object, **kwargs: object) -> object:
        if getattr(func, "func", None) == ledger.write_all:
            handed.append(len(func.args[0]))  # type: ignore[attr-defined]
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    start = threading.Barrier(CLIENTS)

    def send(index: int) -> list[tuple[int, str]]:
        start.wait()
        answers = []
        for n in range(TRANSFERS_EACH):
            kind = index % 4
            if kind == 3:
                answer = c.post(f"/v1/transfers/{holds[index, n]}/post", json={})
            else:
                destination = "nobody" if kind == 2 else f"user:{(index + 1) % CLIENTS}"
                amount = 1_000 if kind == 1 else 1
                body = {"source": f"user:{index}", "destination": destination, "amount": amount, "id": f"t{index}-{n}"}
                answer = c.post("/v1/transfers", json=body)
            answers.append((answer.status_code, answer.json().get("code") or answer.json()["status"]))
        return answers

    with ThreadPoolExecutor(CLIENTS) as pool:
        answered = list(pool.map(send, range(CLIENTS)))
    expected = {0: (201, "posted"), 1: (409, "insufficient_funds"), 2: (404, "account_not_found"), 3: (200, "posted")}
    assert answered == [[expected[index % 4]] * TRANSFERS_EACH for index in range(CLIENTS)]
    assert handed and max(handed) > 1, "concurrent writes were never handed over together"
    assert len(handed) < sum(handed) <= CLIENTS * TRANSFERS_EACH  # fewer hand-offs than writes handed
    for index in range(CLIENTS):
        moved = {0: -TRANSFERS_EACH, 1: 0, 2: 0, 3: TRANSFERS_EACH}[index % 4]
        received = TRANSFERS_EACH if (index - 1) % 4 == 0 else 0
        assert ledger.balance(f"user:{index}").posted == 100 + moved + received
    assert [t.status for t in ledger.transfers(account="user:1").transfers if t.id.startswith("t1-")] == [
        "rejected"
    ] * TRANSFERS_EACH
    metrics = c.get("/metrics").text
    assert 'tally_transfers_total{outcome="posted"} 40' in metrics
    assert 'tally_transfers_total{outcome="insufficient_funds"} 40' in metrics
    assert 'tally_transfers_total{outcome="account_not_found"} 40' in metrics
    assert ledger.verify().ok


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_plain_transfers_sent_together_each_keep_their_own_key_and_answer(
    store: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrent plain transfer requests handed to one thread together: across a network their
    keys are read in one query (`authenticate_all`) and their writes made together; on SQLite the
    writes alone are gathered. Each request still meets its own key's refusals (unknown, revoked,
    a reader, a scoped key outside its scope) and its own body's, as when sent alone."""
    url = _store_url(store, request, tmp_path)
    handed: list[int] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(func: Callable[..., object], *args: object, **kwargs: object) -> object:
        if getattr(func, "func", None) in (ledger.write_all, service._plain_writes):
            handed.append(len(func.args[0]))  # type: ignore[attr-defined]
        return await run_sync(func, *args, **kwargs)

    with tally.open(url) as ledger:
        writer, reader, scoped = _clients_accounts_and_keys(ledger)
        revoked, revoked_token = create_key(ledger, "writer")
        revoke_key(ledger, revoked.id)
        app = create_app(Settings(database_url=url, state_dir=str(tmp_path / "state"), session_secret="s"), ledger)
        cases = [  # (token, body) -> (status, code or status of the transfer)
            (writer, {"source": "user:{i}", "destination": "user:0", "amount": 1}, (201, "posted")),
            (writer, {"source": "user:{i}", "destination": "user:0", "amount": 1_000}, (409, "insufficient_funds")),
            (writer, {"source": "user:{i}", "destination": "user:0"}, (422, "validation_error")),
            (reader, {"source": "user:{i}", "destination": "user:0", "amount": 1}, (403, "forbidden")),
            (revoked_token, {"source": "user:{i}", "destination": "user:0", "amount": 1}, (401, "unauthenticated")),
            ("tly_unknown", {"source": "user:{i}", "destination": "user:0", "amount": 1}, (401, "unauthenticated")),
            (scoped, {"source": "user:{i}", "destination": "user:0", "amount": 1}, (404, "account_not_found")),
            (scoped, {"source": "user:1{i}", "destination": "user:0", "amount": 1}, (201, "posted")),
        ]
        with TestClient(app, raise_server_exceptions=False) as client:
            monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
            start = threading.Barrier(CLIENTS)

            def send(index: int) -> list[tuple[int, str]]:
                token, body, _ = cases[index % len(cases)]
                body = {
                    name: value.format(i=index % 6 + 2) if isinstance(value, str) else value
                    for name, value in body.items()
                }
                start.wait()
                answers = []
                for _ in range(TRANSFERS_EACH):
                    answer = client.post("/v1/transfers", json=body, headers={"Authorization": f"Bearer {token}"})
                    answers.append((answer.status_code, answer.json().get("code") or answer.json()["status"]))
                return answers

            with ThreadPoolExecutor(CLIENTS) as pool:
                answered = list(pool.map(send, range(CLIENTS)))
        assert answered == [[cases[index % len(cases)][2]] * TRANSFERS_EACH for index in range(CLIENTS)]
        assert handed and max(handed) > 1, "concurrent requests were never handed over together"
        assert len(handed) < sum(handed)
        posted = {index % 6 + 2 for index in range(CLIENTS) if index % len(cases) == 0}
        scoped_posted = {10 + index % 6 + 2 for index in range(CLIENTS) if index % len(cases) == 7}
        for index in range(2, CLIENTS):
            expected = 100 - TRANSFERS_EACH * ((index in posted) + (index in scoped_posted))
            assert ledger.balance(f"user:{index}").posted == expected, index
        assert ledger.verify().ok


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_posts_and_voids_sent_together_with_transfers_each_keep_their_own_key_and_answer(
    store: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain post, void and transfer requests that arrive together share a hand-off to one thread:
    across a network whole requests (`service._plain_writes`, their keys in one query), on SQLite
    their writes. Each still meets its own key's refusals, its own body's, a scoped key's read of
    the hold, and gets its own answer, as when sent alone."""
    url = _store_url(store, request, tmp_path)
    handed: list[list[str]] = []  # what each hand-off took: commands (SQLite) or routes' paths
    run_sync = anyio.to_thread.run_sync

    async def counted(func: Callable[..., object], *args: object, **kwargs: object) -> object:
        if getattr(func, "func", None) in (ledger.write_all, service._plain_writes):
            jobs = func.args[0]  # type: ignore[attr-defined]
            handed.append([type(job).__name__ if store == "sqlite" else job[0].path for job in jobs])
        return await run_sync(func, *args, **kwargs)

    with tally.open(url) as ledger:
        writer, reader, scoped = _clients_accounts_and_keys(ledger)
        kinds = [  # (token, action or "transfer", body) -> (status, code or status of the transfer)
            (writer, "transfer", {}, (201, "posted")),
            (writer, "post", {}, (200, "posted")),
            (writer, "void", {}, (200, "voided")),
            (reader, "post", {}, (403, "forbidden")),
            (scoped, "post", {"amount": 1}, (200, "posted")),  # holds of user:1x: its own money
            (scoped, "void", {}, (404, "transfer_not_found")),  # a hold it cannot see
            (writer, "post", {"amount": "1"}, (422, "validation_error")),
            (writer, "unknown", {}, (404, "transfer_not_found")),
        ]
        source = {index: f"user:{index}" for index in range(CLIENTS)}
        source.update({4: "user:10", 12: "user:11", 13: "user:5"})  # the scoped key's money, and not
        holds = {
            (index, n): ledger.transfer(source[index], "@world", 2, pending=True).id
            for index in range(CLIENTS)
            for n in range(TRANSFERS_EACH)
        }
        app = create_app(Settings(database_url=url, state_dir=str(tmp_path / "state"), session_secret="s"), ledger)
        with TestClient(app, raise_server_exceptions=False) as client:
            monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
            start = threading.Barrier(CLIENTS)

            def send(index: int) -> list[tuple[int, str]]:
                token, action, body, _ = kinds[index % len(kinds)]
                headers = {"Authorization": f"Bearer {token}"}
                start.wait()
                answers = []
                for n in range(TRANSFERS_EACH):
                    if action == "transfer":
                        transfer = {"source": f"user:{index}", "destination": "@world", "amount": 1}
                        answer = client.post("/v1/transfers", json=transfer, headers=headers)
                    else:
                        id = f"t-none-{index}-{n}" if action == "unknown" else holds[index, n]
                        verb = "void" if action == "void" else "post"
                        answer = client.post(f"/v1/transfers/{id}/{verb}", json=body, headers=headers)
                    answers.append((answer.status_code, answer.json().get("code") or answer.json()["status"]))
                return answers

            with ThreadPoolExecutor(CLIENTS) as pool:
                answered = list(pool.map(send, range(CLIENTS)))
        assert answered == [[kinds[index % len(kinds)][3]] * TRANSFERS_EACH for index in range(CLIENTS)]
        resolve = "ResolvePending" if store == "sqlite" else "/v1/transfers/{id}/post"
        assert any(len(group) > 1 and resolve in group for group in handed), "posts were never handed over together"
        assert len(handed) < sum(len(group) for group in handed)
        for (index, _), id in holds.items():
            status = {1: "posted", 2: "voided", 4: "posted"}.get(index % 8, "pending")
            hold = ledger.get_transfer(id)
            assert hold is not None and hold.status == status, (index, hold)
            assert hold.posted_amount == {1: 2, 2: 0, 4: 1}.get(index % 8), (index, hold)
        posted = {f"user:{index}": 100 for index in range(CLIENTS)}
        pending_out = dict.fromkeys(posted, 0)
        for index in range(CLIENTS):
            kind = index % 8
            posted[source[index]] -= {0: 1, 1: 2, 4: 1}.get(kind, 0) * TRANSFERS_EACH
            pending_out[source[index]] += 0 if kind in (1, 2, 4) else 2 * TRANSFERS_EACH
        for account in posted:
            balance = ledger.balance(account)
            assert (balance.posted, balance.pending_out) == (posted[account], pending_out[account]), account
        assert ledger.verify().ok


def _store_url(store: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if store == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    url: str = request.getfixturevalue("postgres_schema_url")()
    return url


def _clients_accounts_and_keys(ledger: tally.Ledger) -> tuple[str, str, str]:
    """`user:0` … `user:15` with 100 each, and the tokens of a writer, a reader and a writer
    scoped to `user:1` (user:1, user:10 … user:15)."""
    ledger.create_account("@world", currency="USD", min_balance=None)
    for index in range(CLIENTS):
        ledger.create_account(f"user:{index}", currency="USD")
        ledger.transfer("@world", f"user:{index}", 100)
    return (
        create_key(ledger, "writer")[1],
        create_key(ledger, "reader")[1],
        create_key(ledger, "writer", accounts="user:1")[1],
    )
