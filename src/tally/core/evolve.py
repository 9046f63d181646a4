"""Apply one journal event to the working state.

This is the only place where balances change. The engine applies the events the
rules just decided; `verify` applies the stored journal from seq 1 and compares.
No rule is checked here: an event is a fact.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tally.core import events as ev
from tally.core.account import Account, AccountStatus
from tally.core.state import Working
from tally.core.transfer import Transfer, TransferStatus, build_entry, build_transfer


def apply(state: Working, seq: int, kind: str, data: dict[str, Any], created_us: int) -> None:
    handler = _HANDLERS[kind]
    handler(state, seq, data, created_us)


def _account(state: Working, id: str) -> Account:
    account = state.account(id)
    assert account is not None, f"event refers to a missing account {id}"
    return account


def _transfer(state: Working, id: str) -> Transfer:
    transfer = state.transfer(id)
    assert transfer is not None, f"event refers to a missing transfer {id}"
    return transfer


def _currency_registered(state: Working, seq: int, data: dict[str, Any], created_us: int) -> None:
    state.currencies[data["code"]] = data["scale"]


def _account_opened(state: Working, seq: int, data: dict[str, Any], created_us: int) -> None:
    account = Account(
        id=data["id"],
        currency=data["currency"],
        scale=data["scale"],
        min_balance=data["min_balance"],
        max_balance=data["max_balance"],
        clearing_seconds=data["clearing_seconds"],
        status=AccountStatus.OPEN.value,
        metadata=data["metadata"],
        created_us=created_us,
        seq=seq,
        fingerprint=data["fingerprint"],
    )
    state.put_account(account, new=True)


def _account_updated(state: Working, seq: int, data: dict[str, Any], created_us: int) -> None:
    state.put_account(replace(_account(state, data["id"]), **data["changes"]))


def _status(status: AccountStatus) -> Any:
    def handler(state: Working, seq: int, data: dict[str, Any], created_us: int) -> None:
        state.put_account(replace(_account(state, data["id"]), status=status.value))

    return handler


def _move(
    state: Working,
    source: Account,
    destination: Account,
    transfer: Transfer,
    amount: int,
    seq: int,
    created_us: int,
    released: int = 0,
) -> None:
    """Post `amount` from source to destination, releasing `released` of a hold."""
    source = source.with_balances(source.posted - amount, source.pending_in, source.pending_out - released)
    destination = destination.with_balances(
        destination.posted + amount, destination.pending_in - released, destination.pending_out
    )
    state.put_account(source)
    state.put_account(destination)
    if amount:
        state.entries.append(
            build_entry(source.id, seq, transfer.id, -amount, source.posted, created_us, transfer.reason)
        )
        state.entries.append(
            build_entry(destination.id, seq, transfer.id, amount, destination.posted, created_us, transfer.reason)
        )


def transfer_from_event(seq: int, data: dict[str, Any], created_us: int) -> Transfer:
    t = data["transfer"]
    status = t["status"]
    return build_transfer(
        t["id"], t["source"], t["destination"], t["amount"], t["currency"], t["reason"], t["metadata"],
        t["pending"], t["expires_in"], t["on_expiry"], seq, status, t["code"], created_us, t["expires_us"],
        t["amount"] if status == TransferStatus.POSTED else None,  # posted_amount
        t["reverses"], 0, None, None,  # reversed_amount, resolved_seq, resolution
        data["fingerprint"],
    )  # fmt: skip


def _transfer_created(state: Working, seq: int, data: dict[str, Any], created_us: int) -> None:
    transfer = transfer_from_event(seq, data, created_us)
    state.put_transfer(transfer, new=True)
    if transfer.status == TransferStatus.REJECTED:
        return
    source = _account(state, transfer.source)
    destination = _account(state, transfer.destination)
    if transfer.status == TransferStatus.PENDING:
        amount = transfer.amount
        state.put_account(source.with_balances(source.posted, source.pending_in, source.pending_out + amount))
        state.put_account(
            destination.with_balances(destination.posted, destination.pending_in + amount, destination.pending_out)
        )
    else:
        _move(state, source, destination, transfer, transfer.amount, seq, created_us)
    if transfer.reverses is not None:
        original = _transfer(state, transfer.reverses)
        state.put_transfer(replace(original, reversed_amount=original.reversed_amount + transfer.amount))


def _resolve(
    state: Working, seq: int, data: dict[str, Any], created_us: int, status: str, amount: int, resolution: str
) -> None:
    transfer = _transfer(state, data["id"])
    _move(
        state,
        _account(state, transfer.source),
        _account(state, transfer.destination),
        transfer,
        amount,
        seq,
        created_us,
        released=transfer.amount,
    )
    state.put_transfer(replace(transfer, status=status, posted_amount=amount, resolved_seq=seq, resolution=resolution))


def _pending_posted(state: Working, seq: int, data: dict[str, Any], created_us: int) -> None:
    _resolve(state, seq, data, created_us, TransferStatus.POSTED.value, data["amount"], data["resolution"])


def _pending_voided(state: Working, seq: int, data: dict[str, Any], created_us: int) -> None:
    _resolve(state, seq, data, created_us, TransferStatus.VOIDED.value, 0, data["resolution"])


def _pending_expired(state: Working, seq: int, data: dict[str, Any], created_us: int) -> None:
    # A clearing period (on_expiry "post") ends with the money posted; a hold
    # that lapses (on_expiry "void") ends expired.
    if data["on_expiry"] == "post":
        _resolve(state, seq, data, created_us, TransferStatus.POSTED.value, data["amount"], "expire")
    else:
        _resolve(state, seq, data, created_us, TransferStatus.EXPIRED.value, 0, "expire")


_HANDLERS = {
    ev.CURRENCY_REGISTERED: _currency_registered,
    ev.ACCOUNT_OPENED: _account_opened,
    ev.ACCOUNT_UPDATED: _account_updated,
    ev.ACCOUNT_FROZEN: _status(AccountStatus.FROZEN),
    ev.ACCOUNT_UNFROZEN: _status(AccountStatus.OPEN),
    ev.ACCOUNT_CLOSED: _status(AccountStatus.CLOSED),
    ev.TRANSFER_POSTED: _transfer_created,
    ev.TRANSFER_PENDING: _transfer_created,
    ev.TRANSFER_REJECTED: _transfer_created,
    ev.PENDING_POSTED: _pending_posted,
    ev.PENDING_VOIDED: _pending_voided,
    ev.PENDING_EXPIRED: _pending_expired,
}
assert set(_HANDLERS) == set(ev.KINDS)
