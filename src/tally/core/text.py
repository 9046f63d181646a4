"""Identifiers, reasons and metadata: the text a request carries."""

from __future__ import annotations

import json
import re
from typing import Any

from tally.core.errors import ValidationError
from tally.core.limits import ID_LENGTH_MAX, METADATA_BYTES_MAX, METADATA_DEPTH_MAX, REASON_LENGTH_MAX

_ID = re.compile(rf"[A-Za-z0-9_.:@-]{{1,{ID_LENGTH_MAX}}}")


def check_id(value: Any, field: str = "id") -> str:
    """An account or transfer id: 1-128 characters of `A-Z a-z 0-9 _ . : @ -`."""
    if type(value) is not str or _ID.fullmatch(value) is None:
        raise ValidationError(
            f"{field} must be 1-{ID_LENGTH_MAX} characters of A-Z a-z 0-9 _ . : @ -",
            field=field,
        )
    return value


def check_reason(value: Any, field: str = "reason") -> str | None:
    if value is None:
        return None
    if type(value) is not str:
        raise ValidationError(f"{field} must be a string", field=field)
    if len(value) > REASON_LENGTH_MAX:
        raise ValidationError(f"{field} must be at most {REASON_LENGTH_MAX} characters", field=field)
    if "\x00" in value:
        raise ValidationError(f"{field} must not contain NUL characters", field=field)
    if not _is_utf8(value):
        raise ValidationError(f"{field} must be Unicode text (no lone surrogates)", field=field)
    return value


def _is_utf8(text: str) -> bool:
    """Whether `text` can be stored: a lone surrogate has no UTF-8 form."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def check_metadata(value: Any, field: str = "metadata") -> dict[str, Any]:
    """A JSON object of at most 4 KiB (encoded), or None for an empty one."""
    if value is None:
        return {}
    if type(value) is not dict:
        raise ValidationError(f"{field} must be a JSON object", field=field)
    if value and _deeper_than(value, METADATA_DEPTH_MAX):
        raise ValidationError(f"{field} must nest at most {METADATA_DEPTH_MAX} objects and arrays deep", field=field)
    try:
        encoded = canonical_json(value)
    except (TypeError, ValueError) as error:
        raise ValidationError(f"{field} must hold only JSON values: {error}", field=field) from None
    if not _is_utf8(encoded):
        raise ValidationError(f"{field} must hold Unicode text (no lone surrogates)", field=field)
    if len(encoded.encode()) > METADATA_BYTES_MAX:
        raise ValidationError(f"{field} must be at most {METADATA_BYTES_MAX} bytes as JSON", field=field)
    # A deep copy through JSON: the record can never be changed by the caller later.
    copy: dict[str, Any] = json.loads(encoded)
    return copy


def _deeper_than(value: dict[str, Any], limit: int) -> bool:
    """Whether objects and arrays nest more than `limit` deep (without recursion, which is what it guards)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if type(item) is dict:
            stack.extend((inner, depth + 1) for inner in item.values() if type(inner) in (dict, list))
        elif type(item) is list:
            stack.extend((inner, depth + 1) for inner in item if type(inner) in (dict, list))
    return False


def canonical_json(value: Any) -> str:
    """The one JSON text of a value: sorted keys, no spaces, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
