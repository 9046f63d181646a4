"""The OpenAPI document: every request body, response and error, generated from the models.

Bodies are parsed by `tally.http.body`, not by the framework, so the routes
describe their bodies here (`request_body`) and the models are added to the
document's components by `install_openapi`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from tally.http.models import REQUEST_MODELS, RESPONSE_MODELS
from tally.http.problems import PROBLEM_MEDIA_TYPE

REF = "#/components/schemas/{model}"

ERROR_STATUSES: dict[int, str] = {
    401: "unauthenticated: no key, or an unknown or revoked one",
    403: "forbidden: the key's role or scope does not allow this",
    404: "account_not_found, transfer_not_found or not_found",
    405: "method_not_allowed",
    409: "a business rule refused the request (id_conflict, insufficient_funds …)",
    413: "payload_too_large: the body is over 1 MiB",
    415: "unsupported_media_type: send application/json",
    422: "validation_error, with the failing `field`",
    429: "rate_limited: wait for Retry-After seconds",
    503: "unavailable: retry with the same id",
}


def ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


Models = type[BaseModel] | tuple[type[BaseModel], ...]


def json_response(model: Models, description: str) -> dict[str, Any]:
    schema = {"anyOf": [ref(one) for one in model]} if isinstance(model, tuple) else ref(model)
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    from tally.http.models import Problem

    chosen = statuses or tuple(ERROR_STATUSES)
    return {
        status: {"description": ERROR_STATUSES[status], "content": {PROBLEM_MEDIA_TYPE: {"schema": ref(Problem)}}}
        for status in chosen
    }


def request_body(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": ref(model)}},
        }
    }


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in (*REQUEST_MODELS, *RESPONSE_MODELS):
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = document.setdefault("components", {})
            components.setdefault("schemas", {}).update(_schemas())
            for name in ("HTTPValidationError", "ValidationError"):
                components["schemas"].pop(name, None)
            components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
