"""Request bodies: a size limit before anything is parsed, and a strict JSON parser.

Hostile input must never reach the engine. Python's `json` module accepts
duplicate keys (the last one wins), `NaN` and `Infinity`, and integers of any
length; a ledger must refuse all of them, so bodies are parsed here, never by
the framework.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tally.core.codes import Code
from tally.core.errors import ValidationError, error_for
from tally.http.problems import problem

# Longer integers are never valid anywhere (2**63 has 19 digits); refusing them
# before int() also avoids quadratic parsing of huge digit strings.
INTEGER_DIGITS_MAX = 40
JSON_MEDIA_TYPES = ("application/json",)

M = TypeVar("M", bound=BaseModel)


class BodyLimitMiddleware:
    """413 for bodies over the limit: by Content-Length, or while a chunked body streams in."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = content_length(scope)
        if declared is not None and declared > self.limit:
            await problem(Code.PAYLOAD_TOO_LARGE, f"the body is over {self.limit} bytes")(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise error_for(Code.PAYLOAD_TOO_LARGE, f"the body is over {self.limit} bytes")
            return message

        await self.app(scope, limited, send)


def content_length(scope: Scope) -> int | None:
    """The declared Content-Length, or None (absent, or not a number: a chunked body)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValidationError(f"duplicate key {key!r} in the JSON body", field=key)
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValidationError(f"{name} is not a JSON number", field="body")


class _HugeInteger:
    """An integer literal too long for any field: every check refuses it by type."""

    def __repr__(self) -> str:
        return "<integer too large>"


def _integer(text: str) -> int | _HugeInteger:
    return _HugeInteger() if len(text) > INTEGER_DIGITS_MAX else int(text)


def parse_json(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("the body must be UTF-8 JSON", field="body") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant, parse_int=_integer)
    except json.JSONDecodeError as error:
        raise ValidationError(f"the body is not valid JSON: {error.msg} at {error.pos}", field="body") from None
    except RecursionError:
        raise ValidationError("the body nests too deeply", field="body") from None


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in JSON_MEDIA_TYPES or (media.startswith("application/") and media.endswith("+json"))


async def read_object(request: Request, *, required: bool = True) -> dict[str, Any]:
    """The request's JSON object; an empty body is `{}` where a body is optional."""
    return object_from(request, await request.body(), required=required)


def object_from(request: Request, raw: bytes, *, required: bool = True) -> dict[str, Any]:
    """The JSON object in `raw`, the body of `request` (already read)."""
    if not raw.strip():
        if required:
            raise ValidationError("a JSON object body is required", field="body")
        return {}
    if not _is_json(request.headers.get("content-type", "")):
        raise error_for(Code.UNSUPPORTED_MEDIA_TYPE, "send the body as application/json")
    value = parse_json(raw)
    if type(value) is not dict:
        raise ValidationError("the body must be a JSON object", field="body")
    return value


def field_name(loc: tuple[Any, ...]) -> str:
    """('transfers', 3, 'amount') -> 'transfers[3].amount'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def validate(model: type[M], data: dict[str, Any]) -> M:
    """`data` as `model`, strictly: no coercion, no unknown fields, the failing field named."""
    try:
        return model.model_validate(data, strict=True)
    except PydanticError as error:
        first = error.errors()[0]
        field = field_name(tuple(first["loc"]))
        if first["type"] == "extra_forbidden":
            message = f"unknown field: {field}"
        elif first["type"] == "missing":
            message = f"{field} is required"
        else:
            message = f"{field}: {first['msg']}"
        raise ValidationError(message, field=field) from None
