"""Money as staff read and type it: decimals in the currency's units.

Typed amounts become minor units through `decimal.Decimal` only (never a
float), and are refused rather than rounded when they carry more decimals than
the currency has. Display goes through babel, with the account's own scale.
"""

from __future__ import annotations

import copy
import re
from decimal import Decimal
from functools import cache

from babel import Locale
from babel.numbers import NumberPattern, format_currency, format_decimal, parse_pattern

from tally.core.errors import ValidationError
from tally.core.limits import AMOUNT_MAX
from tally.currencies import iso_scale

LOCALE = "en_US"
# Digits, then optionally a point and more digits: no signs, exponents,
# separators or spaces inside, so that what staff see is what is booked.
_DECIMAL = re.compile(r"([0-9]+)(?:\.([0-9]+))?")
TYPED_LENGTH_MAX = 40


def parse_amount(text: str, scale: int, currency: str, field: str = "amount") -> int:
    """`"12.50"` with scale 2 is 1250. Zero, negatives, garbage, extra decimals: `ValidationError`."""
    typed = text.strip()
    if not typed:
        raise ValidationError("Type an amount.", field=field)
    if typed.startswith("-"):
        raise ValidationError("The amount must be positive: choose credit or debit instead of a sign.", field=field)
    match = _DECIMAL.fullmatch(typed) if len(typed) <= TYPED_LENGTH_MAX else None
    if match is None:
        example = "12" if scale == 0 else "12." + "5".ljust(scale, "0")
        shown = typed[:TYPED_LENGTH_MAX]
        raise ValidationError(f"“{shown}” is not an amount: type digits like {example}.", field=field)
    decimals = match.group(2) or ""
    if len(decimals) > scale:
        allowed = _decimals_in_words(scale)
        raise ValidationError(f"{currency} has {allowed}: “{typed}” has {len(decimals)}.", field=field)
    minor = int(Decimal(typed).scaleb(scale))
    if minor == 0:
        raise ValidationError("The amount must be more than zero.", field=field)
    if minor > AMOUNT_MAX:
        raise ValidationError("The amount is too large for the ledger.", field=field)
    return minor


def _decimals_in_words(scale: int) -> str:
    return "no decimals" if scale == 0 else "1 decimal" if scale == 1 else f"{scale} decimals"


def to_decimal(minor: int, scale: int) -> Decimal:
    return Decimal(minor).scaleb(-scale)


def format_plain(minor: int, scale: int) -> str:
    """The amount as staff would type it back: `1250` at scale 2 is `12.50`."""
    return f"{to_decimal(minor, scale):f}"


def format_money(minor: int, currency: str, scale: int, locale: str = LOCALE) -> str:
    """The amount in the currency's own way: `$1,234.50`, `¥1,234`; other codes as `1,234.5 POINTS`."""
    value = to_decimal(minor, scale)
    if iso_scale(currency) is not None:
        pattern = _pattern(locale, scale, True)
        return format_currency(value, currency, format=pattern, locale=locale, currency_digits=False)
    return f"{format_decimal(value, format=_pattern(locale, scale, False), locale=locale)} {currency}"


@cache
def _pattern(locale: str, scale: int, with_currency: bool) -> NumberPattern:
    """The locale's currency (or decimal) pattern with exactly `scale` decimals."""
    loaded = Locale.parse(locale)
    source = loaded.currency_formats["standard"] if with_currency else loaded.decimal_formats[None]
    pattern = copy.copy(parse_pattern(source))
    pattern.frac_prec = (scale, scale)
    return pattern
