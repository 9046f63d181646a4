"""Typed amounts become exact minor units; balances show in the currency's own way."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tally.admin.money import format_money, format_plain, parse_amount
from tally.core.errors import ValidationError
from tally.core.limits import AMOUNT_MAX


@pytest.mark.parametrize(
    ("typed", "scale", "minor"),
    [("12.50", 2, 1250), ("12.5", 2, 1250), ("12", 2, 1200), (" 0.01 ", 2, 1), ("1500", 0, 1500), ("1.234", 3, 1234)],
)
def test_typed_decimal_becomes_exact_minor_units(typed: str, scale: int, minor: int) -> None:
    assert parse_amount(typed, scale, "USD") == minor


@pytest.mark.parametrize(
    ("typed", "scale", "says"),
    [
        ("1.234", 2, "USD has 2 decimals"),
        ("12.50", 0, "USD has no decimals"),
        ("1.00", 0, "USD has no decimals"),
        ("-5", 2, "must be positive"),
        ("0", 2, "more than zero"),
        ("0.00", 2, "more than zero"),
        ("", 2, "Type an amount"),
        ("abc", 2, "is not an amount"),
        ("1e3", 2, "is not an amount"),
        ("1,50", 2, "is not an amount"),
        ("NaN", 2, "is not an amount"),
        ("١٢", 2, "is not an amount"),  # digits of another script: not what staff meant to book
        (str(AMOUNT_MAX + 1), 0, "too large"),
    ],
)
def test_bad_typed_amounts_are_refused_in_words(typed: str, scale: int, says: str) -> None:
    with pytest.raises(ValidationError, match=says) as refused:
        parse_amount(typed, scale, "USD")
    assert refused.value.field == "amount"


@given(minor=st.integers(min_value=1, max_value=AMOUNT_MAX), scale=st.integers(min_value=0, max_value=18))
def test_what_is_shown_plain_types_back_to_the_same_amount(minor: int, scale: int) -> None:
    assert parse_amount(format_plain(minor, scale), scale, "X") == minor


@pytest.mark.parametrize(
    ("minor", "currency", "scale", "shown"),
    [
        (123450, "USD", 2, "$1,234.50"),
        (-1250, "USD", 2, "-$12.50"),
        (1234, "JPY", 0, "¥1,234"),
        (1234, "BHD", 3, "BHD1.234"),
        (123456, "POINTS", 1, "12,345.6 POINTS"),
        (5, "CREDITS", 0, "5 CREDITS"),
    ],
)
def test_amounts_show_in_the_currency_own_way(minor: int, currency: str, scale: int, shown: str) -> None:
    assert format_money(minor, currency, scale).replace("\xa0", " ") == shown
