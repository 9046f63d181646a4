"""What every route shares: the ledger, the settings, limits and metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends
from pydantic import BaseModel
from starlette.requests import Request

from tally.core.errors import ValidationError
from tally.http.auth import Caller, RateLimiter, identify
from tally.http.body import read_object, validate
from tally.http.metrics import Metrics
from tally.ledger import Ledger
from tally.settings import Settings

M = TypeVar("M", bound=BaseModel)


@dataclass
class Service:
    ledger: Ledger
    settings: Settings
    metrics: Metrics
    limiter: RateLimiter


def get_service_now(request: Request) -> Service:
    service: Service = request.app.state.tally
    return service


# Dependencies that do not block are `async def`: FastAPI runs a plain `def`
# dependency in the thread pool, one hop (about 0.1 ms of event-loop and
# thread work) per dependency per request. The caller's key is looked up in
# the database, so that one stays in a thread.
async def get_service(request: Request) -> Service:
    return get_service_now(request)


def any_caller(request: Request) -> Caller:
    service = get_service_now(request)
    return identify(request, service.ledger, service.limiter)


def writer_caller(request: Request) -> Caller:
    caller = any_caller(request)
    caller.require_write()
    return caller


def admin_caller(request: Request) -> Caller:
    caller = any_caller(request)
    caller.require_admin()
    return caller


ServiceDep = Annotated[Service, Depends(get_service)]
Reader = Annotated[Caller, Depends(any_caller)]
Writer = Annotated[Caller, Depends(writer_caller)]
Admin = Annotated[Caller, Depends(admin_caller)]


def body(model: type[M], *, required: bool = True) -> Any:
    """A dependency: the request body parsed strictly and validated as `model`."""

    async def parse(request: Request) -> M:
        return validate(model, await read_object(request, required=required))

    return Depends(parse)


async def known_query(request: Request) -> None:
    """Unknown query parameters are refused like unknown body fields (a typo must not pass silently)."""
    route: Any = request.scope.get("route")
    if route is None or not request.query_params:
        return
    allowed = _query_names(route)
    for name in request.query_params:
        if name not in allowed:
            raise ValidationError(f"unknown query parameter: {name}", field=name)


def _query_names(route: Any) -> frozenset[str]:
    names: set[str] = set()
    pending = [route.dependant]
    while pending:  # the route's parameters and those of its dependencies
        dependant = pending.pop()
        names.update(param.alias for param in dependant.query_params)
        pending.extend(dependant.dependencies)
    return frozenset(names)
