"""The admin page over plain HTTP (no browser): headers, scopes, currencies, revocation."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tally.keys import create_key, revoke_key
from tests.admin.conftest import Server


class Staff:
    """A signed-in admin session driven with httpx, reading the forms' hidden fields."""

    def __init__(self, server: Server, token: str) -> None:
        self.client = httpx.Client(base_url=server.url, timeout=10)
        page = self.client.get("/admin/login")
        answer = self.client.post("/admin/login", data={"csrf_token": self.csrf(page.text), "token": token})
        assert answer.status_code == 303, answer.text

    @staticmethod
    def csrf(html: str) -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert found, html
        return found.group(1)

    def form_fields(self, url: str, form_id: str = "id") -> dict[str, str]:
        html = self.client.get(url).text
        found = re.search(rf'name="{form_id}" value="([^"]+)"', html)
        assert found, html
        return {"csrf_token": self.csrf(html), "id": found.group(1)}

    def post(self, url: str, **fields: str) -> httpx.Response:
        return self.client.post(url, data=fields)


@pytest.fixture
def staff(server: Server) -> Iterator[Staff]:
    signed_in = Staff(server, server.tokens["staff"])
    yield signed_in
    signed_in.client.close()


def error_text(html: str) -> str:
    found = re.search(r'role="alert"[^>]*>([^<]+)<', html)
    return found.group(1) if found else ""


def test_pages_forbid_framing_caching_and_foreign_scripts(staff: Staff) -> None:
    page = staff.client.get("/admin/accounts")
    assert page.status_code == 200
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_htmx_is_served_from_the_package(server: Server) -> None:
    script = httpx.get(f"{server.url}/admin/static/htmx.min.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "htmx" in script.text[:200]


def test_signed_out_visitor_is_sent_to_sign_in(server: Server) -> None:
    for path in ("/admin", "/admin/accounts", "/admin/accounts/@world:USD"):
        answer = httpx.get(f"{server.url}{path}")
        assert (answer.status_code, answer.headers["location"]) == (303, "/admin/login")


def test_adjustment_in_yen_refuses_decimals_and_books_whole_yen(staff: Staff, server: Server) -> None:
    account_id = server.fresh_account(currency="JPY")
    url = f"/admin/accounts/{account_id}"
    fields = staff.form_fields(url)
    refused = staff.post(f"{url}/adjust", **fields, direction="credit", amount="12.5", reason="Points")
    assert refused.status_code == 422
    assert error_text(refused.text) == "JPY has no decimals: “12.5” has 1."
    again = staff.form_fields(url)
    booked = staff.post(f"{url}/adjust", **again, direction="credit", amount="1500", reason="Points")
    assert booked.status_code == 303
    assert server.books.balance(account_id).posted == 1500
    assert server.books.account("@adjustments:JPY").posted == -1500


def test_adjustment_without_a_reason_is_refused(staff: Staff, server: Server) -> None:
    account_id = server.fresh_account()
    url = f"/admin/accounts/{account_id}"
    refused = staff.post(f"{url}/adjust", **staff.form_fields(url), direction="credit", amount="1.00", reason="  ")
    assert refused.status_code == 422
    assert "Give a reason" in error_text(refused.text)
    assert server.books.balance(account_id).posted == 0


def test_partial_reversal_gives_back_the_typed_amount(staff: Staff, server: Server) -> None:
    account_id = server.fresh_account(funded=2_000)
    deposit = server.books.entries(account_id)[0].transfer_id
    url = f"/admin/transfers/{deposit}"
    fields = staff.form_fields(f"{url}?account={account_id}")
    done = staff.post(f"{url}/reverse", **fields, account=account_id, amount="5.00", reason="Partial refund")
    assert done.status_code == 303
    assert server.books.balance(account_id).posted == 1_500
    too_much = staff.form_fields(f"{url}?account={account_id}")
    refused = staff.post(f"{url}/reverse", **too_much, account=account_id, amount="15.01", reason="Too much")
    assert refused.status_code == 409
    assert "more than what remains" in error_text(refused.text)
    assert server.books.balance(account_id).posted == 1_500


def test_scoped_staff_key_sees_only_its_accounts(server: Server) -> None:
    mine = server.fresh_account("shopA")
    theirs = server.fresh_account("shopB")
    _, token = create_key(server.books, "staff", accounts="shopA:", name="Shop A support")
    scoped = Staff(server, token)
    try:
        listed = scoped.client.get("/admin/accounts", params={"q": "shop"}).text
        assert mine in listed
        assert theirs not in listed
        assert scoped.client.get(f"/admin/accounts/{theirs}").status_code == 404
        fields = {"csrf_token": scoped.csrf(scoped.client.get(f"/admin/accounts/{mine}").text), "id": "adj_scope1"}
        refused = scoped.post(f"/admin/accounts/{theirs}/adjust", **fields, direction="credit", amount="1", reason="x")
        assert refused.status_code == 404
        assert server.books.balance(theirs).posted == 0
    finally:
        scoped.client.close()


def test_revoking_the_key_ends_its_session(server: Server) -> None:
    key, token = create_key(server.books, "staff", name="Leaver")
    leaver = Staff(server, token)
    try:
        assert leaver.client.get("/admin/accounts").status_code == 200
        revoke_key(server.books, key.id)
        answer = leaver.client.get("/admin/accounts")
        assert (answer.status_code, answer.headers["location"]) == (303, "/admin/login")
    finally:
        leaver.client.close()


def test_tampered_cookie_is_no_session(staff: Staff) -> None:
    cookie = staff.client.cookies["tally_admin"]
    staff.client.cookies.clear()
    staff.client.cookies.set("tally_admin", cookie[:-2] + ("A" if cookie[-2] != "A" else "B") + cookie[-1])
    answer = staff.client.get("/admin/accounts")
    assert (answer.status_code, answer.headers["location"]) == (303, "/admin/login")


def test_a_copy_of_the_cookie_stops_working_after_sign_out(server: Server) -> None:
    staff = Staff(server, server.tokens["staff"])
    try:
        copied = staff.client.cookies["tally_admin"]
        page = staff.client.get("/admin/accounts")
        assert staff.post("/admin/logout", csrf_token=staff.csrf(page.text)).status_code == 303
        with httpx.Client(base_url=server.url, cookies={"tally_admin": copied}) as thief:
            answer = thief.get("/admin/accounts")
        assert (answer.status_code, answer.headers["location"]) == (303, "/admin/login")
    finally:
        staff.client.close()


def test_a_refused_hold_or_status_action_shows_the_account_with_the_reason(staff: Staff, server: Server) -> None:
    account_id = server.fresh_account(funded=1_000)
    shop = server.fresh_account("shop")
    hold = server.books.transfer(account_id, shop, 300, pending=True, reason="Deposit").id
    server.books.post(hold)
    url = f"/admin/accounts/{account_id}"
    refused = staff.post(f"/admin/transfers/{hold}/void", csrf_token=staff.csrf(staff.client.get(url).text),
                         account=account_id)  # fmt: skip
    assert refused.status_code == 409
    assert error_text(refused.text) and account_id in refused.text
    assert server.books.transfer(hold).status == "posted"
    closed = server.fresh_account("closed")
    server.books.close_account(closed)
    refused = staff.post(f"/admin/accounts/{closed}/freeze", csrf_token=staff.csrf(staff.client.get(url).text))
    assert refused.status_code == 409
    assert error_text(refused.text)
    assert server.books.account(closed).status == "closed"
