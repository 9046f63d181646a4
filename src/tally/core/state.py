"""The working state of one write: what the rules read and the events change.

A `Working` state reads through to a `Loader` (the store, in the engine; the
replayed history, in `verify`) and keeps every change in memory until the
engine writes them in one database transaction. An atomic batch runs in a
`child()` that is merged on success and dropped on failure.
"""

from __future__ import annotations

from typing import Any, Protocol

from tally.core.account import Account
from tally.core.transfer import Entry, Transfer


class Loader(Protocol):
    def account(self, id: str) -> Account | None: ...
    def transfer(self, id: str) -> Transfer | None: ...
    def currency_scale(self, code: str) -> int | None: ...


class Working:
    def __init__(self, loader: Loader, seq: int, now_us: int, parent: Working | None = None) -> None:
        self.loader = loader
        self.seq = seq
        self.now_us = now_us
        self.parent = parent
        self.accounts: dict[str, Account] = {}
        self.transfers: dict[str, Transfer] = {}
        self.currencies: dict[str, int] = {}
        self.events: list[tuple[int, str, dict[str, Any]]] = []
        self.entries: list[Entry] = []
        self.new_accounts: set[str] = set()
        self.new_transfers: dict[str, None] = {}  # a set that keeps the order they were made in

    # --- reads: this layer, then the parent, then the loader -------------------
    def account(self, id: str) -> Account | None:
        found = self.accounts.get(id)
        if found is not None:
            return found
        return self.parent.account(id) if self.parent is not None else self.loader.account(id)

    def transfer(self, id: str) -> Transfer | None:
        found = self.transfers.get(id)
        if found is not None:
            return found
        return self.parent.transfer(id) if self.parent is not None else self.loader.transfer(id)

    def currency_scale(self, code: str) -> int | None:
        found = self.currencies.get(code)
        if found is not None:
            return found
        return self.parent.currency_scale(code) if self.parent is not None else self.loader.currency_scale(code)

    # --- writes ----------------------------------------------------------------
    def emit(self, kind: str, data: dict[str, Any]) -> int:
        self.seq += 1
        self.events.append((self.seq, kind, data))
        return self.seq

    def put_account(self, account: Account, *, new: bool = False) -> None:
        self.accounts[account.id] = account
        if new:
            self.new_accounts.add(account.id)

    def put_transfer(self, transfer: Transfer, *, new: bool = False) -> None:
        self.transfers[transfer.id] = transfer
        if new:
            self.new_transfers[transfer.id] = None

    def child(self) -> Working:
        return Working(self.loader, self.seq, self.now_us, parent=self)

    def merge(self) -> None:
        """Fold this child's changes into its parent."""
        parent = self.parent
        assert parent is not None, "merge() is for a child state"
        parent.seq = self.seq
        parent.accounts.update(self.accounts)
        parent.transfers.update(self.transfers)
        parent.currencies.update(self.currencies)
        parent.events.extend(self.events)
        parent.entries.extend(self.entries)
        parent.new_accounts |= self.new_accounts
        parent.new_transfers.update(self.new_transfers)
