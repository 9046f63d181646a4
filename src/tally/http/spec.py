"""How a route describes itself in the OpenAPI document (success, errors, body, security)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from tally.http.openapi import Models, json_response, problem_responses, request_body

COMMON_ERRORS = (401, 403, 404, 405, 422, 429, 503)
WRITE_ERRORS = (*COMMON_ERRORS, 409, 413, 415)


def route_doc(
    success: dict[int, tuple[Models, str]],
    *,
    body: type[BaseModel] | None = None,
    body_required: bool = True,
    errors: tuple[int, ...] = COMMON_ERRORS,
    public: bool = False,
) -> dict[str, Any]:
    """Keyword arguments for a route decorator."""
    responses: dict[int | str, dict[str, Any]] = {
        status: json_response(model, text) for status, (model, text) in success.items()
    }
    responses.update(problem_responses(*errors))
    extra: dict[str, Any] = {} if public else {"security": [{"bearer": []}]}
    if body is not None:
        extra.update(request_body(body, required=body_required))
    return {
        "status_code": min(success),
        "response_model": None,
        "responses": responses,
        "openapi_extra": extra,
    }
