"""What the pages show: accounts, statements and holds, formatted for people."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tally.admin.money import format_money
from tally.core.account import Account
from tally.core.clock import to_datetime
from tally.core.errors import LedgerError
from tally.core.transfer import Transfer
from tally.keys import ApiKey
from tally.ledger import Ledger

STATEMENT_PAGE_SIZE = 25
HOLDS_SHOWN_MAX = 100
SEARCH_PAGE_SIZE = 50


def when(us: int | None) -> str:
    return "" if us is None else to_datetime(us).strftime("%Y-%m-%d %H:%M:%S UTC")


def money(account: Account, minor: int | None) -> str:
    return "none" if minor is None else format_money(minor, account.currency, account.scale)


def metadata_text(metadata: dict[str, Any]) -> str:
    """`key: value` pairs, strings bare and anything else as JSON."""
    shown = (
        f"{k}: {v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}" for k, v in sorted(metadata.items())
    )
    return " · ".join(shown)


@dataclass(frozen=True, slots=True)
class StatementLine:
    seq: int
    at: str
    transfer_id: str
    amount: str
    incoming: bool
    balance_after: str
    counterparty: str
    reason: str
    metadata: str
    reverses: str | None
    reversible: bool


@dataclass(frozen=True, slots=True)
class HoldLine:
    id: str
    incoming: bool
    counterparty: str
    amount: str
    expires_at: str
    on_expiry: str
    reason: str


def statement(ledger: Ledger, account: Account, after: str | None) -> tuple[list[StatementLine], str | None]:
    """One page of the statement, newest first, and the cursor of the next (older) page."""
    page = ledger.entries(account.id, order="desc", after=after, limit=STATEMENT_PAGE_SIZE)
    lines = []
    for entry in page:
        transfer = ledger.get_transfer(entry.transfer_id)
        lines.append(
            StatementLine(
                seq=entry.seq,
                at=when(entry.created_us),
                transfer_id=entry.transfer_id,
                amount=("+" if entry.amount > 0 else "") + money(account, entry.amount),
                incoming=entry.amount > 0,
                balance_after=money(account, entry.balance_after),
                counterparty=_counterparty(transfer, account.id),
                reason=entry.reason or "",
                metadata=metadata_text(transfer.metadata),
                reverses=transfer.reverses,
                reversible=transfer.status == "posted" and remaining(transfer) > 0,
            )
        )
    return lines, page.next


def holds(ledger: Ledger, account: Account) -> list[HoldLine]:
    page = ledger.transfers(account=account.id, status="pending", limit=HOLDS_SHOWN_MAX)
    return [
        HoldLine(
            id=t.id,
            incoming=t.destination == account.id,
            counterparty=_counterparty(t, account.id),
            amount=money(account, t.amount),
            expires_at=when(t.expires_us) or "never",
            on_expiry=t.on_expiry or "void",
            reason=t.reason or "",
        )
        for t in page
    ]


def _counterparty(transfer: Transfer, account_id: str) -> str:
    return transfer.destination if transfer.source == account_id else transfer.source


def remaining(transfer: Transfer) -> int:
    settled = transfer.posted_amount if transfer.posted_amount is not None else transfer.amount
    return settled - transfer.reversed_amount


Found = tuple[list["SearchLine"], str | None, str | None]


def search(ledger: Ledger, key: ApiKey, query: str, after: str | None) -> Found:
    """Accounts whose id starts with `query` (all when empty), within the key's scope; and an error in words."""
    prefix = _scoped_prefix(key, query)
    if prefix is None:
        return [], None, None
    try:
        page = ledger.accounts(prefix or None, after=after, limit=SEARCH_PAGE_SIZE)
    except LedgerError as error:
        return [], None, error.message
    lines = [SearchLine(a.id, a.currency, a.status, money(a, a.available), money(a, a.posted)) for a in page]
    return lines, page.next, None


@dataclass(frozen=True, slots=True)
class SearchLine:
    id: str
    currency: str
    status: str
    available: str
    posted: str


def _scoped_prefix(key: ApiKey, query: str) -> str | None:
    """The prefix to list for a key limited to `key.accounts`; None when nothing can match."""
    scope = key.accounts
    if scope is None or query.startswith(scope):
        return query
    return scope if scope.startswith(query) else None


def balances(account: Account) -> list[tuple[str, str]]:
    return [
        ("Available", money(account, account.available)),
        ("Posted", money(account, account.posted)),
        ("Pending in", money(account, account.pending_in)),
        ("Pending out", money(account, account.pending_out)),
    ]


def limits(account: Account) -> list[tuple[str, str]]:
    return [
        ("Minimum balance", "no lower limit" if account.min_balance is None else money(account, account.min_balance)),
        ("Maximum balance", "no upper limit" if account.max_balance is None else money(account, account.max_balance)),
        ("Clearing period", f"{account.clearing_seconds} s" if account.clearing_seconds else "none"),
    ]
