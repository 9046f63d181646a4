"""Concurrent copies of one request over HTTP: one effect, identical answers."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.http.conftest import Served

COPIES = 16
Ids = Callable[[str], str]


def send_copies(served: Served, path: str, body: dict[str, Any]) -> list[httpx.Response]:
    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {served.admin}"}, timeout=60) as c:
            return c.post(path, json=body)

    with ThreadPoolExecutor(COPIES) as pool:
        return list(pool.map(send, range(COPIES)))


def setup(served: Served, ids: Ids, funded: int) -> tuple[httpx.Client, str, str]:
    api = served.client(served.admin)
    world, user, shop = ids("@world"), ids("user"), ids("shop")
    api.post("/v1/accounts", json={"id": world, "currency": "USD", "min_balance": None})
    api.post("/v1/accounts", json={"id": user, "currency": "USD"})
    api.post("/v1/accounts", json={"id": shop, "currency": "USD"})
    api.post("/v1/transfers", json={"source": world, "destination": user, "amount": funded})
    return api, user, shop


def test_concurrent_copies_of_a_transfer_move_money_once(served: Served, ids: Ids) -> None:
    api, user, shop = setup(served, ids, 1000)
    responses = send_copies(served, "/v1/transfers", {"id": ids("t"), "source": user, "destination": shop, "amount": 7})
    assert sorted(r.status_code for r in responses) == [200] * (COPIES - 1) + [201]
    assert len({r.text for r in responses}) == 1
    assert api.get(f"/v1/accounts/{shop}/balance").json()["posted"] == 7
    assert len(api.get("/v1/transfers", params={"account": shop}).json()["transfers"]) == 1


def test_concurrent_copies_of_a_rejected_transfer_are_one_rejection(served: Served, ids: Ids) -> None:
    api, user, shop = setup(served, ids, 5)
    responses = send_copies(served, "/v1/transfers", {"id": ids("t"), "source": user, "destination": shop, "amount": 7})
    assert {r.status_code for r in responses} == {409}
    assert {r.json()["code"] for r in responses} == {"insufficient_funds"}
    assert len({r.text for r in responses}) == 1
    assert len(api.get("/v1/transfers", params={"account": shop}).json()["transfers"]) == 1


def test_concurrent_copies_of_an_account_open_it_once(served: Served, ids: Ids) -> None:
    responses = send_copies(served, "/v1/accounts", {"id": ids("user"), "currency": "USD"})
    assert sorted(r.status_code for r in responses) == [200] * (COPIES - 1) + [201]
    assert len({r.text for r in responses}) == 1


def test_concurrent_posts_of_one_hold_settle_it_once(served: Served, ids: Ids) -> None:
    api, user, shop = setup(served, ids, 100)
    hold = api.post("/v1/transfers", json={"source": user, "destination": shop, "amount": 60, "pending": True}).json()
    responses = send_copies(served, f"/v1/transfers/{hold['id']}/post", {})
    assert {r.status_code for r in responses} == {200}
    assert len({r.text for r in responses}) == 1
    assert api.get(f"/v1/accounts/{user}/balance").json() == {
        "posted": 40, "pending_in": 0, "pending_out": 0, "available": 40,
    }  # fmt: skip
