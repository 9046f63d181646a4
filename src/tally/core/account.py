"""Accounts: a named balance in one currency, with its limits and status."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from tally.core.clock import rfc3339, to_datetime
from tally.core.records import positional


class AccountStatus(StrEnum):
    OPEN = "open"
    FROZEN = "frozen"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Balance:
    posted: int
    pending_in: int
    pending_out: int
    available: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "posted": self.posted,
            "pending_in": self.pending_in,
            "pending_out": self.pending_out,
            "available": self.available,
        }


@dataclass(frozen=True, slots=True)
class BalanceAsOf:
    """The posted balance after every event up to and including `as_of_seq`."""

    posted: int
    as_of_seq: int

    def to_dict(self) -> dict[str, Any]:
        return {"posted": self.posted, "as_of_seq": self.as_of_seq}


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    currency: str
    scale: int
    min_balance: int | None
    max_balance: int | None
    clearing_seconds: int | None
    status: str
    metadata: dict[str, Any]
    created_us: int
    seq: int  # the seq of the event that opened it
    posted: int = 0
    pending_in: int = 0
    pending_out: int = 0
    fingerprint: str = field(default="", repr=False, compare=False)

    @property
    def available(self) -> int:
        return self.posted - self.pending_out

    def with_balances(self, posted: int, pending_in: int, pending_out: int) -> Account:
        """This account with new balances: every transfer makes two, and
        `dataclasses.replace` costs several times this direct call."""
        return build_account(
            self.id, self.currency, self.scale, self.min_balance, self.max_balance, self.clearing_seconds,
            self.status, self.metadata, self.created_us, self.seq, posted, pending_in, pending_out, self.fingerprint,
        )  # fmt: skip

    @property
    def balance(self) -> Balance:
        return Balance(self.posted, self.pending_in, self.pending_out, self.posted - self.pending_out)

    @property
    def created_at(self) -> datetime:
        return to_datetime(self.created_us)

    @property
    def is_empty(self) -> bool:
        return self.posted == 0 and self.pending_in == 0 and self.pending_out == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "currency": self.currency,
            "scale": self.scale,
            "min_balance": self.min_balance,
            "max_balance": self.max_balance,
            "clearing_seconds": self.clearing_seconds,
            "status": self.status,
            "metadata": self.metadata,
            "created_at": rfc3339(self.created_us),
            "balance": self.balance.to_dict(),
        }


# Every field, positionally (tally.core.records): for the paths every transfer takes.
build_account = positional(Account)

# with_balances() copies the fields one by one: a new field must be added there too.
assert len(fields(Account)) == 14, "Account changed: update Account.with_balances()"
