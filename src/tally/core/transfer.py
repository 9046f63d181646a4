"""Transfers: one movement of an amount from a source to a destination."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from tally.core.clock import rfc3339, to_datetime
from tally.core.records import positional


class TransferStatus(StrEnum):
    POSTED = "posted"
    PENDING = "pending"
    VOIDED = "voided"
    EXPIRED = "expired"
    REJECTED = "rejected"


class OnExpiry(StrEnum):
    VOID = "void"
    POST = "post"


@dataclass(frozen=True, slots=True)
class Transfer:
    """A transfer as it is now: the request's fields and its current state.

    `pending`, `reason` and `metadata` are as requested. `expires_in` and
    `on_expiry` are the effective ones: a deposit to an account with a clearing
    period reads `on_expiry="post"` and `expires_in` = its clearing seconds.
    """

    id: str
    source: str
    destination: str
    amount: int
    currency: str | None
    reason: str | None
    metadata: dict[str, Any]
    pending: bool
    expires_in: int | None
    on_expiry: str | None
    seq: int | None  # None only for a request that was never recorded
    status: str
    code: str | None
    created_us: int
    expires_us: int | None = None
    posted_amount: int | None = None
    reverses: str | None = None
    reversed_amount: int = 0
    resolved_seq: int | None = None
    # How the hold was resolved ("post", "post:250", "void", "expire"): a replay
    # of exactly that call answers the same result.
    resolution: str | None = field(default=None, repr=False)
    fingerprint: str = field(default="", repr=False, compare=False)

    @property
    def created_at(self) -> datetime:
        return to_datetime(self.created_us)

    @property
    def expires_at(self) -> datetime | None:
        return None if self.expires_us is None else to_datetime(self.expires_us)

    @property
    def is_rejected(self) -> bool:
        return self.status == TransferStatus.REJECTED

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
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
            "seq": self.seq,
            "status": self.status,
            "created_at": rfc3339(self.created_us),
        }
        if self.code is not None:
            out["code"] = self.code
        if self.expires_us is not None:
            out["expires_at"] = rfc3339(self.expires_us)
        if self.posted_amount is not None:
            out["posted_amount"] = self.posted_amount
        if self.reverses is not None:
            out["reverses"] = self.reverses
        if self.reversed_amount:
            out["reversed_amount"] = self.reversed_amount
        return out


@dataclass(frozen=True, slots=True)
class Entry:
    """One posted movement on one account: + in, - out."""

    account_id: str
    seq: int
    transfer_id: str
    amount: int
    balance_after: int
    created_us: int
    reason: str | None

    @property
    def created_at(self) -> datetime:
        return to_datetime(self.created_us)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "transfer_id": self.transfer_id,
            "amount": self.amount,
            "balance_after": self.balance_after,
            "created_at": rfc3339(self.created_us),
            "reason": self.reason,
        }


# Every field, positionally (tally.core.records): for the paths every transfer takes.
build_transfer = positional(Transfer)
build_entry = positional(Entry)
