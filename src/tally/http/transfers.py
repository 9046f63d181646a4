"""/v1/transfers: move money, hold and settle it, give it back; read transfers.

Replays follow API.md section 2: the first request answers 201 (or the
rejection's problem), the same request again 200 with the transfer as it is now
(or the same rejection), and the same id with other fields `id_conflict`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from tally.core import commands
from tally.core.commands import Command
from tally.core.errors import AccountNotFound, LedgerError, ValidationError
from tally.core.limits import PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX
from tally.core.text import check_id
from tally.core.transfer import Transfer
from tally.engine import Written
from tally.http import models as m
from tally.http.auth import Caller
from tally.http.body import object_from, validate
from tally.http.service import (
    PlainWriteRoute,
    Reader,
    Service,
    ServiceDep,
    Writer,
    body,
    get_service_now,
    known_query,
    read,
    submit,
    write,
)
from tally.http.spec import WRITE_ERRORS, route_doc
from tally.ids import new_id

router = APIRouter(prefix="/v1/transfers", tags=["transfers"], dependencies=[Depends(known_query)])

IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", max_length=200, description="The transfer id, if the body has none.")
]
DryRun = Annotated[bool, Query(description="Check the transfer without committing it.")]
TRANSFER_FIELDS = ("currency", "reason", "metadata", "pending", "expires_in", "on_expiry")


def _transfer_id(body_id: str | None, header: str | None) -> str:
    """The transfer's id: the Idempotency-Key header, the body's, or a new one."""
    if header is not None:
        check_id(header, "Idempotency-Key")
        if body_id is not None and body_id != header:
            raise ValidationError("the body's id differs from the Idempotency-Key header", field="id")
        return header
    return body_id if body_id is not None else new_id()


def _counted(service: Service, outcome: str) -> None:
    service.metrics.transfer_outcome(outcome)


def _write(service: Service, command: Command, *, dry_run: bool = False) -> JSONResponse:
    """201 for the copy of a request that recorded the transfer, 200 for a replay or a dry run."""
    try:
        written = service.ledger.write(command, dry_run=dry_run)
    except LedgerError as error:
        _counted(service, error.code)
        raise
    return _answer(service, written, dry_run)


async def _submitted(request: Request, service: Service, command: Command) -> JSONResponse:
    """`_write`'s answer, the write made by `submit` (concurrent requests' writes gathered)."""
    try:
        written = await submit(request, command)
    except LedgerError as error:
        _counted(service, error.code)
        raise
    return _answer(service, written, False)


def _answer(service: Service, written: Written, dry_run: bool) -> JSONResponse:
    transfer = written.result
    assert isinstance(transfer, Transfer), "write() raises every refusal"
    _counted(service, transfer.status)
    return JSONResponse(transfer.to_dict(), status_code=201 if written.created and not dry_run else 200)


@router.post(
    "",
    **route_doc({201: (m.Transfer, "the new transfer (posted or pending)"),
                 200: (m.Transfer, "a replay, or a dry run: the transfer as it is (or would be)")},
                body=m.TransferRequest, errors=WRITE_ERRORS),
)  # fmt: skip
async def create_transfer(
    request: Request,
    service: ServiceDep,
    caller: Writer,
    data: Annotated[m.TransferRequest, body(m.TransferRequest)],
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRun = False,
) -> Any:
    if dry_run:
        return await write(request, lambda: _create(service, caller, data, idempotency_key, dry_run))
    return await _submitted(request, service, _create_command(caller, data, idempotency_key))


def _create(
    service: Service, caller: Caller, data: m.TransferRequest, idempotency_key: str | None, dry_run: bool
) -> JSONResponse:
    return _write(service, _create_command(caller, data, idempotency_key), dry_run=dry_run)


def _create_command(caller: Caller, data: m.TransferRequest, idempotency_key: str | None) -> Command:
    id = _transfer_id(data.id, idempotency_key)
    caller.account_in_scope(data.source, "source")
    options = {name: getattr(data, name) for name in TRANSFER_FIELDS}
    return commands.create_transfer(data.source, data.destination, data.amount, id=id, **options)


class PlainTransferRoute(PlainWriteRoute):
    """`POST /v1/transfers` in its plain form, the hottest request, without FastAPI's machinery.

    Plain: no query string, no Idempotency-Key header, a Content-Length (over
    the limit, BodyLimitMiddleware has already answered 413). It takes the same
    steps as `create_transfer` in the same order (the caller's key, then the
    body, strictly parsed and validated by the same functions, then the same
    write), without FastAPI's routing and dependency solving: server CPU per
    transfer request 1.55 -> 1.2 ms, 16 clients 660 -> 840 transfers/s
    (SQLite). How the steps are made, on each store: `PlainWriteRoute`. Any
    other form does not match here and goes to the documented route, which
    also gives the OpenAPI description of both; tests/http/test_plain_route.py
    sends every case both ways and compares.
    """

    def __init__(self) -> None:
        super().__init__("/v1/transfers")

    def plain(self, scope: Scope) -> bool:
        return super().plain(scope) and not any(name == b"idempotency-key" for name, _ in scope["headers"])

    def command(self, request: Request, raw: bytes, caller: Caller) -> Command:
        return _plain_command(request, raw, caller)

    def answer(self, service: Service, written: Written) -> Response:
        return _answer(service, written, False)

    def refused(self, service: Service, error: LedgerError) -> None:
        _counted(service, error.code)


def _plain_command(request: Request, raw: bytes, caller: Caller) -> Command:
    """The plain request's command, after its key (`caller`): its body, strictly parsed and validated."""
    return _create_command(caller, validate(m.TransferRequest, object_from(request, raw)), None)


@router.post(
    "/batch",
    **route_doc({200: (m.BatchResults, "results in request order")}, body=m.BatchRequest, errors=WRITE_ERRORS),
)
def create_batch(
    service: ServiceDep,
    caller: Writer,
    data: Annotated[m.BatchRequest, body(m.BatchRequest)],
    dry_run: DryRun = False,
) -> Any:
    # In a thread, even alone: a batch of 1,000 commits in tens of ms, which
    # would hold up every other request on the loop, to save a 0.2 ms hand-off.
    for index, item in enumerate(data.transfers):
        caller.account_in_scope(item.source, f"transfers[{index}].source")
    items = [item.model_dump(exclude_none=True) for item in data.transfers]
    service.metrics.batch_size.observe(len(items))
    results = service.ledger.transfer_batch(items, atomic=data.atomic, dry_run=dry_run)
    for result in results:
        _counted(service, result.status)
    return JSONResponse({"results": [t.to_dict() for t in results]})


@router.get("", **route_doc({200: (m.TransferPage, "transfers in seq order")}))
def list_transfers(
    service: ServiceDep,
    caller: Reader,
    account: Annotated[str | None, Query(max_length=128)] = None,
    status: Annotated[Literal["posted", "pending", "voided", "expired", "rejected"] | None, Query()] = None,
    after: Annotated[str | None, Query(max_length=20, description="cursor from a previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = PAGE_SIZE_DEFAULT,
) -> Any:
    prefix = None
    if account is not None:
        caller.account_in_scope(account, "account")
    else:
        prefix = caller.scope
    page = service.ledger.transfers(account=account, status=status, after=after, limit=limit, prefix=prefix)
    return JSONResponse(page.to_dict())


@router.get("/{id}", **route_doc({200: (m.Transfer, "the transfer as it is now")}))
async def get_transfer(request: Request, service: ServiceDep, caller: Reader, id: str) -> Any:
    def answer() -> JSONResponse:
        return JSONResponse(caller.visible_transfer(service.ledger.get_transfer(id), id).to_dict())

    return await read(request, answer)


def _resolvable(service: Service, caller: Caller, id: str) -> None:
    """A scoped key settles or releases only holds on its own money (the source)."""
    if caller.scope is None:
        return
    transfer = caller.visible_transfer(service.ledger.get_transfer(id), id)
    if not caller.in_scope(transfer.source):
        raise AccountNotFound(f"no account {transfer.source}", field="source")


def _resolve_command(
    service: Service, caller: Caller, id: str, action: Literal["post", "void"], amount: Any
) -> Command:
    _resolvable(service, caller, id)
    return commands.resolve_pending(id, action, amount)


def _resolved(written: Written) -> JSONResponse:
    transfer = written.result
    assert isinstance(transfer, Transfer), "write() raises every refusal"
    return JSONResponse(transfer.to_dict())


async def _resolve(
    request: Request, service: Service, caller: Caller, id: str, action: Literal["post", "void"], amount: Any = None
) -> JSONResponse:
    """Post or void the hold `id`: by `submit` when nothing needs reading first, else the
    scoped key's read of the hold and the write together."""
    if caller.scope is None:  # nothing to read first
        return _resolved(await submit(request, _resolve_command(service, caller, id, action, amount)))

    def answer() -> JSONResponse:
        return _resolved(service.ledger.write(_resolve_command(service, caller, id, action, amount)))

    return await write(request, answer)


@router.post(
    "/{id}/post",
    **route_doc({200: (m.Transfer, "the transfer, posted")}, body=m.PostRequest, body_required=False,
                errors=WRITE_ERRORS),
)  # fmt: skip
async def post_transfer(
    request: Request,
    service: ServiceDep,
    caller: Writer,
    id: str,
    data: Annotated[m.PostRequest, body(m.PostRequest, required=False)],
) -> Any:
    return await _resolve(request, service, caller, id, "post", data.amount)


@router.post(
    "/{id}/void",
    **route_doc({200: (m.Transfer, "the transfer, voided")}, body=m.VoidRequest, body_required=False,
                errors=WRITE_ERRORS),
)  # fmt: skip
async def void_transfer(
    request: Request,
    service: ServiceDep,
    caller: Writer,
    id: str,
    data: Annotated[m.VoidRequest, body(m.VoidRequest, required=False)],
) -> Any:
    return await _resolve(request, service, caller, id, "void")


class PlainResolveRoute(PlainWriteRoute):
    """`POST /v1/transfers/{id}/post` or `/void` in its plain form (no query string, a
    Content-Length, the body empty or a JSON object), without FastAPI's machinery.

    The same steps as `post_transfer` and `void_transfer` in the same order: the
    caller's key, the body, a scoped key's read of the hold (`_resolvable`), the
    write. Across a network these requests and plain transfers that arrive
    together go to one thread together (`PlainWriteRoute`): workload 5's posts
    and voids, where the documented route makes two trips to a thread and two
    round trips, the key's and the write's (bench/ANALYSIS.md).
    tests/http/test_plain_route.py sends every case both ways and compares.
    """

    def __init__(self, action: Literal["post", "void"]) -> None:
        super().__init__(f"/v1/transfers/{{id}}/{action}")
        self.action: Literal["post", "void"] = action

    def command(self, request: Request, raw: bytes, caller: Caller) -> Command:
        id: str = request.path_params["id"]
        data = object_from(request, raw, required=False)
        amount = None
        if self.action == "post":
            amount = validate(m.PostRequest, data).amount
        else:
            validate(m.VoidRequest, data)
        return _resolve_command(get_service_now(request), caller, id, self.action, amount)

    def answer(self, service: Service, written: Written) -> Response:
        return _resolved(written)


@router.post(
    "/{id}/reverse",
    **route_doc({201: (m.Transfer, "the new transfer, with reverses"), 200: (m.Transfer, "a replay")},
                body=m.ReverseRequest, body_required=False, errors=WRITE_ERRORS),
)  # fmt: skip
async def reverse_transfer(
    request: Request,
    service: ServiceDep,
    caller: Writer,
    id: str,
    data: Annotated[m.ReverseRequest, body(m.ReverseRequest, required=False)],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    ledger = service.ledger

    def answer() -> JSONResponse:
        if caller.scope is not None:
            original = caller.visible_transfer(ledger.get_transfer(id), id)
            # The money goes back the way it came: out of the original's destination.
            if not caller.in_scope(original.destination):
                raise AccountNotFound(f"no account {original.destination}", field="source")
        new = _transfer_id(data.id, idempotency_key)
        reversal = commands.reverse_transfer(id, id=new, amount=data.amount, reason=data.reason, metadata=data.metadata)
        return _write(service, reversal)

    return await write(request, answer)
