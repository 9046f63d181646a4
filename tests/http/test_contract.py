"""API.md sections 5 and 6 through a real HTTP client against a real `tally serve`, on each store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.http.conftest import Served, assert_problem

Ids = Callable[[str], str]


@pytest.fixture
def api(served: Served) -> httpx.Client:
    return served.client(served.admin)


def open_accounts(api: httpx.Client, ids: Ids, funded: int = 1_000) -> tuple[str, str, str]:
    """A system account, a funded user and a shop, all USD."""
    world, user, shop = ids("@world"), ids("user"), ids("shop")
    assert api.post("/v1/accounts", json={"id": world, "currency": "USD", "min_balance": None}).status_code == 201
    assert api.post("/v1/accounts", json={"id": user, "currency": "USD"}).status_code == 201
    assert api.post("/v1/accounts", json={"id": shop, "currency": "USD"}).status_code == 201
    if funded:
        body = {"source": world, "destination": user, "amount": funded, "id": ids("fund")}
        assert api.post("/v1/transfers", json=body).status_code == 201
    return world, user, shop


def balance(api: httpx.Client, id: str) -> dict[str, Any]:
    response = api.get(f"/v1/accounts/{id}/balance")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# --- accounts -----------------------------------------------------------------------


def test_account_create_answers_201_with_every_member_and_identical_replay_200(api: httpx.Client, ids: Ids) -> None:
    body = {"id": ids("user"), "currency": "USD", "max_balance": 10_000, "metadata": {"plan": "gold"}}
    first = api.post("/v1/accounts", json=body)
    assert first.status_code == 201
    account = first.json()
    assert set(account) == {"id", "currency", "scale", "min_balance", "max_balance", "clearing_seconds", "status",
                            "metadata", "created_at", "balance"}  # fmt: skip
    assert account["scale"] == 2 and account["min_balance"] == 0 and account["status"] == "open"
    assert account["balance"] == {"posted": 0, "pending_in": 0, "pending_out": 0, "available": 0}
    again = api.post("/v1/accounts", json=body)
    assert again.status_code == 200
    assert again.json() == account


def test_account_create_with_other_fields_is_id_conflict(api: httpx.Client, ids: Ids) -> None:
    id = ids("user")
    assert api.post("/v1/accounts", json={"id": id, "currency": "USD"}).status_code == 201
    assert_problem(api.post("/v1/accounts", json={"id": id, "currency": "EUR"}), 409, "id_conflict")


def test_account_get_patch_freeze_unfreeze_close(api: httpx.Client, ids: Ids) -> None:
    id = ids("user")
    api.post("/v1/accounts", json={"id": id, "currency": "JPY"})
    assert api.get(f"/v1/accounts/{id}").json()["scale"] == 0
    patched = api.patch(f"/v1/accounts/{id}", json={"max_balance": 500, "metadata": {"k": 1}})
    assert patched.status_code == 200
    assert patched.json()["max_balance"] == 500 and patched.json()["metadata"] == {"k": 1}
    assert api.post(f"/v1/accounts/{id}/freeze", json={"reason": "fraud check"}).json()["status"] == "frozen"
    assert api.post(f"/v1/accounts/{id}/unfreeze").json()["status"] == "open"
    assert api.post(f"/v1/accounts/{id}/close", json={}).json()["status"] == "closed"


def test_close_with_money_is_account_not_empty(api: httpx.Client, ids: Ids) -> None:
    _, user, _ = open_accounts(api, ids)
    assert_problem(api.post(f"/v1/accounts/{user}/close"), 409, "account_not_empty")


def test_unknown_account_is_account_not_found(api: httpx.Client, ids: Ids) -> None:
    assert_problem(api.get(f"/v1/accounts/{ids('nobody')}"), 404, "account_not_found")
    assert_problem(api.get(f"/v1/accounts/{ids('nobody')}/balance"), 404, "account_not_found")


def test_unknown_currency_needs_registration_first(api: httpx.Client, ids: Ids) -> None:
    code = "PTS" + ids("x").split(":")[1][:6].upper().replace("-", "_")
    code = "P" + "".join(c for c in code if c.isalnum())[:10].upper()
    assert_problem(api.post("/v1/accounts", json={"id": ids("u"), "currency": code}), 409, "unknown_currency")
    registered = api.post("/v1/currencies", json={"code": code, "scale": 0})
    assert registered.status_code == 201 and registered.json() == {"code": code, "scale": 0}
    assert api.post("/v1/currencies", json={"code": code, "scale": 0}).status_code == 200
    assert_problem(api.post("/v1/currencies", json={"code": code, "scale": 3}), 409, "id_conflict")
    assert api.post("/v1/accounts", json={"id": ids("u"), "currency": code}).status_code == 201


def test_balance_as_of_seq_and_time(api: httpx.Client, ids: Ids) -> None:
    world, user, _ = open_accounts(api, ids, funded=0)
    first = api.post("/v1/transfers", json={"source": world, "destination": user, "amount": 100}).json()
    api.post("/v1/transfers", json={"source": world, "destination": user, "amount": 50})
    as_of = api.get(f"/v1/accounts/{user}/balance", params={"as_of": first["seq"]})
    assert as_of.json() == {"posted": 100, "as_of_seq": first["seq"]}
    by_time = api.get(f"/v1/accounts/{user}/balance", params={"as_of": first["created_at"]}).json()
    assert by_time["posted"] in (100, 150)
    assert_problem(api.get(f"/v1/accounts/{user}/balance", params={"as_of": "yesterday"}), 422, "validation_error")


def test_entries_page_with_cursor_and_order(api: httpx.Client, ids: Ids) -> None:
    world, user, _ = open_accounts(api, ids, funded=0)
    for amount in (1, 2, 3):
        api.post("/v1/transfers", json={"source": world, "destination": user, "amount": amount, "reason": "r"})
    page = api.get(f"/v1/accounts/{user}/entries", params={"limit": 2}).json()
    assert [e["balance_after"] for e in page["entries"]] == [1, 3]
    assert set(page["entries"][0]) == {"seq", "transfer_id", "amount", "balance_after", "created_at", "reason"}
    rest = api.get(f"/v1/accounts/{user}/entries", params={"limit": 2, "after": page["next"]}).json()
    assert [e["amount"] for e in rest["entries"]] == [3] and rest["next"] is None
    desc = api.get(f"/v1/accounts/{user}/entries", params={"order": "desc"}).json()
    assert [e["amount"] for e in desc["entries"]] == [3, 2, 1]
    assert_problem(api.get(f"/v1/accounts/{user}/entries", params={"limit": 1001}), 422, "validation_error", "limit")


# --- transfers ------------------------------------------------------------------------


def test_transfer_201_then_replay_200_with_the_transfer_as_it_is_now(api: httpx.Client, ids: Ids) -> None:
    _, user, shop = open_accounts(api, ids)
    body = {"id": ids("t"), "source": user, "destination": shop, "amount": 300, "pending": True, "expires_in": 3600}
    first = api.post("/v1/transfers", json=body)
    assert first.status_code == 201 and first.json()["status"] == "pending"
    assert first.json()["expires_at"]
    posted = api.post(f"/v1/transfers/{body['id']}/post", json={"amount": 250})
    assert posted.status_code == 200 and posted.json()["posted_amount"] == 250
    again = api.post("/v1/transfers", json=body)
    assert again.status_code == 200 and again.json()["status"] == "posted"
    assert balance(api, user)["posted"] == 750


def test_rejection_is_recorded_and_replays_as_the_same_rejection(api: httpx.Client, ids: Ids) -> None:
    _, user, shop = open_accounts(api, ids, funded=100)
    body = {"id": ids("t"), "source": user, "destination": shop, "amount": 101}
    first = assert_problem(api.post("/v1/transfers", json=body), 409, "insufficient_funds")
    assert first["transfer"]["status"] == "rejected" and first["transfer"]["seq"]
    api.post("/v1/transfers", json={"source": ids("@world"), "destination": user, "amount": 1000})
    second = assert_problem(api.post("/v1/transfers", json=body), 409, "insufficient_funds")
    assert second["transfer"] == first["transfer"]
    read = api.get(f"/v1/transfers/{body['id']}").json()
    assert read["status"] == "rejected" and read["code"] == "insufficient_funds"


def test_same_id_with_other_fields_is_id_conflict_and_changes_nothing(api: httpx.Client, ids: Ids) -> None:
    _, user, shop = open_accounts(api, ids)
    body = {"id": ids("t"), "source": user, "destination": shop, "amount": 10}
    assert api.post("/v1/transfers", json=body).status_code == 201
    assert_problem(api.post("/v1/transfers", json={**body, "amount": 11}), 409, "id_conflict")
    assert balance(api, shop)["posted"] == 10


def test_idempotency_key_header_is_the_transfer_id(api: httpx.Client, ids: Ids) -> None:
    _, user, shop = open_accounts(api, ids)
    key = ids("idem")
    body = {"source": user, "destination": shop, "amount": 5}
    first = api.post("/v1/transfers", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201 and first.json()["id"] == key
    assert api.post("/v1/transfers", json=body, headers={"Idempotency-Key": key}).status_code == 200
    mismatch = api.post("/v1/transfers", json={**body, "id": ids("other")}, headers={"Idempotency-Key": key})
    assert_problem(mismatch, 422, "validation_error", "id")
    assert balance(api, shop)["posted"] == 5


def test_dry_run_checks_without_committing(api: httpx.Client, ids: Ids) -> None:
    _, user, shop = open_accounts(api, ids, funded=100)
    body = {"id": ids("t"), "source": user, "destination": shop, "amount": 60}
    dry = api.post("/v1/transfers", json=body, params={"dry_run": "true"})
    assert dry.status_code == 200 and dry.json()["status"] == "posted"
    assert_problem(api.post("/v1/transfers", json={**body, "amount": 101}, params={"dry_run": "true"}),
                   409, "insufficient_funds")  # fmt: skip
    assert_problem(api.get(f"/v1/transfers/{body['id']}"), 404, "transfer_not_found")
    assert balance(api, user)["posted"] == 100


@pytest.mark.parametrize(
    ("change", "code", "status"),
    [
        ({"destination": "self"}, "same_account", 409),
        ({"destination": "missing"}, "account_not_found", 404),
        ({"currency": "EUR"}, "currency_mismatch", 409),
    ],
)
def test_business_rejections_have_their_codes(api: httpx.Client, ids: Ids, change: dict[str, str], code: str,
                                              status: int) -> None:  # fmt: skip
    _, user, shop = open_accounts(api, ids)
    body: dict[str, Any] = {"source": user, "destination": shop, "amount": 1}
    if change.get("destination") == "self":
        body["destination"] = user
    elif change.get("destination") == "missing":
        body["destination"] = ids("missing")
    else:
        body.update(change)
    assert_problem(api.post("/v1/transfers", json=body), status, code)


def test_exceeds_max_balance_and_account_not_open(api: httpx.Client, ids: Ids) -> None:
    _, user, shop = open_accounts(api, ids)
    api.patch(f"/v1/accounts/{shop}", json={"max_balance": 10})
    assert_problem(api.post("/v1/transfers", json={"source": user, "destination": shop, "amount": 11}),
                   409, "exceeds_max_balance")  # fmt: skip
    api.post(f"/v1/accounts/{user}/freeze")
    assert_problem(api.post("/v1/transfers", json={"source": user, "destination": shop, "amount": 1}),
                   409, "account_not_open")  # fmt: skip


def test_batch_atomic_failure_records_nothing(api: httpx.Client, ids: Ids) -> None:
    _, user, shop = open_accounts(api, ids, funded=100)
    items = [
        {"id": ids("a"), "source": user, "destination": shop, "amount": 60},
        {"id": ids("b"), "source": user, "destination": shop, "amount": 60},
    ]
    results = api.post("/v1/transfers/batch", json={"atomic": True, "transfers": items})
    assert results.status_code == 200
    assert [(r["status"], r["code"]) for r in results.json()["results"]] == [
        ("rejected", "linked_transfer_failed"),
        ("rejected", "insufficient_funds"),
    ]
    assert_problem(api.get(f"/v1/transfers/{items[0]['id']}"), 404, "transfer_not_found")
    assert balance(api, user)["posted"] == 100
    items[1]["amount"] = 40
    ok = api.post("/v1/transfers/batch", json={"atomic": True, "transfers": items}).json()["results"]
    assert [r["status"] for r in ok] == ["posted", "posted"]
    assert balance(api, shop)["posted"] == 100


def test_batch_not_atomic_decides_each_in_request_order(api: httpx.Client, ids: Ids) -> None:
    _, user, shop = open_accounts(api, ids, funded=100)
    items = [{"source": user, "destination": shop, "amount": amount} for amount in (70, 70, 30)]
    results = api.post("/v1/transfers/batch", json={"atomic": False, "transfers": items}).json()["results"]
    assert [r["status"] for r in results] == ["posted", "rejected", "posted"]
    assert results[1]["code"] == "insufficient_funds"


def test_batch_over_1000_is_validation_error(api: httpx.Client, ids: Ids) -> None:
    item = {"source": ids("u"), "destination": ids("s"), "amount": 1}
    response = api.post("/v1/transfers/batch", json={"transfers": [item] * 1001})
    assert_problem(response, 422, "validation_error", "transfers")


def test_list_transfers_by_account_and_status_with_cursor(api: httpx.Client, ids: Ids) -> None:
    _, user, shop = open_accounts(api, ids)
    for amount in (1, 2, 3):
        api.post("/v1/transfers", json={"source": user, "destination": shop, "amount": amount})
    page = api.get("/v1/transfers", params={"account": shop, "limit": 2}).json()
    assert [t["amount"] for t in page["transfers"]] == [1, 2]
    rest = api.get("/v1/transfers", params={"account": shop, "after": page["next"]}).json()
    assert [t["amount"] for t in rest["transfers"]] == [3] and rest["next"] is None
    posted = api.get("/v1/transfers", params={"account": user, "status": "posted"}).json()["transfers"]
    assert len(posted) == 4


def test_void_then_any_other_resolution_is_transfer_not_pending(api: httpx.Client, ids: Ids) -> None:
    _, user, shop = open_accounts(api, ids)
    hold = api.post("/v1/transfers", json={"source": user, "destination": shop, "amount": 10, "pending": True}).json()
    assert balance(api, user) == {"posted": 1000, "pending_in": 0, "pending_out": 10, "available": 990}
    voided = api.post(f"/v1/transfers/{hold['id']}/void", json={})
    assert voided.status_code == 200 and voided.json()["status"] == "voided"
    assert api.post(f"/v1/transfers/{hold['id']}/void").json() == voided.json()
    assert_problem(api.post(f"/v1/transfers/{hold['id']}/post"), 409, "transfer_not_pending")


def test_post_more_than_pending_is_exceeds_pending_amount(api: httpx.Client, ids: Ids) -> None:
    _, user, shop = open_accounts(api, ids)
    hold = api.post("/v1/transfers", json={"source": user, "destination": shop, "amount": 10, "pending": True}).json()
    assert_problem(api.post(f"/v1/transfers/{hold['id']}/post", json={"amount": 11}), 409, "exceeds_pending_amount")


def test_reverse_makes_a_new_transfer_and_replays(api: httpx.Client, ids: Ids) -> None:
    _, user, shop = open_accounts(api, ids)
    paid = api.post("/v1/transfers", json={"source": user, "destination": shop, "amount": 100}).json()
    body = {"id": ids("rev"), "amount": 40, "reason": "refund"}
    first = api.post(f"/v1/transfers/{paid['id']}/reverse", json=body)
    assert first.status_code == 201
    assert first.json()["reverses"] == paid["id"] and first.json()["source"] == shop
    assert api.post(f"/v1/transfers/{paid['id']}/reverse", json=body).status_code == 200
    rest = api.post(f"/v1/transfers/{paid['id']}/reverse")
    assert rest.status_code == 201 and rest.json()["amount"] == 60
    assert_problem(api.post(f"/v1/transfers/{paid['id']}/reverse", json={"amount": 1}), 409,
                   "exceeds_reversible_amount")  # fmt: skip
    assert balance(api, user)["posted"] == 1000


def test_unknown_transfer_is_transfer_not_found(api: httpx.Client, ids: Ids) -> None:
    for response in (
        api.get(f"/v1/transfers/{ids('t')}"),
        api.post(f"/v1/transfers/{ids('t')}/post"),
        api.post(f"/v1/transfers/{ids('t')}/void"),
        api.post(f"/v1/transfers/{ids('t')}/reverse"),
    ):
        assert_problem(response, 404, "transfer_not_found")


# --- events, audit, keys, health ---------------------------------------------------------


def test_events_feed_pages_by_seq_and_long_polls(api: httpx.Client, ids: Ids) -> None:
    head = api.get("/v1/audit/head").json()
    assert set(head) == {"seq", "hash"} and len(head["hash"]) == 64
    empty = api.get("/v1/events", params={"after": head["seq"], "wait": 0.2}).json()
    assert empty == {"events": [], "next": head["seq"]}
    open_accounts(api, ids, funded=5)
    feed = api.get("/v1/events", params={"after": head["seq"], "limit": 2}).json()
    assert [e["seq"] for e in feed["events"]] == [head["seq"] + 1, head["seq"] + 2]
    assert set(feed["events"][0]) == {"seq", "type", "data", "created_at"}
    assert feed["events"][0]["type"] == "account_opened" and feed["next"] == head["seq"] + 2
    rest = api.get("/v1/events", params={"after": feed["next"]}).json()
    assert rest["events"][-1]["type"] == "transfer_posted"


def test_keys_are_created_listed_without_tokens_and_revoked(served: Served, api: httpx.Client) -> None:
    created = api.post("/v1/keys", json={"role": "reader", "name": "dashboard"})
    assert created.status_code == 201
    key = created.json()
    assert key["token"].startswith("tly_") and key["role"] == "reader" and key["accounts"] is None
    listed = api.get("/v1/keys").json()["keys"]
    assert any(k["id"] == key["id"] for k in listed) and all("token" not in k for k in listed)
    reader = served.client(key["token"])
    assert reader.get("/v1/events", params={"limit": 1}).status_code == 200
    revoked = api.delete(f"/v1/keys/{key['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert_problem(reader.get("/v1/events"), 401, "unauthenticated")
    assert_problem(api.delete(f"/v1/keys/{key['id']}"), 404, "not_found")


def test_health_needs_no_key_and_everything_else_does(served: Served) -> None:
    anonymous = served.client()
    assert anonymous.get("/v1/health").json() == {"status": "ok"}
    assert_problem(anonymous.get("/v1/accounts/x"), 401, "unauthenticated")
    assert_problem(served.client("tly_not-a-real-token").get("/v1/events"), 401, "unauthenticated")


def test_unknown_route_and_method_are_problems(api: httpx.Client) -> None:
    assert_problem(api.get("/v1/nothing-here"), 404, "not_found")
    assert_problem(api.delete("/v1/transfers"), 405, "method_not_allowed")
    assert_problem(api.put("/v1/health"), 405, "method_not_allowed")


def test_openapi_describes_every_endpoint_and_error(api: httpx.Client) -> None:
    assert "swagger" in api.get("/docs").text.lower()
    document = api.get("/openapi.json").json()
    create = document["paths"]["/v1/transfers"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/TransferRequest")
    assert {"201", "200", "409", "413", "415", "422", "429"} <= set(create["responses"])
    assert "application/problem+json" in create["responses"]["409"]["content"]
    assert {"Problem", "Transfer", "Account", "TransferRequest"} <= set(document["components"]["schemas"])


def test_metrics_and_request_id(served: Served, api: httpx.Client) -> None:
    response = api.get("/v1/health", headers={"X-Request-Id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert len(api.get("/v1/health").headers["x-request-id"]) == 32
    text = served.client().get("/metrics").text
    for name in ("tally_http_requests_total", "tally_http_request_duration_seconds", "tally_transfers_total",
                 "tally_batch_size"):  # fmt: skip
        assert name in text
