"""The plain form of `POST /v1/transfers` (its own route, for speed) answers exactly as the documented route.

A request with no query string and no Idempotency-Key goes to
`PlainTransferRoute`; the same request with `?dry_run=false` goes to the
FastAPI route. Every case below is sent both ways, against a real
`tally serve` on each store, and the two answers must agree: status, media
type, problem code and field, and for a created transfer every member but
the ones that differ by nature (id, seq, times).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from starlette.routing import Match

import tally
from tally.http import create_app
from tally.http.accounts import PlainBalanceRoute
from tally.http.transfers import PlainResolveRoute, PlainTransferRoute
from tally.keys import create_key
from tally.settings import Settings
from tests.http.conftest import InProcess, Served, TestClient

Ids = Callable[[str], str]
DOCUMENTED = {"dry_run": "false"}  # any query string sends a request to the FastAPI route


@dataclass(frozen=True)
class Case:
    name: str
    key: str  # which key sends it: admin, reader, scoped, none, unknown
    body: Callable[[dict[str, str]], Any]  # from the accounts' ids to the JSON body (or raw bytes)
    content_type: str = "application/json"


CASES = [
    Case("posted", "admin", lambda a: {"source": a["user"], "destination": a["shop"], "amount": 5}),
    Case("pending with reason and metadata", "admin",
         lambda a: {"source": a["user"], "destination": a["shop"], "amount": 7, "pending": True, "expires_in": 60,
                    "reason": "hold", "metadata": {"order": "A-1"}}),
    Case("insufficient funds", "admin", lambda a: {"source": a["user"], "destination": a["shop"], "amount": 10**9}),
    Case("same account", "admin", lambda a: {"source": a["user"], "destination": a["user"], "amount": 1}),
    Case("unknown destination", "admin", lambda a: {"source": a["user"], "destination": a["none"], "amount": 1}),
    Case("unknown field", "admin", lambda a: {"source": a["user"], "destination": a["shop"], "amount": 1, "x": 1}),
    Case("amount as float", "admin", lambda a: {"source": a["user"], "destination": a["shop"], "amount": 1.0}),
    Case("amount as string", "admin", lambda a: {"source": a["user"], "destination": a["shop"], "amount": "1"}),
    Case("amount zero", "admin", lambda a: {"source": a["user"], "destination": a["shop"], "amount": 0}),
    Case("missing destination", "admin", lambda a: {"source": a["user"], "amount": 1}),
    Case("expires_in without pending", "admin",
         lambda a: {"source": a["user"], "destination": a["shop"], "amount": 1, "expires_in": 5}),
    Case("duplicate key", "admin", lambda a: f'{{"source":"{a["user"]}","source":"x","amount":1}}'.encode()),
    Case("not JSON", "admin", lambda a: b"{source: 1"),
    Case("a list, not an object", "admin", lambda a: b"[1, 2]"),
    Case("empty body", "admin", lambda a: b""),
    Case("NaN", "admin", lambda a: f'{{"source":"{a["user"]}","destination":"{a["shop"]}","amount":NaN}}'.encode()),
    Case("text/plain", "admin", lambda a: b'{"amount": 1}', content_type="text/plain"),
    Case("no key", "none", lambda a: {"source": a["user"], "destination": a["shop"], "amount": 1}),
    Case("unknown key, bad body", "unknown", lambda a: b"{not json"),
    Case("reader key", "reader", lambda a: {"source": a["user"], "destination": a["shop"], "amount": 1}),
    Case("scoped, source outside", "scoped", lambda a: {"source": a["shop"], "destination": a["user"], "amount": 1}),
    Case("scoped, source inside", "scoped", lambda a: {"source": a["user"], "destination": a["shop"], "amount": 1}),
]  # fmt: skip

VARYING = {"id", "seq", "created_at", "expires_at"}


def _send(client: httpx.Client, case: Case, accounts: dict[str, str], params: dict[str, str]) -> httpx.Response:
    body = case.body(accounts)
    content = body if isinstance(body, bytes) else httpx.Request("POST", "/", json=body).content
    return client.post("/v1/transfers", content=content, params=params, headers={"Content-Type": case.content_type})


def _comparable(response: httpx.Response) -> tuple[Any, ...]:
    media = response.headers.get("content-type", "").split(";")[0]
    if response.status_code in (200, 201):
        return response.status_code, media, {k: v for k, v in response.json().items() if k not in VARYING}
    problem = response.json()
    transfer = problem.get("transfer")
    if isinstance(transfer, dict):
        transfer = {k: v for k, v in transfer.items() if k not in VARYING}
    return response.status_code, media, problem.get("code"), problem.get("field"), transfer


@pytest.fixture
def setup(served: Served, ids: Ids) -> tuple[dict[str, httpx.Client], dict[str, str]]:
    admin = served.client(served.admin)
    accounts = {name: ids(name) for name in ("world", "user", "shop", "none")}
    assert admin.post("/v1/accounts", json={"id": accounts["world"], "currency": "USD", "min_balance": None}).is_success
    for name in ("user", "shop"):
        assert admin.post("/v1/accounts", json={"id": accounts[name], "currency": "USD"}).status_code == 201
    fund = {"source": accounts["world"], "destination": accounts["user"], "amount": 1_000}
    assert admin.post("/v1/transfers", json=fund, params=DOCUMENTED).status_code == 201
    clients = {
        "admin": admin,
        "reader": served.client(served.key("reader")),
        "scoped": served.client(served.key("writer", accounts=accounts["user"])),
        "none": served.client(),
        "unknown": served.client("tly_" + "0" * 40),
    }
    return clients, accounts


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_the_plain_route_answers_as_the_documented_route(
    setup: tuple[dict[str, httpx.Client], dict[str, str]], case: Case
) -> None:
    clients, accounts = setup
    client = clients[case.key]
    plain = _send(client, case, accounts, {})
    documented = _send(client, case, accounts, DOCUMENTED)
    assert _comparable(plain) == _comparable(documented), (plain.text, documented.text)
    assert plain.headers.get("x-request-id") and documented.headers.get("x-request-id")


def test_a_plain_request_is_idempotent_by_its_body_id(setup: tuple[dict[str, httpx.Client], dict[str, str]]) -> None:
    clients, accounts = setup
    body = {"id": accounts["user"] + "-t1", "source": accounts["user"], "destination": accounts["shop"], "amount": 3}
    first = clients["admin"].post("/v1/transfers", json=body)
    again = clients["admin"].post("/v1/transfers", json=body)
    documented = clients["admin"].post("/v1/transfers", json=body, params=DOCUMENTED)
    assert (first.status_code, again.status_code, documented.status_code) == (201, 200, 200)
    assert first.json() == again.json() == documented.json()
    other = clients["admin"].post("/v1/transfers", json={**body, "amount": 4})
    assert other.status_code == 409 and other.json()["code"] == "id_conflict"


def _scope(method: str = "POST", query: bytes = b"", **headers: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": "/v1/transfers",
        "root_path": "",
        "query_string": query,
        "headers": [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()],
    }


def test_only_the_plain_form_takes_the_plain_route(inproc: InProcess) -> None:
    """So that the comparison above compares two routes, not one with itself."""
    route = inproc.client.app.router.routes[0]  # type: ignore[attr-defined]
    assert isinstance(route, PlainTransferRoute)
    assert route.matches(_scope(content_length="40"))[0] is Match.FULL
    assert route.matches(_scope(query=b"dry_run=false", content_length="40"))[0] is Match.NONE
    assert route.matches(_scope(content_length="40", idempotency_key="k1"))[0] is Match.NONE
    assert route.matches(_scope())[0] is Match.NONE  # chunked: the documented route reads it
    # Over the limit, a plain request never reaches a route: the body limit answers first.
    limit = inproc.client.app.state.tally.settings.body_bytes_max  # type: ignore[attr-defined]
    over = inproc.client.post("/v1/transfers", content=b" " * (limit + 1), headers={"Content-Type": "application/json"})
    assert over.status_code == 413 and over.json()["code"] == "payload_too_large"
    assert route.matches(_scope("GET"))[0] is Match.NONE  # listing transfers


def test_the_plain_route_is_counted_and_logged_under_the_route_template(inproc: InProcess) -> None:
    inproc.ledger.create_account("@world", currency="USD", min_balance=None)
    inproc.ledger.create_account("user:1", currency="USD")
    body = {"source": "@world", "destination": "user:1", "amount": 1}
    assert inproc.client.post("/v1/transfers", json=body).status_code == 201
    metrics = inproc.client.get("/metrics").text
    assert 'tally_http_requests_total{method="POST",route="/v1/transfers",status="201"} 1.0' in metrics


def _store_url(store: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if store == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    url: str = request.getfixturevalue("postgres_schema_url")()
    return url


def _tokens(ledger: tally.Ledger) -> dict[str, str]:
    """A token of each kind the cases name (none: no token at all)."""
    return {
        "admin": create_key(ledger, "admin")[1],
        "reader": create_key(ledger, "reader")[1],
        "scoped": create_key(ledger, "writer", accounts="user:1")[1],
        "unknown": "tly_" + "0" * 40,
    }


def _apps(url: str, ledger: tally.Ledger, tmp_path: Path, plain: type) -> tuple[Any, Any]:
    """Two apps on `ledger`: one as served, one without its routes of type `plain`."""
    settings = Settings(database_url=url, state_dir=str(tmp_path / "state"), session_secret="s")
    plain_app, documented_app = create_app(settings, ledger), create_app(settings, ledger)
    assert any(isinstance(route, plain) for route in plain_app.router.routes)
    documented_app.router.routes[:] = [r for r in documented_app.router.routes if not isinstance(r, plain)]
    return plain_app, documented_app


BALANCE_CASES = [
    ("an account", "admin", "user:1"),
    ("an account with a hold", "admin", "user:2"),
    ("an unknown account", "admin", "user:9"),
    ("an id too long", "admin", "u" * 300),
    ("an id with a space", "admin", "user 1"),
    ("no key", "none", "user:1"),
    ("an unknown key", "unknown", "user:1"),
    ("a reader key", "reader", "user:1"),
    ("a scoped key, its account", "scoped", "user:1"),
    ("a scoped key, another account", "scoped", "user:2"),
]


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_plain_balance_route_answers_as_the_documented_route(
    store: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """`GET /v1/accounts/{id}/balance` without a query string takes `PlainBalanceRoute`: each case
    is sent to an app with it and to one without it, and the answers must be the same."""
    url = _store_url(store, request, tmp_path)
    with tally.open(url) as ledger:
        ledger.create_account("@world", currency="USD", min_balance=None)
        for account in ("user:1", "user:2"):
            ledger.create_account(account, currency="USD")
            ledger.transfer("@world", account, 100)
        ledger.transfer("user:2", "@world", 30, pending=True)
        tokens = _tokens(ledger)
        plain_app, documented_app = _apps(url, ledger, tmp_path, PlainBalanceRoute)
        with TestClient(plain_app) as plain, TestClient(documented_app) as documented:
            answers = {}
            for name, key, account in BALANCE_CASES:
                headers = {"Authorization": f"Bearer {tokens[key]}"} if key in tokens else {}
                path = f"/v1/accounts/{quote(account)}/balance"
                one, other = plain.get(path, headers=headers), documented.get(path, headers=headers)
                assert (one.status_code, one.headers["content-type"], one.json()) == (
                    other.status_code, other.headers["content-type"], other.json()
                ), name  # fmt: skip
                answers[name] = one.status_code
            metrics = plain.get("/metrics", headers={"Authorization": f"Bearer {tokens['admin']}"}).text
    assert answers == {
        "an account": 200, "an account with a hold": 200, "an unknown account": 404, "an id too long": 422,
        "an id with a space": 422, "no key": 401, "an unknown key": 401, "a reader key": 200,
        "a scoped key, its account": 200, "a scoped key, another account": 404,
    }  # fmt: skip
    # Counted under the route's template, as the documented route is, never under a path with an id.
    for status, count in (("200", 4), ("401", 2), ("404", 2), ("422", 2)):
        line = f'tally_http_requests_total{{method="GET",route="/v1/accounts/{{id}}/balance",status="{status}"}}'
        assert f"{line} {count}.0" in metrics
    assert "user:1" not in metrics


def test_only_a_plain_balance_read_takes_the_plain_balance_route() -> None:
    route = PlainBalanceRoute()

    def scope(method: str = "GET", query: bytes = b"", path: str = "/v1/accounts/user:1/balance") -> dict[str, Any]:
        return {**_scope(method, query), "path": path}

    assert route.matches(scope())[0] is Match.FULL
    assert route.matches(scope(query=b"as_of=3"))[0] is Match.NONE
    assert route.matches(scope(query=b"typo=1"))[0] is Match.NONE  # refused as unknown by the documented route
    assert route.matches(scope("HEAD"))[0] is Match.NONE
    assert route.matches(scope("POST"))[0] is Match.NONE
    assert route.matches(scope(path="/v1/accounts/user:1/entries"))[0] is Match.NONE


@dataclass(frozen=True)
class ResolveCase:
    name: str
    key: str  # admin, reader, scoped (user:1's money), none, unknown
    action: str  # post or void
    hold: str  # what the id names: see `_holds`
    body: bytes = b""
    content_type: str = "application/json"


RESOLVE_CASES = [
    ResolveCase("post, no body", "admin", "post", "user:1"),
    ResolveCase("post, {}", "admin", "post", "user:1", b"{}"),
    ResolveCase("post part", "admin", "post", "user:1", b'{"amount": 3}'),
    ResolveCase("post over the hold", "admin", "post", "user:1", b'{"amount": 50}'),
    ResolveCase("post amount zero", "admin", "post", "user:1", b'{"amount": 0}'),
    ResolveCase("post amount as string", "admin", "post", "user:1", b'{"amount": "3"}'),
    ResolveCase("post unknown field", "admin", "post", "user:1", b'{"amount": 3, "x": 1}'),
    ResolveCase("post, not JSON", "admin", "post", "user:1", b"{amount"),
    ResolveCase("post, a list", "admin", "post", "user:1", b"[1]"),
    ResolveCase("post, duplicate key", "admin", "post", "user:1", b'{"amount": 1, "amount": 2}'),
    ResolveCase("post, text/plain", "admin", "post", "user:1", b'{"amount": 3}', "text/plain"),
    ResolveCase("post, blank text/plain", "admin", "post", "user:1", b"  ", "text/plain"),
    ResolveCase("post a posted hold again", "admin", "post", "posted"),  # a replay of its post: 200
    ResolveCase("post a posted hold for part", "admin", "post", "posted", b'{"amount": 1}'),
    ResolveCase("post a voided hold", "admin", "post", "voided"),
    ResolveCase("post a hold come due", "admin", "post", "due"),
    ResolveCase("post a plain transfer", "admin", "post", "plain"),
    ResolveCase("post an unknown id", "admin", "post", "unknown"),
    ResolveCase("post an id with a space", "admin", "post", "a b"),
    ResolveCase("void", "admin", "void", "user:1"),
    ResolveCase("void, {}", "admin", "void", "user:1", b"{}"),
    ResolveCase("void with an amount", "admin", "void", "user:1", b'{"amount": 3}'),
    ResolveCase("void a posted hold", "admin", "void", "posted"),
    ResolveCase("void a hold come due", "admin", "void", "due"),
    ResolveCase("void an unknown id", "admin", "void", "unknown"),
    ResolveCase("no key", "none", "post", "user:1"),
    ResolveCase("unknown key, bad body", "unknown", "void", "user:1", b"{not json"),
    ResolveCase("reader key", "reader", "void", "user:1"),
    ResolveCase("scoped, its own hold", "scoped", "post", "user:1"),
    ResolveCase("scoped, its own hold, bad body", "scoped", "post", "user:1", b'{"amount": -1}'),
    ResolveCase("scoped, another's hold", "scoped", "void", "user:2"),
    ResolveCase("scoped, an unknown id", "scoped", "post", "unknown"),
]


def _holds(ledger: tally.Ledger) -> dict[str, str]:
    """A hold of each kind a case names, by kind: a fresh one per request."""
    user_1 = ledger.transfer("user:1", "user:2", 10, pending=True)
    posted = ledger.transfer("user:1", "user:2", 10, pending=True)
    ledger.post(posted.id)
    voided = ledger.transfer("user:1", "user:2", 10, pending=True)
    ledger.void(voided.id)
    return {
        "user:1": user_1.id,
        "user:2": ledger.transfer("user:2", "user:1", 10, pending=True).id,
        "posted": posted.id,
        "voided": voided.id,
        "due": ledger.transfer("user:1", "user:2", 10, pending=True, expires_in=60).id,
        "plain": ledger.transfer("user:1", "user:2", 1).id,
        "unknown": "t-unknown",
        "a b": "a b",
    }


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_plain_post_and_void_routes_answer_as_the_documented_routes(
    store: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """`POST /v1/transfers/{id}/post` and `/void` with a Content-Length and no query string take
    `PlainResolveRoute`: each case is sent to an app with it and to one without it, each app with
    holds of its own, and the answers must be the same but for ids and times."""
    url = _store_url(store, request, tmp_path)
    now = [1_900_000_000.0]
    with tally.open(url, clock=lambda: now[0]) as ledger:
        ledger.create_account("@world", currency="USD", min_balance=None)
        for account in ("user:1", "user:2"):
            ledger.create_account(account, currency="USD")
            ledger.transfer("@world", account, 10_000)
        holds = {(case.name, app): _holds(ledger)[case.hold] for case in RESOLVE_CASES for app in ("plain", "doc")}
        now[0] += 61  # the holds that expire in 60 s come due
        tokens = _tokens(ledger)
        plain_app, documented_app = _apps(url, ledger, tmp_path, PlainResolveRoute)
        assert sum(isinstance(route, PlainResolveRoute) for route in plain_app.router.routes) == 2
        answers = {}
        with TestClient(plain_app) as plain, TestClient(documented_app) as documented:
            for case in RESOLVE_CASES:
                headers = {"Content-Type": case.content_type}
                if case.key in tokens:
                    headers["Authorization"] = f"Bearer {tokens[case.key]}"
                sent = {
                    app: client.post(
                        f"/v1/transfers/{quote(holds[case.name, app])}/{case.action}",
                        content=case.body,
                        headers=headers,
                    )
                    for app, client in (("plain", plain), ("doc", documented))
                }
                one, other = (_comparable(sent[app]) for app in ("plain", "doc"))
                assert one == other, (case.name, sent["plain"].text, sent["doc"].text)
                assert sent["plain"].headers["content-length"] == str(len(sent["plain"].content))
                answers[case.name] = (sent["plain"].status_code, sent["plain"].json().get("code"))
            metrics = plain.get("/metrics", headers={"Authorization": f"Bearer {tokens['admin']}"}).text
        assert ledger.verify().ok
    assert answers == {
        "post, no body": (200, None), "post, {}": (200, None), "post part": (200, None),
        "post over the hold": (409, "exceeds_pending_amount"), "post amount zero": (422, "validation_error"),
        "post amount as string": (422, "validation_error"), "post unknown field": (422, "validation_error"),
        "post, not JSON": (422, "validation_error"), "post, a list": (422, "validation_error"),
        "post, duplicate key": (422, "validation_error"),
        "post, text/plain": (415, "unsupported_media_type"), "post, blank text/plain": (200, None),
        "post a posted hold again": (200, None), "post a posted hold for part": (409, "transfer_not_pending"),
        "post a voided hold": (409, "transfer_not_pending"),
        "post a hold come due": (409, "pending_expired"), "post a plain transfer": (409, "transfer_not_pending"),
        "post an unknown id": (404, "transfer_not_found"), "post an id with a space": (422, "validation_error"),
        "void": (200, None), "void, {}": (200, None), "void with an amount": (422, "validation_error"),
        "void a posted hold": (409, "transfer_not_pending"), "void a hold come due": (409, "pending_expired"),
        "void an unknown id": (404, "transfer_not_found"),
        "no key": (401, "unauthenticated"), "unknown key, bad body": (401, "unauthenticated"),
        "reader key": (403, "forbidden"), "scoped, its own hold": (200, None),
        "scoped, its own hold, bad body": (422, "validation_error"),
        "scoped, another's hold": (404, "account_not_found"), "scoped, an unknown id": (404, "transfer_not_found"),
    }  # fmt: skip
    # Counted under the routes' templates, never under a path with an id in it.
    for action, status, count in (("post", "200", 6), ("void", "200", 2), ("post", "409", 5), ("void", "409", 2)):
        line = f'tally_http_requests_total{{method="POST",route="/v1/transfers/{{id}}/{action}",status="{status}"}}'
        assert f"{line} {count}.0" in metrics
    assert "t-unknown" not in metrics


def test_only_a_plain_post_or_void_takes_the_plain_resolve_routes() -> None:
    post, void = PlainResolveRoute("post"), PlainResolveRoute("void")

    def scope(method: str = "POST", query: bytes = b"", path: str = "/v1/transfers/t1/post", **headers: str) -> Any:
        return {**_scope(method, query, **headers), "path": path}

    assert post.matches(scope(content_length="0"))[0] is Match.FULL
    assert post.matches(scope(content_length="0"))[1]["path_params"] == {"id": "t1"}
    assert void.matches(scope(content_length="2", path="/v1/transfers/t1/void"))[0] is Match.FULL
    assert void.matches(scope(content_length="0"))[0] is Match.NONE  # the other action
    assert post.matches(scope())[0] is Match.NONE  # chunked: the documented route reads it
    assert post.matches(scope(query=b"x=1", content_length="0"))[0] is Match.NONE  # refused as unknown there
    assert post.matches(scope("GET", content_length="0"))[0] is Match.NONE
    assert post.matches(scope(content_length="0", path="/v1/transfers/t1/reverse"))[0] is Match.NONE
    assert post.matches(scope(content_length="0", path="/v1/transfers/a/b/post"))[0] is Match.NONE
