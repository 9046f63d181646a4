"""Amounts: positive 64-bit integers in a currency's minor unit. Never floats."""

from __future__ import annotations

from typing import Any

from tally.core.errors import ValidationError
from tally.core.limits import AMOUNT_MAX, AMOUNT_MIN, BALANCE_MAX, BALANCE_MIN


def check_amount(value: Any, field: str = "amount") -> int:
    """`value` as an amount, or `ValidationError`. bool, float, Decimal, str: refused."""
    if type(value) is not int:  # bool is a subclass of int: refuse it too
        raise ValidationError(
            f"{field} must be an integer in minor units, not {type(value).__name__}",
            field=field,
        )
    if not AMOUNT_MIN <= value <= AMOUNT_MAX:
        raise ValidationError(f"{field} must be between {AMOUNT_MIN} and {AMOUNT_MAX}", field=field)
    return value


def check_limit(value: Any, field: str) -> int | None:
    """A balance bound (`min_balance`, `max_balance`): a 64-bit integer or None."""
    if value is None:
        return None
    if type(value) is not int:
        raise ValidationError(f"{field} must be an integer or null", field=field)
    if not BALANCE_MIN <= value <= BALANCE_MAX:
        raise ValidationError(f"{field} must fit in a signed 64-bit integer", field=field)
    return value


def fits(value: int) -> bool:
    """Whether a balance stays inside the signed 64-bit range that stores keep."""
    return BALANCE_MIN <= value <= BALANCE_MAX
