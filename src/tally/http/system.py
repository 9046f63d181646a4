"""Keys, currencies, the audit head, the events feed, health and metrics."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import JSONResponse, Response

from tally.core import commands
from tally.core import events as ev
from tally.core.codes import Code
from tally.core.currency import Currency
from tally.core.errors import LedgerError, error_for
from tally.core.events import Event
from tally.core.limits import EVENTS_WAIT_SECONDS_MAX, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX
from tally.core.text import check_id
from tally.currencies import iso_scale
from tally.http import models as m
from tally.http.auth import Caller
from tally.http.service import Admin, Reader, Service, ServiceDep, body, known_query, read
from tally.http.spec import WRITE_ERRORS, route_doc
from tally.keys import create_key, list_keys, revoke_key

router = APIRouter(tags=["system"], dependencies=[Depends(known_query)])

EVENTS_POLL_SECONDS = 0.05
# A scoped feed filters what it reads: at most this many pages per poll, so
# one request never scans the whole journal.
EVENTS_SCAN_PAGES_MAX = 20


@router.get("/v1/health", **route_doc({200: (m.Health, "the service and its database answer")}, errors=(503,),
                                      public=True))  # fmt: skip
async def health(request: Request, service: ServiceDep) -> Any:
    await read(request, service.ledger.store.head)  # raises (-> 503) when the database is away
    return JSONResponse({"status": "ok"})


@router.get("/metrics", include_in_schema=False)
def metrics(service: ServiceDep) -> Response:
    return Response(service.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


@router.get("/v1/audit/head", **route_doc({200: (m.AuditHead, "the head of the audit hash chain")}))
def audit_head(service: ServiceDep, caller: Admin) -> Any:
    seq, hash = service.ledger.audit_head()
    return JSONResponse({"seq": seq, "hash": hash})


# --- keys ------------------------------------------------------------------------------


@router.post("/v1/keys", **route_doc({201: (m.KeyCreated, "the new key; its token is never shown again")},
                                     body=m.KeyCreate, errors=WRITE_ERRORS))  # fmt: skip
def create_api_key(service: ServiceDep, caller: Admin, data: Annotated[m.KeyCreate, body(m.KeyCreate)]) -> Any:
    key, token = create_key(service.ledger, data.role, data.accounts, data.name)
    return JSONResponse({**key.to_dict(), "token": token}, status_code=201)


@router.get("/v1/keys", **route_doc({200: (m.KeyList, "every key, without tokens")}))
def list_api_keys(service: ServiceDep, caller: Admin) -> Any:
    return JSONResponse({"keys": [key.to_dict() for key in list_keys(service.ledger)]})


@router.delete("/v1/keys/{id}", **route_doc({200: (m.Key, "the key, revoked")}))
def revoke_api_key(service: ServiceDep, caller: Admin, id: str) -> Any:
    check_id(id)
    if not revoke_key(service.ledger, id):
        raise error_for(Code.NOT_FOUND, f"no active key {id}")
    revoked = next(key for key in list_keys(service.ledger) if key.id == id)
    return JSONResponse(revoked.to_dict())


# --- currencies -------------------------------------------------------------------------


@router.post("/v1/currencies", **route_doc({201: (m.Currency, "the registered currency"),
                                           200: (m.Currency, "it was already known with this scale")},
                                          body=m.CurrencyCreate, errors=WRITE_ERRORS))  # fmt: skip
def register_currency(
    service: ServiceDep, caller: Admin, data: Annotated[m.CurrencyCreate, body(m.CurrencyCreate)]
) -> Any:
    if iso_scale(data.code) is not None:
        # ISO 4217 codes are known from the start: nothing to record.
        return JSONResponse(service.ledger.register_currency(data.code, data.scale).to_dict())
    written = service.ledger.write(commands.register_currency(data.code, data.scale))
    assert isinstance(written.result, Currency), "write() raises every refusal"
    return JSONResponse(written.result.to_dict(), status_code=201 if written.created else 200)


# --- events ---------------------------------------------------------------------------------


@router.get("/v1/events", **route_doc({200: (m.EventPage, "journal events after `after`")}))
def list_events(
    service: ServiceDep,
    caller: Reader,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="a seq: answer events after it")] = 0,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = PAGE_SIZE_DEFAULT,
    wait: Annotated[float, Query(ge=0, le=EVENTS_WAIT_SECONDS_MAX, description="long poll, seconds")] = 0,
) -> Any:
    wait = min(wait, service.settings.events_wait_seconds_max)
    events, next_seq = _poll(service, caller, after, limit, time.monotonic() + wait)
    return JSONResponse({"events": [e.to_dict() for e in events], "next": next_seq})


def _poll(service: Service, caller: Caller, after: int, limit: int, deadline: float) -> tuple[list[Event], int]:
    """Events after `after` that the caller may see, waiting until `deadline` for some."""
    seen = _Visibility(service, caller)
    while True:
        for _ in range(EVENTS_SCAN_PAGES_MAX):
            rows = service.ledger.store.events(after, limit)
            if not rows:
                break
            visible = [row for row in rows if seen(row)]
            after = rows[-1].seq if len(visible) < limit else visible[-1].seq
            if visible:
                return visible[:limit], after
        if time.monotonic() >= deadline:
            return [], after
        time.sleep(min(EVENTS_POLL_SECONDS, max(0.0, deadline - time.monotonic())))


class _Visibility:
    """Whether an event touches an account in the caller's scope."""

    def __init__(self, service: Service, caller: Caller) -> None:
        self.service = service
        self.caller = caller
        self.transfers: dict[str, tuple[str, str]] = {}

    def __call__(self, event: Event) -> bool:
        if self.caller.scope is None:
            return True
        return any(self.caller.in_scope(account) for account in self.accounts(event))

    def accounts(self, event: Event) -> tuple[str, ...]:
        data = event.data
        if event.kind in (ev.TRANSFER_POSTED, ev.TRANSFER_PENDING, ev.TRANSFER_REJECTED):
            transfer = data.get("transfer", {})
            return (str(transfer.get("source", "")), str(transfer.get("destination", "")))
        if event.kind in (ev.PENDING_POSTED, ev.PENDING_VOIDED, ev.PENDING_EXPIRED):
            return self.parties(str(data.get("id", "")))
        if event.kind == ev.CURRENCY_REGISTERED:
            return ()
        return (str(data.get("id", "")),)

    def parties(self, transfer_id: str) -> tuple[str, ...]:
        if transfer_id not in self.transfers:
            try:
                transfer = self.service.ledger.store.transfer(transfer_id)
            except LedgerError:
                transfer = None
            self.transfers[transfer_id] = (transfer.source, transfer.destination) if transfer else ("", "")
        return self.transfers[transfer_id]
