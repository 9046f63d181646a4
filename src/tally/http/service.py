"""What every route shares: the ledger, the settings, limits and metrics."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

import anyio
from fastapi import Depends
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

from tally.core.commands import Command
from tally.core.errors import LedgerError, Unavailable, ValidationError
from tally.engine import WriteNeeded, Written, reads_only, writes_at_once
from tally.http.auth import Caller, RateLimiter, bearer_token, identify, identify_by
from tally.http.body import content_length, read_object, validate
from tally.http.metrics import Metrics
from tally.keys import authenticate_all
from tally.ledger import Ledger
from tally.settings import Settings

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")
J = TypeVar("J")


class Gathering(Generic[J, R]):
    """Jobs of concurrent requests, gathered on the event loop and handed to one
    thread together: `run_all(jobs)` answers each job in its place, with its
    result or its exception. The jobs gathered are those that reach `gather` in
    the same turn of the loop; later ones wait for the next hand-off, which may
    run beside this one (bench/ANALYSIS.md: one hand-off instead of one each)."""

    def __init__(self, run_all: Callable[[list[J]], list[R | Exception]]) -> None:
        self.run_all = run_all
        self._gathered: list[tuple[J, asyncio.Future[R]]] = []
        self._handing: set[asyncio.Task[None]] = set()

    async def gather(self, job: J) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._gathered.append((job, future))
        if len(self._gathered) == 1:
            # A context of its own: no one request's context variables go with the group.
            task = loop.create_task(self._hand_over(), context=contextvars.Context())
            self._handing.add(task)
            task.add_done_callback(self._handing.discard)
        return await future

    async def _hand_over(self) -> None:
        gathered, self._gathered = self._gathered, []
        interrupted = Unavailable("the write was interrupted; retry with the same id")
        answers: list[R | Exception] = [interrupted] * len(gathered)
        try:
            answers = await run_in_threadpool(self.run_all, [job for job, _ in gathered])
        except Exception as error:  # noqa: BLE001 - each request answers it (a closed ledger: 503)
            answers = [error] * len(gathered)
        finally:  # every request gets an answer, whatever happened here
            for (_, future), answer in zip(gathered, answers, strict=True):
                if future.done():  # its request was cancelled: the write stands, as in a thread
                    continue
                if isinstance(answer, Exception):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)


@dataclass
class Service:
    ledger: Ledger
    settings: Settings
    metrics: Metrics
    limiter: RateLimiter
    writes: int = 0  # write requests in flight (`write`, `submit`, the plain write routes), not answered yet
    # Commands of concurrent requests, for one thread together (`submit`, `Ledger.write_all`).
    commands: Gathering[Command, Written] = field(init=False)
    # Across a network: whole plain write requests, for one thread together (`PlainWriteRoute`).
    requests: Gathering[PlainWrite, Response] = field(init=False)

    def __post_init__(self) -> None:
        self.commands = Gathering(self.ledger.write_all)
        self.requests = Gathering(_plain_writes)


def get_service_now(request: Request) -> Service:
    service: Service = request.app.state.tally
    return service


# Dependencies are `async def`: FastAPI runs a plain `def` dependency in the
# thread pool, and a hand-off there costs 0.1-0.2 ms of CPU on a 2-vCPU
# machine (bench/ANALYSIS.md). The caller's key is a database read, made by
# `read`: on the event loop where the store answers in this process, else in
# a thread.
async def get_service(request: Request) -> Service:
    return get_service_now(request)


def any_caller(request: Request) -> Caller:
    """The caller of `request`, from its key (401 without a valid one, 429 over its rate)."""
    service = get_service_now(request)
    return identify(request, service.ledger, service.limiter)


def writer_caller(request: Request) -> Caller:
    caller = any_caller(request)
    caller.require_write()
    return caller


async def _any_caller(request: Request) -> Caller:
    return await read(request, lambda: any_caller(request))


async def _writer_caller(request: Request) -> Caller:
    caller = await _any_caller(request)
    caller.require_write()
    return caller


async def _admin_caller(request: Request) -> Caller:
    caller = await _any_caller(request)
    caller.require_admin()
    return caller


async def read(request: Request, answer: Callable[[], R]) -> R:
    """`answer()`, a read of one row or two: on the event loop where the store
    reads in this process (SQLite), saving the hand-off to a thread; in a thread
    across a network, and wherever the read needs a write (a hold came due and
    expires first), which may wait for other writes."""
    if get_service_now(request).ledger.store.local_reads:
        # WriteNeeded: nothing was written, and the same read goes again, in a thread.
        with contextlib.suppress(WriteNeeded), reads_only():
            return answer()
    return await run_in_threadpool(answer)


async def write(request: Request, answer: Callable[[], R]) -> R:
    """`answer()`, a write: on the event loop when it is the only write request in
    flight and the store writes in this process (SQLite), saving the hand-off to a
    thread (bench/ANALYSIS.md); in a thread otherwise, where concurrent writes
    wait for each other and commit as one group, and wherever the write would
    wait (another thread is writing, another process holds the file's lock)."""
    return await _written(request, answer, lambda: run_in_threadpool(answer))


async def submit(request: Request, command: Command) -> Written:
    """`ledger.write(command)`, as `write` makes a write, except that where
    concurrent requests' writes go to a thread, those that arrive together go to
    one thread together (`Gathering`): the ones a single thread hand-off
    would each have made, and the leader's wake-ups of the others, are saved."""
    service = get_service_now(request)
    return await _written(request, lambda: service.ledger.write(command), lambda: service.commands.gather(command))


async def _written(request: Request, answer: Callable[[], R], together: Callable[[], Awaitable[R]]) -> R:
    """`answer()` on the loop if alone in flight (SQLite), else `together()`; across a network, in a thread."""
    service = get_service_now(request)
    if not service.ledger.store.local_writes:
        return await run_in_threadpool(answer)
    service.writes += 1
    try:
        # Requests already waiting for the loop get as far as this first, so
        # that writes arriving together go to a thread and commit together.
        await anyio.sleep(0)
        if service.writes == 1:
            # WriteNeeded: nothing was written, and the same write goes again, in a thread.
            with contextlib.suppress(WriteNeeded), writes_at_once():
                return answer()
        return await together()
    finally:
        service.writes -= 1


class PlainRoute(Route):
    """A documented request in its plain form (`method`, no query string, and what
    `plain` accepts), served without FastAPI's routing and dependency solving; any
    other form goes to the documented route, which gives the OpenAPI description.

    It names itself as `scope["route"]`, as FastAPI's routes do, so that metrics
    and the log line carry its template, not a path with an id in it.
    """

    def __init__(self, path: str, endpoint: Callable[[Request], Awaitable[Response]], method: str) -> None:
        super().__init__(path, endpoint, methods=[method], include_in_schema=False)
        self.method = method  # one: Starlette would take HEAD with GET, the documented route does not

    def plain(self, scope: Scope) -> bool:
        return True

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] != self.method or scope["query_string"]:
            return Match.NONE, {}
        if not self.plain(scope):
            return Match.NONE, {}
        match, child = super().matches(scope)
        return match, {**child, "route": self} if match is Match.FULL else child


class PlainWriteRoute(PlainRoute, abc.ABC):
    """A write request in its plain form (POST, a declared Content-Length, no
    query string), served without FastAPI's machinery, in the documented
    route's steps and order: the caller's key (a writer's), then `command`
    (the body, strictly parsed and validated, and any read the command
    needs), then the write, then `answer`; `refused` sees a refusal on its way
    to its problem answer.

    On SQLite the key and the command are read on the event loop and the write
    goes by `submit`. Across a network all of it goes in one trip to a thread;
    requests that arrive together, of any plain write route, go to one thread
    together, their keys read in one query and their writes made together
    (`_plain_writes`, bench/ANALYSIS.md).
    """

    def __init__(self, path: str) -> None:
        super().__init__(path, self._endpoint, "POST")

    def plain(self, scope: Scope) -> bool:
        # A chunked body is read by the documented route, whose body errors come after the key's.
        return content_length(scope) is not None

    @abc.abstractmethod
    def command(self, request: Request, raw: bytes, caller: Caller) -> Command:
        """The request's command, after its key (`caller`): its body, and any read it needs."""

    @abc.abstractmethod
    def answer(self, service: Service, written: Written) -> Response:
        """The answer to a write made."""

    def refused(self, service: Service, error: LedgerError) -> None:
        """A write refused (`error` is its answer): nothing to do unless the route counts it."""

    async def _endpoint(self, request: Request) -> Response:
        raw = await request.body()  # declared and within the limit: reading it cannot fail first
        service = get_service_now(request)
        if not service.ledger.store.local_writes:
            alone = not service.writes  # no one to gather with: one trip
            service.writes += 1
            try:
                if alone:
                    return await run_in_threadpool(self._alone, request, raw)
                return await service.requests.gather((self, request, raw))
            finally:
                service.writes -= 1
        caller = await read(request, lambda: writer_caller(request))
        command = await read(request, lambda: self.command(request, raw, caller))
        try:
            written = await submit(request, command)
        except LedgerError as error:
            self.refused(service, error)
            raise
        return self.answer(service, written)

    def _alone(self, request: Request, raw: bytes) -> Response:
        (answer,) = _plain_writes([(self, request, raw)])  # the same steps as a request among others
        if isinstance(answer, Exception):
            raise answer
        return answer


PlainWrite = tuple[PlainWriteRoute, Request, bytes]


def _plain_writes(jobs: list[PlainWrite]) -> list[Response | Exception]:
    """Plain write requests of one app, in one thread, each answered in its place: their
    keys in one read, then each request's own steps (key, role, command), then their
    writes, committed as concurrent writes are (`Ledger.write_all`)."""
    service = get_service_now(jobs[0][1])
    keys = authenticate_all(service.ledger, filter(None, (bearer_token(request) for _, request, _ in jobs)))
    answers: dict[int, Response | Exception] = {}
    sent: dict[int, Command] = {}
    for index, (route, request, raw) in enumerate(jobs):
        try:
            caller = identify_by(request, keys.get, service.limiter)
            caller.require_write()
            sent[index] = route.command(request, raw, caller)
        except Exception as error:  # noqa: BLE001 - this request's answer
            answers[index] = error
    for index, answer in zip(sent, service.ledger.write_all(list(sent.values())), strict=True):
        route = jobs[index][0]
        if isinstance(answer, LedgerError):
            route.refused(service, answer)
        answers[index] = answer if isinstance(answer, Exception) else route.answer(service, answer)
    return [answers[index] for index in range(len(jobs))]


ServiceDep = Annotated[Service, Depends(get_service)]
Reader = Annotated[Caller, Depends(_any_caller)]
Writer = Annotated[Caller, Depends(_writer_caller)]
Admin = Annotated[Caller, Depends(_admin_caller)]


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
