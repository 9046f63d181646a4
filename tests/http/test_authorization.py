"""The authorization matrix: every endpoint x every role and scope x in-scope and out-of-scope ids.

A scoped key (made with `accounts=PREFIX`) sees and moves only accounts whose
id starts with PREFIX: anything else answers 404 exactly as a missing account
or transfer would. Readers only read; keys, currencies and the audit head are
for unscoped admins.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.http.conftest import InProcess, assert_problem, make_inproc

PREFIX = "user:7"
KEYS = {
    "admin": ("admin", None),
    "staff": ("staff", None),
    "writer": ("writer", None),
    "reader": ("reader", None),
    "scoped admin": ("admin", PREFIX),
    "scoped staff": ("staff", PREFIX),
    "scoped writer": ("writer", PREFIX),
    "scoped reader": ("reader", PREFIX),
    "no key": None,
}
WRITE_ROLES = {"admin", "staff", "writer"}


@dataclass
class World:
    """Fresh accounts and transfers for one request: `inside` the scope and `outside` it."""

    inside: str
    outside: str
    other: str
    hold_inside: str  # inside -> outside, pending
    hold_outside: str  # outside -> other, pending
    paid_to_inside: str  # other -> inside: reversing it takes money out of `inside`
    paid_outside: str  # outside -> other


def build_world(app: InProcess) -> World:
    tag = uuid.uuid4().hex[:8]
    api = app.client
    world, inside, outside, other = f"@world:{tag}", f"{PREFIX}:{tag}", f"out:{tag}", f"other:{tag}"
    api.post("/v1/accounts", json={"id": world, "currency": "USD", "min_balance": None})
    for id in (inside, outside, other):
        api.post("/v1/accounts", json={"id": id, "currency": "USD"})
        api.post("/v1/transfers", json={"source": world, "destination": id, "amount": 1000})

    def move(source: str, destination: str, pending: bool) -> str:
        body = {"source": source, "destination": destination, "amount": 10, "pending": pending}
        response = api.post("/v1/transfers", json=body)
        assert response.status_code == 201, response.text
        id: str = response.json()["id"]
        return id

    holds = move(inside, outside, True), move(outside, other, True)
    return World(inside, outside, other, *holds, move(other, inside, False), move(outside, other, False))


Request = tuple[str, str, dict[str, Any] | None]


@dataclass(frozen=True)
class Endpoint:
    name: str
    kind: str  # read, write, admin
    make: Callable[[World, bool], Request]  # (world, in_scope) -> method, path, body


def account(w: World, inside: bool) -> str:
    return w.inside if inside else w.outside


def fresh(inside: bool) -> str:
    return f"{PREFIX}:new{uuid.uuid4().hex[:8]}" if inside else f"out:new{uuid.uuid4().hex[:8]}"


ENDPOINTS = [
    Endpoint("create account", "write", lambda w, i: ("POST", "/v1/accounts", {"id": fresh(i), "currency": "USD"})),
    Endpoint("list accounts", "read", lambda w, i: ("GET", f"/v1/accounts?prefix={account(w, i)}", None)),
    Endpoint("get account", "read", lambda w, i: ("GET", f"/v1/accounts/{account(w, i)}", None)),
    Endpoint("patch account", "write", lambda w, i: ("PATCH", f"/v1/accounts/{account(w, i)}", {"max_balance": 10**6})),
    Endpoint("freeze", "write", lambda w, i: ("POST", f"/v1/accounts/{account(w, i)}/freeze", {})),
    Endpoint("unfreeze", "write", lambda w, i: ("POST", f"/v1/accounts/{account(w, i)}/unfreeze", {})),
    Endpoint("close", "write", lambda w, i: ("POST", f"/v1/accounts/{account(w, i)}/close", {})),
    Endpoint("balance", "read", lambda w, i: ("GET", f"/v1/accounts/{account(w, i)}/balance", None)),
    Endpoint("entries", "read", lambda w, i: ("GET", f"/v1/accounts/{account(w, i)}/entries", None)),
    Endpoint(
        "transfer",
        "write",
        lambda w, i: ("POST", "/v1/transfers", {"source": account(w, i), "destination": w.other, "amount": 1}),
    ),
    Endpoint(
        "batch",
        "write",
        lambda w, i: (
            "POST",
            "/v1/transfers/batch",
            {"transfers": [{"source": account(w, i), "destination": w.other, "amount": 1}]},
        ),
    ),
    Endpoint(
        "get transfer", "read", lambda w, i: ("GET", f"/v1/transfers/{w.hold_inside if i else w.hold_outside}", None)
    ),
    Endpoint("list transfers", "read", lambda w, i: ("GET", f"/v1/transfers?account={account(w, i)}", None)),
    Endpoint(
        "post", "write", lambda w, i: ("POST", f"/v1/transfers/{w.hold_inside if i else w.hold_outside}/post", {})
    ),
    Endpoint(
        "void", "write", lambda w, i: ("POST", f"/v1/transfers/{w.hold_inside if i else w.hold_outside}/void", {})
    ),
    Endpoint(
        "reverse",
        "write",
        lambda w, i: ("POST", f"/v1/transfers/{w.paid_to_inside if i else w.paid_outside}/reverse", {}),
    ),
    Endpoint("events", "read", lambda w, i: ("GET", "/v1/events", None)),
    Endpoint("audit head", "admin", lambda w, i: ("GET", "/v1/audit/head", None)),
    Endpoint("create key", "admin", lambda w, i: ("POST", "/v1/keys", {"role": "reader"})),
    Endpoint("list keys", "admin", lambda w, i: ("GET", "/v1/keys", None)),
    Endpoint("revoke key", "admin", lambda w, i: ("DELETE", "/v1/keys/{victim}", None)),
    Endpoint("register currency", "admin", lambda w, i: ("POST", "/v1/currencies", {"code": "GEMS", "scale": 0})),
]


def expected(endpoint: Endpoint, key: str, inside: bool) -> tuple[int, str] | None:
    """None for success, else the (status, code) the request must get."""
    spec = KEYS[key]
    if spec is None:
        return 401, "unauthenticated"
    role, scope = spec
    if endpoint.kind == "admin":
        return None if role == "admin" and scope is None else (403, "forbidden")
    if endpoint.kind == "write" and role not in WRITE_ROLES:
        return 403, "forbidden"
    if scope is None or inside or endpoint.name in ("events", "list accounts"):
        if scope is not None and endpoint.name == "unfreeze":
            return 403, "forbidden"  # a scoped key may not lift a freeze
        return None
    if endpoint.name in ("get transfer", "post", "void", "reverse"):
        return 404, "transfer_not_found"
    return 404, "account_not_found"


CASES = [
    pytest.param(endpoint, key, inside, id=f"{endpoint.name}-{key}-{'in' if inside else 'out'}")
    for endpoint, key, inside in itertools.product(ENDPOINTS, KEYS, (True, False))
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    yield from make_inproc(Path(tmp_path_factory.mktemp("authz")))


@pytest.fixture(scope="module")
def tokens(app: InProcess) -> dict[str, str]:
    return {name: app.key(*spec) for name, spec in KEYS.items() if spec is not None}


@pytest.mark.parametrize(("endpoint", "key", "inside"), CASES)
def test_authorization_matrix(app: InProcess, tokens: dict[str, str], endpoint: Endpoint, key: str,
                              inside: bool) -> None:  # fmt: skip
    world = build_world(app)
    if endpoint.name == "unfreeze":
        app.client.post(f"/v1/accounts/{account(world, inside)}/freeze")
    if endpoint.name == "close":
        empty(app, world, account(world, inside))
    method, path, body = endpoint.make(world, inside)
    if "{victim}" in path:
        app.key("reader")
        path = path.replace("{victim}", _victim(app))
    headers = {"Authorization": f"Bearer {tokens[key]}"} if key in tokens else {"Authorization": ""}
    response = app.client.request(method, path, json=body, headers=headers)
    outcome = expected(endpoint, key, inside)
    if outcome is None:
        assert response.status_code in (200, 201), response.text
    else:
        problem = assert_problem(response, *outcome)
        assert set(problem) <= {"type", "title", "status", "detail", "code", "field"}, "no data leaks out of scope"


def empty(app: InProcess, world: World, id: str) -> None:
    """Release its hold and send all it holds elsewhere, so that it may close."""
    for hold in (world.hold_inside, world.hold_outside):
        assert app.client.post(f"/v1/transfers/{hold}/void").status_code == 200
    posted = app.client.get(f"/v1/accounts/{id}/balance").json()["posted"]
    drained = {"source": id, "destination": world.other, "amount": posted}
    assert app.client.post("/v1/transfers", json=drained).status_code == 201


def _victim(app: InProcess) -> str:
    listed = app.client.get("/v1/keys").json()["keys"]
    return str(next(k["id"] for k in reversed(listed) if k["revoked_at"] is None and k["role"] == "reader"))


def test_scoped_key_sees_only_events_touching_its_accounts(app: InProcess, tokens: dict[str, str]) -> None:
    start = app.client.get("/v1/audit/head").json()["seq"]
    world = build_world(app)
    app.client.post(f"/v1/transfers/{world.hold_inside}/void")
    app.client.post(f"/v1/transfers/{world.hold_outside}/void")
    headers = {"Authorization": f"Bearer {tokens['scoped reader']}"}
    events = app.client.get("/v1/events", params={"after": start}, headers=headers).json()["events"]
    everything = app.client.get("/v1/events", params={"after": start}).json()["events"]
    assert 0 < len(events) < len(everything)
    for event in events:
        data = event["data"]
        if event["type"].startswith("pending_"):
            transfer = app.client.get(f"/v1/transfers/{data['id']}").json()
            parties = [transfer["source"], transfer["destination"]]
        elif event["type"].startswith("transfer_"):
            parties = [data["transfer"]["source"], data["transfer"]["destination"]]
        else:
            parties = [data["id"]]
        assert any(p.startswith(PREFIX) for p in parties), event
    assert any(e["type"] == "pending_voided" and e["data"]["id"] == world.hold_inside for e in events)
    assert not any(e["type"] == "pending_voided" and e["data"]["id"] == world.hold_outside for e in events)


def test_scoped_key_lists_only_transfers_touching_its_accounts(app: InProcess, tokens: dict[str, str]) -> None:
    build_world(app)
    headers = {"Authorization": f"Bearer {tokens['scoped reader']}"}
    listed = app.client.get("/v1/transfers", params={"limit": 1000}, headers=headers).json()["transfers"]
    assert listed and all(t["source"].startswith(PREFIX) or t["destination"].startswith(PREFIX) for t in listed)
    accounts = app.client.get("/v1/accounts", params={"limit": 1000}, headers=headers).json()["accounts"]
    assert accounts and all(a["id"].startswith(PREFIX) for a in accounts)


@pytest.mark.parametrize("field", ["min_balance", "clearing_seconds"])
def test_scoped_writer_may_not_loosen_its_own_limits(app: InProcess, tokens: dict[str, str], field: str) -> None:
    world = build_world(app)
    headers = {"Authorization": f"Bearer {tokens['scoped writer']}"}
    value = -(10**9) if field == "min_balance" else 60
    response = app.client.patch(f"/v1/accounts/{world.inside}", json={field: value}, headers=headers)
    assert_problem(response, 403, "forbidden", field)


def test_scoped_writer_may_not_open_an_account_that_goes_negative(app: InProcess, tokens: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {tokens['scoped writer']}"}
    body = {"id": f"{PREFIX}:credit", "currency": "USD", "min_balance": None}
    assert_problem(app.client.post("/v1/accounts", json=body, headers=headers), 403, "forbidden", "min_balance")


def test_scoped_writer_may_not_post_a_hold_paid_into_its_account(app: InProcess, tokens: dict[str, str]) -> None:
    """Posting a deposit that is still clearing would let a user spend uncleared money."""
    world = build_world(app)
    hold = app.client.post("/v1/transfers", json={"source": world.other, "destination": world.inside, "amount": 5,
                                                  "pending": True}).json()  # fmt: skip
    headers = {"Authorization": f"Bearer {tokens['scoped writer']}"}
    assert app.client.get(f"/v1/transfers/{hold['id']}", headers=headers).status_code == 200
    assert_problem(app.client.post(f"/v1/transfers/{hold['id']}/post", headers=headers), 404, "account_not_found")
