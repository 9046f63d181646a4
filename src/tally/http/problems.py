"""problem+json (RFC 9457): the one shape of every error the service answers."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from tally.core.codes import HTTP_STATUS, Code
from tally.core.errors import LedgerError

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:tally:problem:"


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def status_for(code: str) -> int:
    try:
        return HTTP_STATUS[Code(code)]
    except ValueError:
        return 400


def problem(
    code: str | Code,
    detail: str,
    *,
    status: int | None = None,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    **members: Any,
) -> ProblemResponse:
    value = code.value if isinstance(code, Code) else code
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + value,
        "title": value.replace("_", " ").capitalize(),
        "status": status or status_for(value),
        "detail": detail,
        "code": value,
    }
    if field is not None:
        body["field"] = field
    body.update(members)
    return ProblemResponse(body, status_code=body["status"], headers=headers)


def from_error(error: LedgerError) -> ProblemResponse:
    members: dict[str, Any] = {}
    if error.transfer is not None:
        # A recorded rejection: the transfer as it reads back, seq and all.
        members["transfer"] = error.transfer.to_dict()
    headers = None
    if error.code == Code.RATE_LIMITED.value:
        headers = {"Retry-After": str(max(1, math.ceil(float(error.detail.get("retry_after", 1)))))}
    elif error.code == Code.UNAUTHENTICATED.value:
        headers = {"WWW-Authenticate": "Bearer"}
    field = error.field if error.field else ("body" if error.code == Code.VALIDATION_ERROR.value else None)
    return problem(error.code, error.message, field=field, headers=headers, **members)


def _field_from_loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("query", "path", "header", "body")]
    return ".".join(parts) or "body"


async def _ledger_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, LedgerError)
    return from_error(error)


async def _request_validation(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    first = error.errors()[0] if error.errors() else {"loc": (), "msg": "invalid request"}
    field = _field_from_loc(tuple(first.get("loc", ())))
    return problem(Code.VALIDATION_ERROR, f"{field}: {first.get('msg', 'invalid')}", field=field)


_HTTP_CODES = {
    404: Code.NOT_FOUND,
    405: Code.METHOD_NOT_ALLOWED,
    413: Code.PAYLOAD_TOO_LARGE,
    415: Code.UNSUPPORTED_MEDIA_TYPE,
    401: Code.UNAUTHENTICATED,
    403: Code.FORBIDDEN,
    429: Code.RATE_LIMITED,
    503: Code.UNAVAILABLE,
}


async def _http_exception(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    code = _HTTP_CODES.get(error.status_code)
    if code is None:  # e.g. a malformed request the framework refused itself
        code = Code.UNAVAILABLE if error.status_code >= 500 else Code.VALIDATION_ERROR
    detail = {
        Code.NOT_FOUND: f"no route {request.url.path}",
        Code.METHOD_NOT_ALLOWED: f"{request.method} is not allowed on {request.url.path}",
    }.get(code, str(error.detail))
    return problem(code, detail, headers=dict(error.headers or {}))


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LedgerError, _ledger_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
