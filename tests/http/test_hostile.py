"""Hostile requests: each gets a 4xx problem+json with the right code, and changes nothing.

Every row is sent to a real `tally serve` (SQLite and PostgreSQL); afterwards
the balances of the accounts it aimed at and the head of the audit chain are
exactly what they were.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.http.conftest import Served, assert_problem

MIB = 1024 * 1024
RUN = uuid.uuid4().hex[:8]
WORLD, USER, SHOP, HOLD, PAID = f"@world:{RUN}", f"user:{RUN}", f"shop:{RUN}", f"hold:{RUN}", f"paid:{RUN}"
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Attack:
    name: str
    method: str
    path: str
    body: str | bytes | None = None  # raw text: the attack is often in the JSON itself
    status: int = 422
    code: str = "validation_error"
    field: str | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=lambda: dict(JSON))
    token: str = "admin"  # admin, reader, none, bad
    params: dict[str, str] = dataclasses.field(default_factory=dict)
    chunked: bool = False


def transfer(amount: str = "10", /, **extra: str) -> str:
    """A transfer body with `amount` as raw JSON text and extra raw members."""
    members = [f'"source": "{USER}"', f'"destination": "{SHOP}"', f'"amount": {amount}']
    members += [f'"{name}": {value}' for name, value in extra.items()]
    return "{" + ", ".join(members) + "}"


def batch_of(*items: str, atomic: str = "true") -> str:
    return '{"atomic": ' + atomic + ', "transfers": [' + ", ".join(items) + "]}"


BIG_METADATA = json.dumps({"k": "x" * 5000})
T = "/v1/transfers"

ATTACKS = [
    Attack("amount float", "POST", T, transfer("1.0"), field="amount"),
    Attack("amount exponent", "POST", T, transfer("1e2"), field="amount"),
    Attack("amount exponent float", "POST", T, transfer("1.0e0"), field="amount"),
    Attack("amount string", "POST", T, transfer('"100"'), field="amount"),
    Attack("amount true", "POST", T, transfer("true"), field="amount"),
    Attack("amount false", "POST", T, transfer("false"), field="amount"),
    Attack("amount NaN", "POST", T, transfer("NaN")),
    Attack("amount Infinity", "POST", T, transfer("Infinity")),
    Attack("amount -Infinity", "POST", T, transfer("-Infinity")),
    Attack("amount 2^63", "POST", T, transfer(str(2**63)), field="amount"),
    Attack("amount 400 digits", "POST", T, transfer("9" * 400), field="amount"),
    Attack("amount 10000 digits", "POST", T, transfer("9" * 10_000), field="amount"),
    Attack("amount zero", "POST", T, transfer("0"), field="amount"),
    Attack("amount negative", "POST", T, transfer("-5"), field="amount"),
    Attack("amount null", "POST", T, transfer("null"), field="amount"),
    Attack("amount list", "POST", T, transfer("[1]"), field="amount"),
    Attack("amount object", "POST", T, transfer('{"v": 1}'), field="amount"),
    Attack("amount missing", "POST", T, f'{{"source": "{USER}", "destination": "{SHOP}"}}', field="amount"),
    Attack("duplicate amount", "POST", T, transfer("1", amount="1000"), field="amount"),
    Attack("duplicate source", "POST", T, transfer("1", source=f'"{WORLD}"'), field="source"),
    Attack("mass-assign balance", "POST", T, transfer("1", balance="1000000"), field="balance"),
    Attack("mass-assign status", "POST", T, transfer("1", status='"posted"'), field="status"),
    Attack("mass-assign seq", "POST", T, transfer("1", seq="1"), field="seq"),
    Attack("id too long", "POST", T, transfer("1", id=json.dumps("x" * 129)), field="id"),
    Attack("id with space", "POST", T, transfer("1", id='"a b"'), field="id"),
    Attack("id unicode", "POST", T, transfer("1", id='"caf\\u00e9"'), field="id"),
    Attack("id empty", "POST", T, transfer("1", id='""'), field="id"),
    Attack("id number", "POST", T, transfer("1", id="42"), field="id"),
    Attack(
        "source with slash", "POST", T, f'{{"source": "a/b", "destination": "{SHOP}", "amount": 1}}', field="source"
    ),
    Attack("reason too long", "POST", T, transfer("1", reason=json.dumps("r" * 501)), field="reason"),
    Attack("reason with NUL", "POST", T, transfer("1", reason='"a\\u0000b"'), field="reason"),
    Attack("reason lone surrogate", "POST", T, transfer("1", reason='"\\ud800"'), field="reason"),
    Attack("metadata key lone surrogate", "POST", T, transfer("1", metadata='{"\\udfff": 1}'), field="metadata"),
    Attack("metadata list", "POST", T, transfer("1", metadata="[1, 2]"), field="metadata"),
    Attack("metadata over 4 KiB", "POST", T, transfer("1", metadata=BIG_METADATA), field="metadata"),
    Attack("metadata huge integer", "POST", T, transfer("1", metadata='{"n": ' + "9" * 100 + "}"), field="metadata"),
    # Parsed, but past the JSON encoders' recursion (it answered 503) or past the 64 levels allowed.
    Attack(
        "metadata nests 950 deep",
        "POST",
        T,
        transfer("1", metadata='{"x": ' + "[" * 949 + "]" * 949 + "}"),
        field="metadata",
    ),
    Attack(
        "metadata nests 65 deep",
        "POST",
        T,
        transfer("1", metadata='{"x": ' + "[" * 64 + "]" * 64 + "}"),
        field="metadata",
    ),
    Attack("pending string", "POST", T, transfer("1", pending='"yes"'), field="pending"),
    Attack("expires_in zero", "POST", T, transfer("1", pending="true", expires_in="0"), field="expires_in"),
    Attack(
        "expires_in over a year", "POST", T, transfer("1", pending="true", expires_in="31536001"), field="expires_in"
    ),
    Attack("expires_in float", "POST", T, transfer("1", pending="true", expires_in="60.0"), field="expires_in"),
    Attack("expires_in without pending", "POST", T, transfer("1", expires_in="60"), field="expires_in"),
    Attack("on_expiry unknown", "POST", T, transfer("1", pending="true", on_expiry='"burn"'), field="on_expiry"),
    Attack("currency lowercase", "POST", T, transfer("1", currency='"usd"'), field="currency"),
    Attack("body is an array", "POST", T, "[1, 2]", field="body"),
    Attack("body is null", "POST", T, "null", field="body"),
    Attack("body is a string", "POST", T, '"transfer"', field="body"),
    Attack("body is not JSON", "POST", T, '{"source": ', field="body"),
    Attack("body has trailing data", "POST", T, transfer("1") + " {}", field="body"),
    Attack("body is not UTF-8", "POST", T, b'{"source": "\xff\xfe"}', field="body"),
    Attack("body nests 100k deep", "POST", T, "[" * 100_000 + "]" * 100_000, field="body"),
    Attack("body empty", "POST", T, "", field="body"),
    Attack(
        "text/plain", "POST", T, transfer("1"), 415, "unsupported_media_type", headers={"Content-Type": "text/plain"}
    ),
    Attack("no content type", "POST", T, transfer("1"), 415, "unsupported_media_type", headers={}),
    Attack(
        "form body",
        "POST",
        T,
        "source=a&amount=1",
        415,
        "unsupported_media_type",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ),
    Attack("body over 1 MiB", "POST", T, transfer("1", reason=json.dumps("r" * MIB)), 413, "payload_too_large"),
    Attack(
        "chunked body over 1 MiB",
        "POST",
        T,
        transfer("1", reason=json.dumps("r" * MIB)),
        413,
        "payload_too_large",
        chunked=True,
    ),
    Attack(
        "Idempotency-Key with space",
        "POST",
        T,
        transfer("1"),
        field="Idempotency-Key",
        headers={**JSON, "Idempotency-Key": "a b"},
    ),
    Attack(
        "Idempotency-Key differs from id",
        "POST",
        T,
        transfer("1", id='"one"'),
        field="id",
        headers={**JSON, "Idempotency-Key": "two"},
    ),
    Attack("dry_run not a boolean", "POST", T, transfer("1"), field="dry_run", params={"dry_run": "maybe"}),
    Attack("batch of 1001", "POST", T + "/batch", batch_of(*[transfer("1")] * 1001), field="transfers"),
    Attack("batch empty", "POST", T + "/batch", batch_of(), field="transfers"),
    Attack(
        "batch item float", "POST", T + "/batch", batch_of(transfer("1"), transfer("2.5")), field="transfers[1].amount"
    ),
    Attack(
        "batch item unknown field",
        "POST",
        T + "/batch",
        batch_of(transfer("1", posted="1")),
        field="transfers[0].posted",
    ),
    Attack(
        "batch repeated id",
        "POST",
        T + "/batch",
        batch_of(transfer("1", id='"x"'), transfer("1", id='"x"')),
        field="transfers[1].id",
    ),
    Attack("batch atomic string", "POST", T + "/batch", batch_of(transfer("1"), atomic='"true"'), field="atomic"),
    Attack("post amount float", "POST", f"{T}/{HOLD}/post", '{"amount": 1.5}', field="amount"),
    Attack("post amount string", "POST", f"{T}/{HOLD}/post", '{"amount": "1"}', field="amount"),
    Attack("void with an amount", "POST", f"{T}/{HOLD}/void", '{"amount": 1}', field="amount"),
    Attack("reverse amount float", "POST", f"{T}/{PAID}/reverse", '{"amount": 1.0}', field="amount"),
    Attack("reverse id invalid", "POST", f"{T}/{PAID}/reverse", '{"id": "a b"}', field="id"),
    Attack("transfer path id invalid", "GET", f"{T}/a%20b", None, field="id"),
    Attack(
        "account create with balance",
        "POST",
        "/v1/accounts",
        f'{{"id": "{USER}x", "currency": "USD", "balance": {{"posted": 100}}}}',
        field="balance",
    ),
    Attack(
        "account min_balance float",
        "POST",
        "/v1/accounts",
        f'{{"id": "{USER}x", "currency": "USD", "min_balance": -1.5}}',
        field="min_balance",
    ),
    Attack("patch posted", "PATCH", f"/v1/accounts/{USER}", '{"posted": 1000000}', field="posted"),
    Attack("patch status", "PATCH", f"/v1/accounts/{USER}", '{"status": "open"}', field="status"),
    Attack("patch currency", "PATCH", f"/v1/accounts/{USER}", '{"currency": "EUR"}', field="currency"),
    Attack(
        "patch min_balance beyond 64 bits",
        "PATCH",
        f"/v1/accounts/{USER}",
        '{"min_balance": -' + str(2**63 + 1) + "}",
        field="min_balance",
    ),
    Attack("freeze reason number", "POST", f"/v1/accounts/{USER}/freeze", '{"reason": 5}', field="reason"),
    Attack("entries limit 0", "GET", f"/v1/accounts/{USER}/entries", params={"limit": "0"}, field="limit"),
    Attack("entries limit 1001", "GET", f"/v1/accounts/{USER}/entries", params={"limit": "1001"}, field="limit"),
    Attack("entries limit text", "GET", f"/v1/accounts/{USER}/entries", params={"limit": "ten"}, field="limit"),
    Attack("entries order sideways", "GET", f"/v1/accounts/{USER}/entries", params={"order": "up"}, field="order"),
    Attack("entries cursor garbage", "GET", f"/v1/accounts/{USER}/entries", params={"after": "x'--"}, field="after"),
    Attack(
        "balance as_of garbage", "GET", f"/v1/accounts/{USER}/balance", params={"as_of": "yesterday"}, field="as_of"
    ),
    Attack("events after negative", "GET", "/v1/events", params={"after": "-1"}, field="after"),
    Attack("events wait too long", "GET", "/v1/events", params={"wait": "3600"}, field="wait"),
    Attack("transfers status unknown", "GET", T, params={"status": "stolen"}, field="status"),
    Attack("currency scale 19", "POST", "/v1/currencies", '{"code": "ZZTOP", "scale": 19}', field="scale"),
    Attack("key role root", "POST", "/v1/keys", '{"role": "root"}', field="role"),
    Attack("unknown query parameter", "POST", T, transfer("1"), field="dryrun", params={"dryrun": "true"}),
    Attack("events wait NaN", "GET", "/v1/events", params={"wait": "nan"}, field="wait"),
    Attack("trailing slash", "POST", T + "/", transfer("1"), 404, "not_found"),
    Attack("no key", "POST", T, transfer("1"), 401, "unauthenticated", token="none"),
    Attack("bad key", "POST", T, transfer("1"), 401, "unauthenticated", token="bad"),
    Attack("reader writes", "POST", T, transfer("1"), 403, "forbidden", token="reader"),
    Attack("reader makes keys", "POST", "/v1/keys", '{"role": "admin"}', 403, "forbidden", token="reader"),
    Attack("unknown route", "POST", "/v1/transfer", transfer("1"), 404, "not_found"),
    Attack("wrong method", "DELETE", f"/v1/accounts/{USER}", None, 405, "method_not_allowed"),
]


@pytest.fixture(scope="module")
def target(served: Served) -> Iterator[dict[str, str]]:
    api = served.client(served.admin)
    for id, floor in ((WORLD, None), (USER, 0), (SHOP, 0)):
        assert api.post("/v1/accounts", json={"id": id, "currency": "USD", "min_balance": floor}).status_code == 201
    assert api.post(T, json={"id": f"fund:{RUN}", "source": WORLD, "destination": USER, "amount": 1000}).is_success
    assert api.post(T, json={"id": HOLD, "source": USER, "destination": SHOP, "amount": 10, "pending": True}).is_success
    assert api.post(T, json={"id": PAID, "source": USER, "destination": SHOP, "amount": 10}).is_success
    yield {"admin": served.admin, "reader": served.key("reader"), "bad": "tly_" + "x" * 43}


def snapshot(api: httpx.Client) -> dict[str, Any]:
    state: dict[str, Any] = {id: api.get(f"/v1/accounts/{id}").json()["balance"] for id in (WORLD, USER, SHOP)}
    state["head"] = api.get("/v1/audit/head").json()
    state["hold"] = api.get(f"{T}/{HOLD}").json()["status"]
    return state


def send(served: Served, attack: Attack, tokens: dict[str, str]) -> httpx.Response:
    headers = dict(attack.headers)
    if attack.token in tokens:
        headers["Authorization"] = f"Bearer {tokens[attack.token]}"
    raw = attack.body.encode() if isinstance(attack.body, str) else attack.body
    content: Any = raw
    if attack.chunked and raw is not None:
        content = (raw[i : i + 65536] for i in range(0, len(raw), 65536))  # no Content-Length: chunked
    with httpx.Client(base_url=served.url, timeout=60) as client:
        return client.request(attack.method, attack.path, content=content, headers=headers, params=attack.params)


def test_the_table_is_large_enough() -> None:
    assert len(ATTACKS) >= 40
    assert len({a.name for a in ATTACKS}) == len(ATTACKS)


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_hostile_request_is_a_problem_and_changes_nothing(
    served: Served, target: dict[str, str], attack: Attack
) -> None:
    api = served.client(served.admin)
    before = snapshot(api)
    response = send(served, attack, target)
    assert_problem(response, attack.status, attack.code, attack.field)
    if attack.status == 429:
        assert response.headers["retry-after"]
    assert snapshot(api) == before
