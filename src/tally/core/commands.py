"""Commands: validated requests to change the ledger.

Each builder checks the shape of a request and raises `ValidationError` before
anything reaches a store; a command that exists is well-formed. Business rules
(balances, statuses, limits) are checked later, in order, by `tally.core.rules`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tally.core.amount import check_amount, check_limit
from tally.core.currency import check_currency_code, check_scale
from tally.core.errors import ValidationError
from tally.core.limits import (
    BATCH_TRANSFERS_MAX,
    CLEARING_SECONDS_MAX,
    EXPIRES_IN_SECONDS_MAX,
    EXPIRES_IN_SECONDS_MIN,
)
from tally.core.records import positional
from tally.core.text import canonical_json, check_id, check_metadata, check_reason


def _fingerprint(value: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:32]


def _fields_fingerprint(kind: str, metadata: dict[str, Any], *fields: Any) -> str:
    """The fingerprint of a transfer request: the same fields give the same text.

    Every transfer pays for it, so it joins the fields' reprs (quoted and escaped,
    so unambiguous) instead of encoding a whole dict as JSON; only non-empty
    metadata goes through the canonical JSON encoder.
    """
    text = "\x1f".join((kind, canonical_json(metadata) if metadata else "{}", *map(repr, fields)))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class RegisterCurrency:
    code: str
    scale: int

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "scale": self.scale}


@dataclass(frozen=True, slots=True)
class OpenAccount:
    id: str
    currency: str
    min_balance: int | None = 0
    max_balance: int | None = None
    clearing_seconds: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "currency": self.currency,
            "min_balance": self.min_balance,
            "max_balance": self.max_balance,
            "clearing_seconds": self.clearing_seconds,
            "metadata": self.metadata,
        }

    @property
    def fingerprint(self) -> str:
        return _fingerprint(self.to_dict())


ACCOUNT_FIELDS_MUTABLE = ("min_balance", "max_balance", "clearing_seconds", "metadata")


@dataclass(frozen=True, slots=True)
class UpdateAccount:
    id: str
    changes: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "changes": self.changes}


AccountAction = Literal["freeze", "unfreeze", "close"]


@dataclass(frozen=True, slots=True)
class SetAccountStatus:
    id: str
    action: AccountAction
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "action": self.action, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class CreateTransfer:
    id: str
    source: str
    destination: str
    amount: int
    currency: str | None = None
    reason: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    pending: bool = False
    expires_in: int | None = None
    on_expiry: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "transfer",
            "id": self.id,
            "source": self.source,
            "destination": self.destination,
            "amount": self.amount,
            "currency": self.currency,
            "reason": self.reason,
            "metadata": self.metadata,
            "pending": self.pending,
            "expires_in": self.expires_in,
            "on_expiry": self.on_expiry,
        }

    @property
    def fingerprint(self) -> str:
        return _fields_fingerprint(
            "transfer", self.metadata, self.id, self.source, self.destination, self.amount, self.currency,
            self.reason, self.pending, self.expires_in, self.on_expiry,
        )  # fmt: skip


# Every field, positionally (tally.core.records): every transfer request builds one.
_build_create_transfer = positional(CreateTransfer)


@dataclass(frozen=True, slots=True)
class ReverseTransfer:
    id: str
    reverses: str
    amount: int | None = None  # None: all that remains
    reason: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "reverse",
            "id": self.id,
            "reverses": self.reverses,
            "amount": self.amount,
            "reason": self.reason,
            "metadata": self.metadata,
        }

    @property
    def fingerprint(self) -> str:
        return _fields_fingerprint("reverse", self.metadata, self.id, self.reverses, self.amount, self.reason)


def fingerprint_0_1_0(command: CreateTransfer | ReverseTransfer) -> str:
    """The fingerprint Tally 0.1.0 stored for a transfer request (see `matches`)."""
    return _fingerprint(command.to_dict())


def matches(command: CreateTransfer | ReverseTransfer, fingerprint: str) -> bool:
    """Whether a transfer stored with `fingerprint` was made by this same request.

    Tally 0.1.0 fingerprinted a transfer request as the canonical JSON of its
    `to_dict()`; later versions join its fields (`_fields_fingerprint`), which
    is cheaper. Its ledgers open unchanged (the same schema), so a transfer
    it recorded keeps its old fingerprint, and a retry of that request after
    an upgrade must still be answered as a replay, not as `id_conflict`.
    """
    return fingerprint == command.fingerprint or fingerprint == fingerprint_0_1_0(command)


@dataclass(frozen=True, slots=True)
class ResolvePending:
    id: str
    action: Literal["post", "void"]
    amount: int | None = None

    @property
    def resolution(self) -> str:
        return self.action if self.amount is None else f"{self.action}:{self.amount}"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "action": self.action, "amount": self.amount}


@dataclass(frozen=True, slots=True)
class TransferBatch:
    transfers: tuple[CreateTransfer | ReverseTransfer, ...]
    atomic: bool


@dataclass(frozen=True, slots=True)
class ExpireDue:
    """Expire every hold whose time has come (the engine's sweep)."""

    ids: tuple[str, ...]


Command = (
    RegisterCurrency
    | OpenAccount
    | UpdateAccount
    | SetAccountStatus
    | CreateTransfer
    | ReverseTransfer
    | ResolvePending
    | TransferBatch
    | ExpireDue
)


# --- builders: shape checks only -------------------------------------------------


def register_currency(code: Any, scale: Any) -> RegisterCurrency:
    return RegisterCurrency(check_currency_code(code, "code"), check_scale(scale))


def _check_seconds(value: Any, field: str, high: int) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not EXPIRES_IN_SECONDS_MIN <= value <= high:
        raise ValidationError(f"{field} must be an integer from {EXPIRES_IN_SECONDS_MIN} to {high}", field=field)
    return value


def open_account(
    id: Any,
    currency: Any,
    min_balance: Any = 0,
    max_balance: Any = None,
    clearing_seconds: Any = None,
    metadata: Any = None,
) -> OpenAccount:
    low = check_limit(min_balance, "min_balance")
    high = check_limit(max_balance, "max_balance")
    if low is not None and high is not None and low > high:
        raise ValidationError("min_balance must not exceed max_balance", field="min_balance")
    return OpenAccount(
        id=check_id(id),
        currency=check_currency_code(currency),
        min_balance=low,
        max_balance=high,
        clearing_seconds=_check_seconds(clearing_seconds, "clearing_seconds", CLEARING_SECONDS_MAX),
        metadata=check_metadata(metadata),
    )


def update_account(id: Any, changes: Mapping[str, Any]) -> UpdateAccount:
    unknown = sorted(set(changes) - set(ACCOUNT_FIELDS_MUTABLE))
    if unknown:
        raise ValidationError(f"unknown or immutable field: {unknown[0]}", field=unknown[0])
    checked: dict[str, Any] = {}
    for name, value in changes.items():
        if name in ("min_balance", "max_balance"):
            checked[name] = check_limit(value, name)
        elif name == "clearing_seconds":
            checked[name] = _check_seconds(value, name, CLEARING_SECONDS_MAX)
        else:
            checked[name] = check_metadata(value)
    return UpdateAccount(check_id(id), checked)


def set_account_status(id: Any, action: AccountAction, reason: Any = None) -> SetAccountStatus:
    return SetAccountStatus(check_id(id), action, check_reason(reason))


def _check_bool(value: Any, field: str) -> bool:
    if type(value) is not bool:
        raise ValidationError(f"{field} must be true or false", field=field)
    return value


def create_transfer(
    source: Any,
    destination: Any,
    amount: Any,
    *,
    id: Any,
    currency: Any = None,
    reason: Any = None,
    metadata: Any = None,
    pending: Any = False,
    expires_in: Any = None,
    on_expiry: Any = None,
) -> CreateTransfer:
    pending = _check_bool(pending, "pending")
    expires_in = _check_seconds(expires_in, "expires_in", EXPIRES_IN_SECONDS_MAX)
    if on_expiry is not None and on_expiry not in ("void", "post"):
        raise ValidationError('on_expiry must be "void" or "post"', field="on_expiry")
    if not pending and (expires_in is not None or on_expiry is not None):
        field = "expires_in" if expires_in is not None else "on_expiry"
        raise ValidationError(f"{field} applies only to a pending transfer", field=field)
    return _build_create_transfer(  # CreateTransfer's fields, in order
        check_id(id),
        check_id(source, "source"),
        check_id(destination, "destination"),
        check_amount(amount),
        None if currency is None else check_currency_code(currency),
        check_reason(reason),
        check_metadata(metadata),
        pending,
        expires_in,
        on_expiry,
    )


def reverse_transfer(
    reverses: Any, *, id: Any, amount: Any = None, reason: Any = None, metadata: Any = None
) -> ReverseTransfer:
    return ReverseTransfer(
        id=check_id(id),
        reverses=check_id(reverses, "reverses"),
        amount=None if amount is None else check_amount(amount),
        reason=check_reason(reason),
        metadata=check_metadata(metadata),
    )


def resolve_pending(id: Any, action: Literal["post", "void"], amount: Any = None) -> ResolvePending:
    return ResolvePending(check_id(id), action, None if amount is None else check_amount(amount))


def transfer_batch(transfers: tuple[CreateTransfer | ReverseTransfer, ...], atomic: Any) -> TransferBatch:
    atomic = _check_bool(atomic, "atomic")
    if not 1 <= len(transfers) <= BATCH_TRANSFERS_MAX:
        raise ValidationError(f"a batch holds 1 to {BATCH_TRANSFERS_MAX} transfers", field="transfers")
    seen: set[str] = set()
    for index, item in enumerate(transfers):
        if item.id in seen:
            raise ValidationError(f"transfers[{index}].id repeats an id of this batch", field=f"transfers[{index}].id")
        seen.add(item.id)
    return TransferBatch(transfers, atomic)
