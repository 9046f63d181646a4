"""Currencies: a code and a scale (the number of decimals of its minor unit).

ISO 4217 codes carry their own scale; any other code must be registered first.
The scale table is looked up through a function the engine passes in, so that
this module stays free of I/O and of third-party data packages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tally.core.errors import ValidationError
from tally.core.limits import CURRENCY_SCALE_MAX

_CODE = re.compile(r"[A-Z][A-Z0-9_]{1,15}")


@dataclass(frozen=True, slots=True)
class Currency:
    code: str
    scale: int

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "scale": self.scale}


def check_currency_code(value: Any, field: str = "currency") -> str:
    """2-16 characters, an upper-case letter then upper-case letters, digits or `_`."""
    if type(value) is not str or _CODE.fullmatch(value) is None:
        raise ValidationError(
            f"{field} must be a currency code like USD (2-16 of A-Z 0-9 _, starting with a letter)",
            field=field,
        )
    return value


def check_scale(value: Any, field: str = "scale") -> int:
    if type(value) is not int or not 0 <= value <= CURRENCY_SCALE_MAX:
        raise ValidationError(f"{field} must be an integer from 0 to {CURRENCY_SCALE_MAX}", field=field)
    return value
