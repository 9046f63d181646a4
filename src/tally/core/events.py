"""Journal events: the append-only history every other table derives from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from tally.core.clock import rfc3339, to_datetime

CURRENCY_REGISTERED: Final = "currency_registered"
ACCOUNT_OPENED: Final = "account_opened"
ACCOUNT_UPDATED: Final = "account_updated"
ACCOUNT_FROZEN: Final = "account_frozen"
ACCOUNT_UNFROZEN: Final = "account_unfrozen"
ACCOUNT_CLOSED: Final = "account_closed"
TRANSFER_POSTED: Final = "transfer_posted"
TRANSFER_PENDING: Final = "transfer_pending"
TRANSFER_REJECTED: Final = "transfer_rejected"
PENDING_POSTED: Final = "pending_posted"
PENDING_VOIDED: Final = "pending_voided"
PENDING_EXPIRED: Final = "pending_expired"

KINDS: Final = (
    CURRENCY_REGISTERED,
    ACCOUNT_OPENED,
    ACCOUNT_UPDATED,
    ACCOUNT_FROZEN,
    ACCOUNT_UNFROZEN,
    ACCOUNT_CLOSED,
    TRANSFER_POSTED,
    TRANSFER_PENDING,
    TRANSFER_REJECTED,
    PENDING_POSTED,
    PENDING_VOIDED,
    PENDING_EXPIRED,
)

GENESIS_HASH: Final = "0" * 64


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    kind: str
    data: dict[str, Any]
    created_us: int
    hash: str = ""

    @property
    def created_at(self) -> datetime:
        return to_datetime(self.created_us)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "type": self.kind, "data": self.data, "created_at": rfc3339(self.created_us)}


def chain_hash(previous: str, seq: int, created_us: int, kind: str, data_json: str) -> str:
    """The hash of one journal row, chained to the row before it.

    It covers every stored column, so editing any of them, or removing or
    inserting a row, breaks the chain from that row on.
    """
    text = f"{previous}\n{seq}\n{created_us}\n{kind}\n{data_json}"
    return hashlib.sha256(text.encode()).hexdigest()
