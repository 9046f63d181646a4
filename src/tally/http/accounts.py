"""/v1/accounts: open, read, change limits, freeze, close; balances and statements."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from tally.core import commands
from tally.core.account import Account
from tally.core.codes import Code
from tally.core.errors import error_for
from tally.core.limits import ID_LENGTH_MAX, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX
from tally.http import models as m
from tally.http.auth import Caller
from tally.http.service import (
    PlainRoute,
    Reader,
    ServiceDep,
    Writer,
    any_caller,
    body,
    get_service_now,
    known_query,
    read,
    write,
)
from tally.http.spec import WRITE_ERRORS, route_doc

router = APIRouter(prefix="/v1/accounts", tags=["accounts"], dependencies=[Depends(known_query)])

PathId = Annotated[str, "account id"]
# What a scoped key (a user's own) may not do to its own accounts: lowering its
# floor, skipping a clearing period, or lifting a freeze would let a user spend
# money the website never gave them.
SCOPED_PATCH_FORBIDDEN = ("min_balance", "clearing_seconds")


def _account(account: Account, status: int = 200) -> JSONResponse:
    return JSONResponse(account.to_dict(), status_code=status)


def _floor_is_safe(min_balance: int | None) -> bool:
    return min_balance is not None and min_balance >= 0


@router.post(
    "",
    **route_doc({201: (m.Account, "the new account"), 200: (m.Account, "an identical replay")},
                body=m.AccountCreate, errors=WRITE_ERRORS),
)  # fmt: skip
async def create_account(
    request: Request, service: ServiceDep, caller: Writer, data: Annotated[m.AccountCreate, body(m.AccountCreate)]
) -> Any:
    caller.account_in_scope(data.id, "id")
    if caller.scope is not None and not _floor_is_safe(data.min_balance):
        raise error_for(Code.FORBIDDEN, "a scoped key may not open an account that goes negative", field="min_balance")
    command = commands.open_account(
        data.id, data.currency, data.min_balance, data.max_balance, data.clearing_seconds, data.metadata
    )
    written = await write(request, lambda: service.ledger.write(command))
    assert isinstance(written.result, Account), "write() raises every refusal"
    return _account(written.result, 201 if written.created else 200)


@router.get("", **route_doc({200: (m.AccountPage, "accounts in id order")}))
def list_accounts(
    service: ServiceDep,
    caller: Reader,
    prefix: Annotated[str | None, Query(max_length=ID_LENGTH_MAX)] = None,
    after: Annotated[str | None, Query(max_length=ID_LENGTH_MAX)] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = PAGE_SIZE_DEFAULT,
) -> Any:
    scope = caller.scope
    if scope is not None:
        if prefix is None or scope.startswith(prefix):
            prefix = scope
        elif not prefix.startswith(scope):
            return JSONResponse({"accounts": [], "next": None})
    return JSONResponse(service.ledger.accounts(prefix, after=after, limit=limit).to_dict())


@router.get("/{id}", **route_doc({200: (m.Account, "the account")}))
async def get_account(request: Request, service: ServiceDep, caller: Reader, id: PathId) -> Any:
    caller.account_in_scope(id)
    return await read(request, lambda: _account(service.ledger.account(id)))


@router.patch(
    "/{id}",
    **route_doc({200: (m.Account, "the account as changed")}, body=m.AccountPatch, errors=WRITE_ERRORS),
)
async def update_account(
    request: Request,
    service: ServiceDep,
    caller: Writer,
    id: PathId,
    data: Annotated[m.AccountPatch, body(m.AccountPatch)],
) -> Any:
    caller.account_in_scope(id)
    changes = {name: getattr(data, name) for name in data.model_fields_set}
    if caller.scope is not None:
        for name in SCOPED_PATCH_FORBIDDEN:
            if name in changes:
                raise error_for(Code.FORBIDDEN, f"a scoped key may not change {name}", field=name)
    return _account(await write(request, lambda: service.ledger.update_account(id, **changes)))


def _status_route(action: str) -> None:
    doc = route_doc({200: (m.Account, f"the account after {action}")}, body=m.ReasonBody, body_required=False,
                    errors=WRITE_ERRORS)  # fmt: skip

    @router.post(f"/{{id}}/{action}", name=f"{action}_account", **doc)
    async def change_status(
        request: Request,
        service: ServiceDep,
        caller: Writer,
        id: PathId,
        data: Annotated[m.ReasonBody, body(m.ReasonBody, required=False)],
    ) -> Any:
        caller.account_in_scope(id)
        if action == "unfreeze":
            caller.require_unscoped("lift a freeze")
        ledger = service.ledger
        method = {"freeze": ledger.freeze, "unfreeze": ledger.unfreeze, "close": ledger.close_account}[action]
        return _account(await write(request, lambda: method(id, reason=data.reason)))


for _action in ("freeze", "unfreeze", "close"):
    _status_route(_action)


@router.get(
    "/{id}/balance",
    **route_doc({200: ((m.Balance, m.BalanceAsOf), "the balance now, or the posted balance as of a seq or time")}),
)
async def get_balance(
    request: Request,
    service: ServiceDep,
    caller: Reader,
    id: PathId,
    as_of: Annotated[str | None, Query(max_length=64, description="a seq, or an RFC 3339 time")] = None,
) -> Any:
    caller.account_in_scope(id)
    ledger = service.ledger

    def answer() -> JSONResponse:
        result = ledger.balance(id) if as_of is None else ledger.balance(id, as_of)
        return JSONResponse(result.to_dict())

    return await read(request, answer)


class PlainBalanceRoute(PlainRoute):
    """`GET /v1/accounts/{id}/balance` without a query string, the commonest read, without
    FastAPI's machinery.

    It takes `get_balance`'s steps in the same order (the caller's key, the
    account's scope, the balance), through the same functions, without
    FastAPI's routing and dependency solving: 0.53x the time of the
    documented route in one process (bench/ANALYSIS.md). A request with a
    query string (`as_of`, or one refused as unknown), or another method,
    goes to the documented route, which also gives the OpenAPI description;
    tests/http/test_plain_route.py sends every case both ways and compares.
    Across a network the key and the balance go in one trip to a thread,
    where the documented route makes two.
    """

    def __init__(self) -> None:
        super().__init__("/v1/accounts/{id}/balance", self._endpoint, "GET")

    async def _endpoint(self, request: Request) -> Response:
        id: str = request.path_params["id"]
        ledger = get_service_now(request).ledger

        def answer(caller: Caller) -> JSONResponse:
            caller.account_in_scope(id)
            return JSONResponse(ledger.balance(id).to_dict())

        if not ledger.store.local_reads:
            # Across a network: the key and the balance in one trip to a thread, not two.
            return await run_in_threadpool(lambda: answer(any_caller(request)))
        caller = await read(request, lambda: any_caller(request))
        return await read(request, lambda: answer(caller))


@router.get("/{id}/entries", **route_doc({200: (m.EntryPage, "the statement, one entry per posted movement")}))
def get_entries(
    service: ServiceDep,
    caller: Reader,
    id: PathId,
    after: Annotated[str | None, Query(max_length=20, description="cursor from a previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = PAGE_SIZE_DEFAULT,
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "asc",
) -> Any:
    caller.account_in_scope(id)
    return JSONResponse(service.ledger.entries(id, after=after, limit=limit, order=order).to_dict())
