"""Adjustments through the library, on every store: the counter-account, the form id, who and why."""

from __future__ import annotations

import pytest

import tally
from tally.admin.actions import AdjustForm, adjust, adjustments_account
from tally.keys import create_key
from tests.support import assert_books_balance


def test_adjustments_account_is_opened_per_currency_on_first_use(ledger: tally.Ledger) -> None:
    assert adjustments_account(ledger, "@adjustments", "USD") == "@adjustments:USD"
    opened = ledger.account("@adjustments:USD")
    assert (opened.currency, opened.min_balance) == ("USD", None)
    assert adjustments_account(ledger, "@adjustments", "USD") == "@adjustments:USD"


def test_configured_adjustments_account_is_used_in_its_own_currency(ledger: tally.Ledger) -> None:
    ledger.create_account("@adjustments", currency="EUR", min_balance=None)
    assert adjustments_account(ledger, "@adjustments", "EUR") == "@adjustments"
    assert adjustments_account(ledger, "@adjustments", "USD") == "@adjustments:USD"


def test_the_same_adjustment_form_twice_moves_money_once(ledger: tally.Ledger) -> None:
    ledger.create_account("user:1", currency="USD")
    key, _ = create_key(ledger, "staff", name="Sam")
    form = AdjustForm("adj_once", "credit", "12.50", "Goodwill")

    first = adjust(ledger, ledger.account("user:1"), form, key, "@adjustments")
    second = adjust(ledger, ledger.account("user:1"), form, key, "@adjustments")

    assert first == second
    assert ledger.balance("user:1").posted == 1250
    assert first.metadata == {"staff_key_id": key.id, "staff_key_name": "Sam", "via": "admin", "adjustment": "credit"}
    assert_books_balance(ledger)


def test_debit_beyond_the_available_balance_is_insufficient_funds(ledger: tally.Ledger) -> None:
    ledger.create_account("user:2", currency="USD")
    key, _ = create_key(ledger, "staff", name="Sam")
    with pytest.raises(tally.InsufficientFunds):
        adjust(ledger, ledger.account("user:2"), AdjustForm("adj_no", "debit", "0.01", "Fee"), key, "@adjustments")
    assert ledger.balance("user:2").posted == 0


@pytest.mark.parametrize(
    ("form", "field"),
    [
        (AdjustForm("adj_x", "sideways", "1", "r"), "direction"),
        (AdjustForm("adj_x", "credit", "1", ""), "reason"),
        (AdjustForm("adj_x", "credit", "1.001", "r"), "amount"),
        (AdjustForm("bad id!", "credit", "1", "r"), "id"),
    ],
)
def test_malformed_adjustment_is_a_validation_error_that_records_nothing(
    ledger: tally.Ledger, form: AdjustForm, field: str
) -> None:
    ledger.create_account("user:3", currency="USD")
    key, _ = create_key(ledger, "staff", name="Sam")
    with pytest.raises(tally.ValidationError) as refused:
        adjust(ledger, ledger.account("user:3"), form, key, "@adjustments")
    assert refused.value.field == field
    with pytest.raises(tally.TransferNotFound):
        ledger.transfer("adj_x")
