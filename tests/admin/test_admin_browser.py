"""The admin page end to end: a real Chromium against a real `tally serve`."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.admin.conftest import Server, screenshot

pytestmark = pytest.mark.browser


def sign_in(page: Any, token: str) -> None:
    page.goto("/admin/login")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def sign_in_as_staff(page: Any, server: Server) -> None:
    sign_in(page, server.tokens["staff"])
    expect(page.get_by_test_id("who")).to_contain_text("Sam Staff · staff")


def open_account(page: Any, account_id: str) -> None:
    page.goto(f"/admin/accounts/{account_id}")
    expect(page.get_by_test_id("account-id")).to_have_text(account_id)


def adjust(page: Any, direction: str, amount: str, reason: str) -> None:
    form = page.get_by_test_id("adjust-form")
    form.get_by_label("Credit" if direction == "credit" else "Debit").check()
    form.get_by_label(re.compile("^Amount")).fill(amount)
    form.get_by_label(re.compile("^Reason")).fill(reason)
    form.get_by_role("button", name="Record the adjustment").click()


def test_staff_signs_in_searches_and_adjusts_with_a_reason(page: Any, server: Server) -> None:
    account_id = server.fresh_account("user", funded=1_000)
    page.goto("/admin/login")
    screenshot(page, "login")
    sign_in_as_staff(page, server)

    search = page.get_by_role("searchbox", name="Account id or prefix")
    search.fill(account_id[:-3])
    results = page.get_by_test_id("results")
    expect(results).to_contain_text(account_id)
    expect(results).to_contain_text("$10.00")
    screenshot(page, "search")
    results.get_by_role("link", name=account_id).click()
    expect(page.get_by_test_id("account-id")).to_have_text(account_id)

    adjust(page, "credit", "12.50", "Goodwill credit for ticket #1234")

    expect(page.get_by_role("status")).to_contain_text("Credited $12.50")
    expect(page.get_by_test_id("available")).to_have_text("$22.50")
    expect(page.get_by_test_id("posted")).to_have_text("$22.50")
    newest = page.get_by_test_id("statement").locator("tbody tr").first
    expect(newest).to_contain_text("Goodwill credit for ticket #1234")
    expect(newest.locator("td.num").first).to_have_text("+$12.50")
    expect(newest.locator("td.num").last).to_have_text("$22.50")  # balance after
    expect(newest).to_contain_text("staff_key_name: Sam Staff")
    screenshot(page, "account")

    entry = server.books.entries(account_id, order="desc", limit=1)[0]
    made = server.books.transfer(entry.transfer_id)
    assert (made.source, made.destination, made.amount) == ("@adjustments:USD", account_id, 1250)
    assert made.reason == "Goodwill credit for ticket #1234"
    assert made.metadata["staff_key_name"] == "Sam Staff"
    assert made.metadata["staff_key_id"].startswith("key_")


def test_cookie_is_http_only_and_same_site_strict(page: Any, server: Server) -> None:
    sign_in_as_staff(page, server)
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "tally_admin"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/admin"


def test_submitting_the_same_form_twice_makes_one_adjustment(page: Any, server: Server) -> None:
    account_id = server.fresh_account()
    sign_in_as_staff(page, server)
    open_account(page, account_id)
    form = page.get_by_test_id("adjust-form")
    typed = {"direction": "credit", "amount": "5.00", "reason": "Double-click test"}
    form.get_by_label(re.compile("^Amount")).fill(typed["amount"])
    form.get_by_label(re.compile("^Reason")).fill(typed["reason"])
    fields = {
        "csrf_token": form.locator("input[name=csrf_token]").input_value(),
        "id": form.locator("input[name=id]").input_value(),
        **typed,
    }

    form.get_by_role("button", name="Record the adjustment").dblclick()
    expect(page.get_by_test_id("available")).to_have_text("$5.00")
    # The same form again, as a browser resubmitting it would send it (same id, same token).
    again = page.request.post(f"/admin/accounts/{account_id}/adjust", form=fields)
    assert again.status == 200

    entries = server.books.entries(account_id).entries
    assert [(e.transfer_id, e.amount) for e in entries] == [(fields["id"], 500)]
    assert server.books.balance(account_id).posted == 500


def test_rejected_adjustment_says_why_and_keeps_the_form(page: Any, server: Server) -> None:
    account_id = server.fresh_account(funded=500)
    sign_in_as_staff(page, server)
    open_account(page, account_id)

    adjust(page, "debit", "10.00", "Chargeback on order 77")

    expect(page.get_by_test_id("adjust-error")).to_contain_text("Insufficient funds")
    expect(page.get_by_test_id("adjust-error")).to_contain_text(f"{account_id} has $5.00 available")
    form = page.get_by_test_id("adjust-form")
    expect(form.get_by_label(re.compile("^Amount"))).to_have_value("10.00")
    expect(form.get_by_label(re.compile("^Reason"))).to_have_value("Chargeback on order 77")
    expect(form.get_by_label("Debit")).to_be_checked()
    expect(page.get_by_test_id("available")).to_have_text("$5.00")
    expect(page).to_have_url(re.compile(f"/admin/accounts/{account_id}$"))  # reloading it works
    screenshot(page, "rejected")

    adjust(page, "credit", "1.005", "Too precise")
    expect(page.get_by_test_id("adjust-error")).to_contain_text("USD has 2 decimals")
    expect(form.get_by_label(re.compile("^Amount"))).to_have_value("1.005")
    assert server.books.balance(account_id).posted == 500


def test_frozen_account_refuses_adjustments_until_unfrozen(page: Any, server: Server) -> None:
    account_id = server.fresh_account(funded=500)
    sign_in_as_staff(page, server)
    open_account(page, account_id)

    page.get_by_role("button", name="Freeze the account").click()
    expect(page.get_by_test_id("status")).to_have_text("frozen")
    adjust(page, "credit", "1", "While frozen")
    expect(page.get_by_test_id("adjust-error")).to_contain_text("frozen")
    expect(page.get_by_test_id("available")).to_have_text("$5.00")

    page.get_by_role("button", name="Unfreeze the account").click()
    expect(page.get_by_test_id("status")).to_have_text("open")
    adjust(page, "credit", "1", "After unfreezing")
    expect(page.get_by_test_id("available")).to_have_text("$6.00")


def test_staff_posts_one_hold_and_voids_another(page: Any, server: Server) -> None:
    account_id = server.fresh_account(funded=10_000)
    shop = server.fresh_account("shop")
    kept = server.books.transfer(account_id, shop, 1_500, pending=True, expires_in=3600, reason="Hotel").id
    dropped = server.books.transfer(account_id, shop, 2_500, pending=True, reason="Car rental").id
    sign_in_as_staff(page, server)
    open_account(page, account_id)
    holds = page.get_by_test_id("holds")
    expect(holds.locator("tbody tr")).to_have_count(2)
    expect(page.get_by_test_id("available")).to_have_text("$60.00")

    holds.locator(f"tr[data-hold='{kept}']").get_by_role("button", name="Post").click()
    expect(page.get_by_role("status")).to_contain_text(f"Posted the hold {kept}")
    expect(page.get_by_test_id("posted")).to_have_text("$85.00")
    page.get_by_test_id("holds").locator(f"tr[data-hold='{dropped}']").get_by_role("button", name="Void").click()
    expect(page.get_by_role("status")).to_contain_text(f"Voided the hold {dropped}")
    expect(page.get_by_text("No pending holds.")).to_be_visible()
    expect(page.get_by_test_id("available")).to_have_text("$85.00")

    assert server.books.transfer(kept).status == "posted"
    assert server.books.transfer(dropped).status == "voided"


def test_staff_reverses_a_transfer_with_a_reason(page: Any, server: Server) -> None:
    account_id = server.fresh_account(funded=2_000)
    sign_in_as_staff(page, server)
    open_account(page, account_id)
    page.get_by_test_id("statement").get_by_role("link", name="Reverse…").first.click()
    reverse = page.locator("#reverse")
    reverse.get_by_label(re.compile("^Reason")).fill("Deposit sent by mistake")
    screenshot(page, "transfer")
    reverse.get_by_role("button", name="Reverse").click()

    expect(page.get_by_role("status")).to_contain_text("Reversed $20.00")
    expect(page.get_by_test_id("posted")).to_have_text("$0.00")
    newest = page.get_by_test_id("statement").locator("tbody tr").first
    expect(newest).to_contain_text("Deposit sent by mistake")
    expect(newest).to_contain_text("reverses")


def test_statement_pages_from_newest_to_oldest(page: Any, server: Server) -> None:
    account_id = server.fresh_account()
    server.books.transfer_batch(
        {"source": "@world:USD", "destination": account_id, "amount": n, "reason": f"Payment {n}"} for n in range(1, 31)
    )
    sign_in_as_staff(page, server)
    open_account(page, account_id)
    rows = page.get_by_test_id("statement").locator("tbody tr")
    expect(rows).to_have_count(25)
    expect(rows.first).to_contain_text("Payment 30")
    page.get_by_test_id("older").click()
    expect(rows).to_have_count(5)
    expect(rows.first).to_contain_text("Payment 5")
    expect(rows.last).to_contain_text("Payment 1")


def test_forged_forms_are_refused_and_change_nothing(page: Any, server: Server) -> None:
    account_id = server.fresh_account()
    sign_in_as_staff(page, server)
    url = f"/admin/accounts/{account_id}/adjust"
    fields = {"id": "adj_forged1", "direction": "credit", "amount": "100", "reason": "Forged"}

    assert page.request.post(url, form=fields).status == 403
    assert page.request.post(url, form={**fields, "csrf_token": "not-the-token"}).status == 403
    # A page on another site that posts to the admin page: SameSite=Strict keeps the cookie home.
    evil = (
        f'<form method="post" action="{server.url}{url}">'
        '<input name="csrf_token" value="guessed"><input name="id" value="adj_forged2">'
        '<input name="direction" value="credit"><input name="amount" value="100"><input name="reason" value="x">'
        '<button type="submit">go</button></form>'
    )
    page.route("http://evil.test/**", lambda route: route.fulfill(body=evil, content_type="text/html"))
    page.goto("http://evil.test/")
    with page.expect_navigation():
        page.get_by_role("button", name="go").click()
    expect(page.get_by_role("alert")).to_contain_text("did not come from this admin session")

    assert server.books.balance(account_id).posted == 0
    assert len(server.books.entries(account_id)) == 0


@pytest.mark.parametrize("role", ["reader", "writer"])
def test_reader_and_writer_tokens_are_refused(page: Any, server: Server, role: str) -> None:
    sign_in(page, server.tokens[role])
    expect(page.get_by_role("alert")).to_contain_text(f"A {role} key cannot use the admin page")
    page.goto("/admin/accounts")
    expect(page).to_have_url(re.compile("/admin/login$"))


def test_an_unknown_token_is_refused(page: Any, server: Server) -> None:
    sign_in(page, "tly_not-a-real-token")
    expect(page.get_by_role("alert")).to_contain_text("This token is not valid")


def test_admin_token_signs_in_and_sign_out_ends_the_session(page: Any, server: Server) -> None:
    sign_in(page, server.tokens["admin"])
    expect(page.get_by_test_id("who")).to_contain_text("Ada Admin · admin")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("Signed out.")
    page.goto("/admin/accounts")
    expect(page).to_have_url(re.compile("/admin/login$"))
