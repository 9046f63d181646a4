"""Execute commands against the working state: decide, emit, apply.

`execute` returns a value for every command, never raises for a business
outcome: a `Transfer` (perhaps `rejected`, with its code), an `Account`, a
`Currency`, a list of transfers for a batch, or a `LedgerError` for a request
that is refused without being recorded (`id_conflict`, `transfer_not_found` …).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tally.core import events as ev
from tally.core.account import Account, AccountStatus
from tally.core.codes import Code
from tally.core.commands import (
    Command,
    CreateTransfer,
    ExpireDue,
    OpenAccount,
    RegisterCurrency,
    ResolvePending,
    ReverseTransfer,
    SetAccountStatus,
    TransferBatch,
    UpdateAccount,
    matches,
)
from tally.core.currency import Currency
from tally.core.errors import LedgerError, ValidationError, error_for
from tally.core.evolve import apply
from tally.core.rules import is_due, resolve_code, reversible_amount, status_code, transfer_code
from tally.core.state import Working
from tally.core.transfer import OnExpiry, Transfer, TransferStatus

Result = Transfer | Account | Currency | list[Transfer] | LedgerError


def execute(state: Working, command: Command) -> Result:
    if isinstance(command, (CreateTransfer, ReverseTransfer)):
        return execute_transfer(state, command)
    if isinstance(command, TransferBatch):
        return execute_batch(state, command)
    if isinstance(command, ResolvePending):
        return execute_resolve(state, command)
    if isinstance(command, ExpireDue):
        for id in command.ids:
            expire_if_due(state, id)
        return []
    if isinstance(command, OpenAccount):
        return execute_open(state, command)
    if isinstance(command, UpdateAccount):
        return execute_update(state, command)
    if isinstance(command, SetAccountStatus):
        return execute_status(state, command)
    return execute_currency(state, command)


def _emit(state: Working, kind: str, data: dict[str, Any]) -> int:
    seq = state.emit(kind, data)
    apply(state, seq, kind, data, state.now_us)
    return seq


# --- transfers -------------------------------------------------------------------

# Plain strings: an enum member's `.value` is a descriptor call, and every transfer asked several.
_POSTED, _PENDING, _REJECTED = TransferStatus.POSTED.value, TransferStatus.PENDING.value, TransferStatus.REJECTED.value
_CREATED_KIND = {_POSTED: ev.TRANSFER_POSTED, _PENDING: ev.TRANSFER_PENDING, _REJECTED: ev.TRANSFER_REJECTED}


def execute_transfer(state: Working, command: CreateTransfer | ReverseTransfer) -> Transfer | LedgerError:
    existing = state.transfer(command.id)
    if existing is not None:
        if not matches(command, existing.fingerprint):
            return error_for(Code.ID_CONFLICT, f"transfer {command.id} exists with other fields")
        return existing
    fingerprint = command.fingerprint
    if isinstance(command, ReverseTransfer):
        decided = _decide_reverse(state, command)
        if isinstance(decided, LedgerError):
            return decided
    else:
        decided = _decide_transfer(state, command)
    kind = _CREATED_KIND[decided["status"]]
    _emit(state, kind, {"command": command.to_dict(), "fingerprint": fingerprint, "transfer": decided})
    transfer = state.transfer(command.id)
    assert transfer is not None
    return transfer


def _outcome(
    command: CreateTransfer | ReverseTransfer,
    source: str,
    destination: str,
    amount: int,
    currency: str | None,
    code: Code | None,
    *,
    pending: bool = False,
    expires_in: int | None = None,
    on_expiry: str | None = None,
    now_us: int = 0,
    reverses: str | None = None,
) -> dict[str, Any]:
    status = _REJECTED if code is not None else _PENDING if pending else _POSTED
    held = code is None and pending
    return {
        "id": command.id,
        "source": source,
        "destination": destination,
        "amount": amount,
        "currency": currency,
        "reason": command.reason,
        "metadata": command.metadata,
        "pending": isinstance(command, CreateTransfer) and command.pending,
        "expires_in": expires_in,
        "on_expiry": on_expiry,
        "expires_us": now_us + expires_in * 1_000_000 if held and expires_in is not None else None,
        "status": status,
        "code": None if code is None else code.value,
        "reverses": reverses,
    }


def _decide_transfer(state: Working, command: CreateTransfer) -> dict[str, Any]:
    source = state.account(command.source)
    destination = state.account(command.destination)
    pending, expires_in, on_expiry = command.pending, command.expires_in, command.on_expiry
    if pending:
        on_expiry = on_expiry or OnExpiry.VOID.value
    elif destination is not None and destination.clearing_seconds:
        # A clearing period: the deposit shows as pending and posts by itself.
        pending, expires_in, on_expiry = True, destination.clearing_seconds, OnExpiry.POST.value
    code = transfer_code(state, source, destination, command.amount, currency=command.currency, pending=pending)
    currency = source.currency if source is not None else command.currency
    return _outcome(
        command,
        command.source,
        command.destination,
        command.amount,
        currency,
        code,
        pending=pending,
        expires_in=expires_in,
        on_expiry=on_expiry,
        now_us=state.now_us,
    )


def _decide_reverse(state: Working, command: ReverseTransfer) -> dict[str, Any] | LedgerError:
    original = state.transfer(command.reverses)
    if original is None:
        return error_for(Code.TRANSFER_NOT_FOUND, f"no transfer {command.reverses}")
    reversible = reversible_amount(original)
    amount = command.amount if command.amount is not None else reversible
    # Money goes back the way it came; a reversal posts at once, with no
    # clearing period: it returns money that already cleared once.
    source = state.account(original.destination)
    destination = state.account(original.source)
    code = transfer_code(state, source, destination, amount, currency=None, pending=False, reversible=reversible)
    return _outcome(
        command,
        original.destination,
        original.source,
        amount,
        original.currency,
        code,
        reverses=original.id,
    )


def execute_batch(state: Working, command: TransferBatch) -> list[Transfer]:
    if not command.atomic:
        return [_as_transfer(state, item, execute_transfer(state, item)) for item in command.transfers]
    child = state.child()
    results: list[Transfer] = []
    for index, item in enumerate(command.transfers):
        result = execute_transfer(child, item)
        if isinstance(result, LedgerError) or result.is_rejected:
            return _failed_batch(state, command, index, result.code or Code.LINKED_TRANSFER_FAILED.value)
        results.append(result)
    child.merge()
    return results


def _failed_batch(state: Working, command: TransferBatch, failed: int, code: str) -> list[Transfer]:
    """An atomic batch that failed: nothing recorded, every result rejected."""
    return [
        _ghost(state, item, code if index == failed else Code.LINKED_TRANSFER_FAILED.value)
        for index, item in enumerate(command.transfers)
    ]


def _as_transfer(state: Working, item: CreateTransfer | ReverseTransfer, result: Transfer | LedgerError) -> Transfer:
    return _ghost(state, item, result.code) if isinstance(result, LedgerError) else result


def _ghost(state: Working, item: CreateTransfer | ReverseTransfer, code: str) -> Transfer:
    """A rejected transfer that was not recorded (seq None)."""
    if isinstance(item, CreateTransfer):
        source, destination, amount, currency = item.source, item.destination, item.amount, item.currency
        pending, reverses = item.pending, None
    else:
        original = state.transfer(item.reverses)
        source = original.destination if original else ""
        destination = original.source if original else ""
        amount = item.amount or 0
        currency = original.currency if original else None
        pending, reverses = False, item.reverses
    return Transfer(
        id=item.id,
        source=source,
        destination=destination,
        amount=amount,
        currency=currency,
        reason=item.reason,
        metadata=item.metadata,
        pending=pending,
        expires_in=item.expires_in if isinstance(item, CreateTransfer) else None,
        on_expiry=item.on_expiry if isinstance(item, CreateTransfer) else None,
        seq=None,
        status=TransferStatus.REJECTED.value,
        code=code,
        created_us=state.now_us,
        reverses=reverses,
        fingerprint=item.fingerprint,
    )


# --- two-phase ---------------------------------------------------------------------


def expire_if_due(state: Working, id: str) -> Transfer | None:
    transfer = state.transfer(id)
    if transfer is None or not is_due(transfer, state.now_us):
        return transfer
    data = {"id": id, "on_expiry": transfer.on_expiry, "amount": transfer.amount}
    _emit(state, ev.PENDING_EXPIRED, data)
    return state.transfer(id)


def execute_resolve(state: Working, command: ResolvePending) -> Transfer | LedgerError:
    transfer = expire_if_due(state, command.id)
    if transfer is None:
        return error_for(Code.TRANSFER_NOT_FOUND, f"no transfer {command.id}")
    if transfer.resolution == command.resolution:
        return transfer  # an exact replay of the call that resolved it
    amount = transfer.amount if command.amount is None else command.amount
    source = state.account(transfer.source)
    destination = state.account(transfer.destination)
    code = (
        Code.TRANSFER_NOT_PENDING
        if source is None or destination is None
        else resolve_code(transfer, command.action, amount, source, destination)
    )
    if code is not None:
        return error_for(code, f"transfer {command.id} is {transfer.status}")
    if command.action == "post":
        _emit(state, ev.PENDING_POSTED, {"id": command.id, "amount": amount, "resolution": command.resolution})
    else:
        _emit(state, ev.PENDING_VOIDED, {"id": command.id, "resolution": command.resolution})
    resolved = state.transfer(command.id)
    assert resolved is not None
    return resolved


# --- accounts and currencies ---------------------------------------------------


def execute_open(state: Working, command: OpenAccount) -> Account | LedgerError:
    fingerprint = command.fingerprint
    existing = state.account(command.id)
    if existing is not None:
        if existing.fingerprint != fingerprint:
            return error_for(Code.ID_CONFLICT, f"account {command.id} exists with other fields")
        return existing
    scale = state.currency_scale(command.currency)
    if scale is None:
        return error_for(Code.UNKNOWN_CURRENCY, f"unknown currency {command.currency}", field="currency")
    _emit(state, ev.ACCOUNT_OPENED, {**command.to_dict(), "scale": scale, "fingerprint": fingerprint})
    return _existing_account(state, command.id)


def _existing_account(state: Working, id: str) -> Account:
    account = state.account(id)
    assert account is not None
    return account


def execute_update(state: Working, command: UpdateAccount) -> Account | LedgerError:
    account = state.account(command.id)
    if account is None:
        return error_for(Code.ACCOUNT_NOT_FOUND, f"no account {command.id}")
    if account.status == AccountStatus.CLOSED:
        return error_for(Code.ACCOUNT_NOT_OPEN, f"account {command.id} is closed")
    changes = {k: v for k, v in command.changes.items() if getattr(account, k) != v}
    if not changes:
        return account
    updated = replace(account, **changes)
    if (
        updated.min_balance is not None
        and updated.max_balance is not None
        and updated.min_balance > updated.max_balance
    ):
        return ValidationError("min_balance must not exceed max_balance", field="min_balance")
    _emit(state, ev.ACCOUNT_UPDATED, {"id": command.id, "changes": changes})
    return _existing_account(state, command.id)


_STATUS_EVENTS = {
    "freeze": (AccountStatus.FROZEN, ev.ACCOUNT_FROZEN),
    "unfreeze": (AccountStatus.OPEN, ev.ACCOUNT_UNFROZEN),
    "close": (AccountStatus.CLOSED, ev.ACCOUNT_CLOSED),
}


def execute_status(state: Working, command: SetAccountStatus) -> Account | LedgerError:
    account = state.account(command.id)
    if account is None:
        return error_for(Code.ACCOUNT_NOT_FOUND, f"no account {command.id}")
    code = status_code(account, command.action)
    if code is not None:
        return error_for(code, f"account {command.id} cannot {command.action}: {code.value}")
    target, kind = _STATUS_EVENTS[command.action]
    if account.status == target:
        return account
    _emit(state, kind, {"id": command.id, "reason": command.reason})
    return _existing_account(state, command.id)


def execute_currency(state: Working, command: RegisterCurrency) -> Currency | LedgerError:
    scale = state.currency_scale(command.code)
    if scale is not None:
        if scale != command.scale:
            return error_for(Code.ID_CONFLICT, f"currency {command.code} has scale {scale}", field="scale")
        return Currency(command.code, scale)
    _emit(state, ev.CURRENCY_REGISTERED, command.to_dict())
    return Currency(command.code, command.scale)
