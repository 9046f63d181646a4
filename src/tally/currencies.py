"""ISO 4217 scales, from the iso4217 data package."""

from __future__ import annotations

from functools import cache


@cache
def iso_scale(code: str) -> int | None:
    """The number of decimals of an ISO 4217 currency, or None if it is not one."""
    if len(code) != 3 or not code.isalpha() or not code.isupper():
        return None
    from iso4217 import Currency

    try:
        exponent = Currency(code).exponent
    except ValueError:
        return None
    return exponent if isinstance(exponent, int) else None
