"""A plain-Python reference model of the ledger, for the stateful test.

Written from API.md, not from tally.core: it shares no code with the library,
so a wrong rule in the core shows up as a disagreement with this model. It is
deliberately naive (dicts, deep copies for atomic batches, a linear scan for
due holds): it only has to be obviously right.

Every operation returns an `Outcome`: the transfer as it reads back, or a code
with whether the refusal was recorded (a business rejection of a transfer is;
a validation error, an id conflict, a failed atomic batch or a refused
post/void is not).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

AMOUNT_MAX = 2**63 - 1
BALANCE_MIN = -(2**63)
BALANCE_MAX = 2**63 - 1
US = 1_000_000  # microseconds per second

_ID = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")

# API.md section 6, in the precedence order the library reports them (a
# request breaking two rules reports the earlier one).
PRECEDENCE = (
    "validation_error",
    "id_conflict",
    "unknown_currency",
    "account_not_found",
    "transfer_not_found",
    "same_account",
    "currency_mismatch",
    "account_not_open",
    "transfer_not_pending",
    "pending_expired",
    "exceeds_pending_amount",
    "exceeds_reversible_amount",
    "overflow",
    "insufficient_funds",
    "exceeds_max_balance",
    "account_not_empty",
    "linked_transfer_failed",
)


def fits(value: int) -> bool:
    return BALANCE_MIN <= value <= BALANCE_MAX


@dataclass
class MAccount:
    id: str
    currency: str
    min_balance: int | None
    max_balance: int | None
    clearing_seconds: int | None
    status: str = "open"
    posted: int = 0
    pending_in: int = 0
    pending_out: int = 0

    @property
    def available(self) -> int:
        return self.posted - self.pending_out

    opened: tuple[Any, ...] = ()  # the fields it was opened with: what a replay must match

    def balance(self) -> tuple[int, int, int, int]:
        return (self.posted, self.pending_in, self.pending_out, self.available)


@dataclass
class MTransfer:
    id: str
    request: tuple[Any, ...]  # what makes a replay "the same request"
    source: str
    destination: str
    amount: int
    status: str
    code: str | None = None
    on_expiry: str | None = None
    expires_us: int | None = None
    posted_amount: int | None = None
    reversed_amount: int = 0
    reverses: str | None = None
    resolution: str | None = None  # the post/void call that resolved it


@dataclass(frozen=True)
class Outcome:
    """What a call should answer.

    `transfer` is set when the call answers a transfer (accepted, or a recorded
    rejection); `code` when it raises; `recorded` whether a rejection was kept.
    """

    code: str | None = None
    recorded: bool = False
    transfer: MTransfer | None = None
    results: list[tuple[str, str | None]] = field(default_factory=list)  # batch: (status, code) each


def refused(code: str) -> Outcome:
    return Outcome(code=code)


class Model:
    def __init__(self, now_us: int, currencies: tuple[str, ...] = ("USD", "EUR", "JPY")) -> None:
        self.now_us = now_us
        self.currencies = set(currencies)
        self.accounts: dict[str, MAccount] = {}
        self.transfers: dict[str, MTransfer] = {}

    # --- time -------------------------------------------------------------------
    def advance(self, seconds: int) -> None:
        self.now_us += seconds * US

    def expire_due(self) -> None:
        """Every hold whose time has come expires (void) or clears (post)."""
        due = [t for t in self.transfers.values() if t.status == "pending" and t.expires_us is not None]
        for t in sorted(due, key=lambda t: t.expires_us or 0):
            if t.expires_us is not None and t.expires_us <= self.now_us:
                if t.on_expiry == "post":
                    self._settle(t, t.amount, "posted")
                else:
                    self._settle(t, 0, "expired")
                t.resolution = "expire"

    def _settle(self, t: MTransfer, amount: int, status: str) -> None:
        source, destination = self.accounts[t.source], self.accounts[t.destination]
        source.pending_out -= t.amount
        destination.pending_in -= t.amount
        source.posted -= amount
        destination.posted += amount
        t.status, t.posted_amount = status, amount

    # --- accounts -------------------------------------------------------------------
    def create_account(
        self,
        id: str,
        currency: str,
        min_balance: int | None = 0,
        max_balance: int | None = None,
        clearing_seconds: int | None = None,
    ) -> Outcome:
        self.expire_due()
        wanted = (currency, min_balance, max_balance, clearing_seconds)
        existing = self.accounts.get(id)
        if existing is not None:
            return Outcome() if existing.opened == wanted else refused("id_conflict")
        if currency not in self.currencies:
            return refused("unknown_currency")
        self.accounts[id] = MAccount(id, currency, min_balance, max_balance, clearing_seconds, opened=wanted)
        return Outcome()

    def set_clearing_seconds(self, id: str, seconds: int | None) -> Outcome:
        """Only money sent from now on: holds already clearing keep their own time."""
        self.expire_due()
        account = self.accounts.get(id)
        if account is None:
            return refused("account_not_found")
        if account.status == "closed":
            return refused("account_not_open")
        account.clearing_seconds = seconds
        return Outcome()

    def set_status(self, id: str, status: str) -> Outcome:
        self.expire_due()
        account = self.accounts.get(id)
        if account is None:
            return refused("account_not_found")
        if account.status == "closed":
            return refused("account_not_open")
        account.status = status
        return Outcome()

    # --- transfers ----------------------------------------------------------------------
    def transfer(
        self,
        source: str,
        destination: str,
        amount: Any,
        *,
        id: str,
        currency: str | None = None,
        reason: str | None = None,
        pending: bool = False,
        expires_in: int | None = None,
        on_expiry: str | None = None,
    ) -> Outcome:
        self.expire_due()
        return self._transfer(source, destination, amount, id, currency, reason, pending, expires_in, on_expiry)

    def _transfer(
        self,
        source_id: str,
        destination_id: str,
        amount: Any,
        id: str,
        currency: str | None,
        reason: str | None,
        pending: bool,
        expires_in: int | None,
        on_expiry: str | None,
    ) -> Outcome:
        if type(amount) is not int or not 1 <= amount <= AMOUNT_MAX or not _ID.fullmatch(id):
            return refused("validation_error")
        request = ("transfer", source_id, destination_id, amount, currency, reason, pending, expires_in, on_expiry)
        replay = self._replay(id, request)
        if replay is not None:
            return replay
        source, destination = self.accounts.get(source_id), self.accounts.get(destination_id)
        if pending:
            on_expiry = on_expiry or "void"
        elif destination is not None and destination.clearing_seconds:
            # A clearing period: the money arrives pending and posts by itself.
            pending, expires_in, on_expiry = True, destination.clearing_seconds, "post"
        code = self._code(source, destination, amount, currency, pending)
        return self._record(id, request, source_id, destination_id, amount, code, pending, expires_in, on_expiry)

    def _replay(self, id: str, request: tuple[Any, ...]) -> Outcome | None:
        existing = self.transfers.get(id)
        if existing is None:
            return None
        if existing.request != request:
            return refused("id_conflict")
        if existing.status == "rejected":
            return Outcome(code=existing.code, recorded=True, transfer=existing)
        return Outcome(transfer=existing)

    def _code(
        self,
        source: MAccount | None,
        destination: MAccount | None,
        amount: int,
        currency: str | None,
        pending: bool,
        reversible: int | None = None,
    ) -> str | None:
        if currency is not None and currency not in self.currencies:
            return "unknown_currency"
        if source is None or destination is None:
            return "account_not_found"
        if source.id == destination.id:
            return "same_account"
        if source.currency != destination.currency or currency not in (None, source.currency):
            return "currency_mismatch"
        if source.status != "open" or destination.status != "open":
            return "account_not_open"
        if reversible is not None and not 0 < amount <= reversible:
            return "exceeds_reversible_amount"
        available_after = source.available - amount
        # Money on its way in must be able to post, whenever it does: count
        # what is already pending in, as max_balance does.
        incoming_after = destination.posted + destination.pending_in + amount
        if pending:
            stored = (source.pending_out + amount, destination.pending_in + amount)
        else:
            stored = (source.posted - amount, destination.posted + amount)
        if not all(fits(value) for value in (available_after, incoming_after, *stored)):
            return "overflow"
        if source.min_balance is not None and available_after < source.min_balance:
            return "insufficient_funds"
        if destination.max_balance is not None and incoming_after > destination.max_balance:
            return "exceeds_max_balance"
        return None

    def _record(
        self,
        id: str,
        request: tuple[Any, ...],
        source_id: str,
        destination_id: str,
        amount: int,
        code: str | None,
        pending: bool,
        expires_in: int | None,
        on_expiry: str | None,
        reverses: str | None = None,
    ) -> Outcome:
        if code is not None:
            t = MTransfer(id, request, source_id, destination_id, amount, "rejected", code, reverses=reverses)
            self.transfers[id] = t
            return Outcome(code=code, recorded=True, transfer=t)
        source, destination = self.accounts[source_id], self.accounts[destination_id]
        if pending:
            expires_us = None if expires_in is None else self.now_us + expires_in * US
            t = MTransfer(id, request, source_id, destination_id, amount, "pending", None, on_expiry, expires_us)
            source.pending_out += amount
            destination.pending_in += amount
        else:
            t = MTransfer(id, request, source_id, destination_id, amount, "posted", posted_amount=amount)
            source.posted -= amount
            destination.posted += amount
        t.reverses = reverses
        self.transfers[id] = t
        return Outcome(transfer=t)

    # --- reversals ------------------------------------------------------------------------
    def reverse(self, reverses: str, *, id: str, amount: int | None = None, reason: str | None = None) -> Outcome:
        self.expire_due()
        return self._reverse(reverses, id, amount, reason)

    def _reverse(self, reverses: str, id: str, amount: int | None, reason: str | None) -> Outcome:
        if amount is not None and (type(amount) is not int or not 1 <= amount <= AMOUNT_MAX):
            return refused("validation_error")
        request = ("reverse", reverses, amount, reason)
        replay = self._replay(id, request)
        if replay is not None:
            return replay
        original = self.transfers.get(reverses)
        if original is None:
            return refused("transfer_not_found")
        reversible = 0
        if original.status == "posted" and original.posted_amount is not None:
            reversible = original.posted_amount - original.reversed_amount
        wanted = reversible if amount is None else amount
        # Money goes back the way it came, at once (no clearing period).
        source, destination = self.accounts.get(original.destination), self.accounts.get(original.source)
        code = self._code(source, destination, wanted, None, False, reversible)
        outcome = self._record(
            id, request, original.destination, original.source, wanted, code, False, None, None, reverses=reverses
        )
        if code is None:
            original.reversed_amount += wanted
        return outcome

    # --- batches ----------------------------------------------------------------------------
    def batch(self, items: list[dict[str, Any]], *, atomic: bool) -> Outcome:
        self.expire_due()
        if len({item["id"] for item in items}) != len(items):
            return refused("validation_error")
        if not atomic:
            results = [self._status_of(self._item(item)) for item in items]
            return Outcome(results=results)
        saved = (copy.deepcopy(self.accounts), copy.deepcopy(self.transfers))
        results = []
        for index, item in enumerate(items):
            outcome = self._item(item)
            if outcome.code is not None:
                self.accounts, self.transfers = saved
                failed = [("rejected", "linked_transfer_failed")] * len(items)
                failed[index] = ("rejected", outcome.code)
                return Outcome(results=failed)
            results.append(self._status_of(outcome))
        return Outcome(results=results)

    def _item(self, item: dict[str, Any]) -> Outcome:
        if "reverses" in item:
            return self._reverse(item["reverses"], item["id"], item.get("amount"), item.get("reason"))
        return self._transfer(
            item["source"],
            item["destination"],
            item["amount"],
            item["id"],
            item.get("currency"),
            item.get("reason"),
            item.get("pending", False),
            item.get("expires_in"),
            item.get("on_expiry"),
        )

    @staticmethod
    def _status_of(outcome: Outcome) -> tuple[str, str | None]:
        if outcome.transfer is not None:
            return (outcome.transfer.status, outcome.transfer.code)
        return ("rejected", outcome.code)

    # --- two-phase ----------------------------------------------------------------------------
    def post(self, id: str, amount: int | None = None) -> Outcome:
        return self._resolve(id, "post", amount)

    def void(self, id: str) -> Outcome:
        return self._resolve(id, "void", None)

    def _resolve(self, id: str, action: str, amount: int | None) -> Outcome:
        self.expire_due()
        if amount is not None and (type(amount) is not int or not 1 <= amount <= AMOUNT_MAX):
            return refused("validation_error")
        t = self.transfers.get(id)
        if t is None:
            return refused("transfer_not_found")
        resolution = action if amount is None else f"{action}:{amount}"
        if t.resolution == resolution:
            return Outcome(transfer=t)  # an exact replay of the call that resolved it
        if t.status == "expired":
            return refused("pending_expired")
        if t.status != "pending":
            return refused("transfer_not_pending")
        wanted = t.amount if amount is None else amount
        if action == "post" and wanted > t.amount:
            return refused("exceeds_pending_amount")
        self._settle(t, wanted if action == "post" else 0, "posted" if action == "post" else "voided")
        t.resolution = resolution
        return Outcome(transfer=t)

    # --- the invariants of API.md section 1 ---------------------------------------------------
    def check_invariants(self) -> None:
        for currency in self.currencies:
            accounts = [a for a in self.accounts.values() if a.currency == currency]
            assert sum(a.posted for a in accounts) == 0, currency
            assert sum(a.pending_in for a in accounts) == sum(a.pending_out for a in accounts), currency
        for a in self.accounts.values():
            assert a.min_balance is None or a.available >= a.min_balance, a
            assert a.pending_in >= 0 and a.pending_out >= 0, a
