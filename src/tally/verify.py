"""`verify`: recompute everything from the journal and compare.

It replays the journal from seq 1 through the same core rules the engine used,
and checks: the hash chain and the gap-free seq; that every recorded decision
(accepted, rejected, with which code) is the one the rules give; that every
derived row (accounts, transfers, entries, currencies) is what the journal
says; and the invariants (per currency, posted sums to 0 and pending_in equals
pending_out). Memory grows with the number of accounts and transfers, not with
the entries, which are compared as a stream.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tally.core import commands as cmd
from tally.core import events as ev
from tally.core.account import Account
from tally.core.events import GENESIS_HASH, chain_hash
from tally.core.evolve import apply
from tally.core.machine import execute
from tally.core.state import Working
from tally.core.transfer import Entry, Transfer
from tally.currencies import iso_scale
from tally.store import base
from tally.store.base import Snapshot, Store

PROBLEMS_MAX = 100


@dataclass(frozen=True, slots=True)
class Problem:
    seq: int | None  # the journal seq it concerns, when there is one
    message: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.message}" if self.seq is not None else self.message


@dataclass(slots=True)
class VerifyReport:
    head_seq: int = 0
    events: int = 0
    accounts: int = 0
    transfers: int = 0
    entries: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_seq(self) -> int | None:
        seqs = [p.seq for p in self.problems if p.seq is not None]
        return min(seqs) if seqs else None

    def add(self, seq: int | None, message: str) -> None:
        if len(self.problems) < PROBLEMS_MAX:
            self.problems.append(Problem(seq, message))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "head_seq": self.head_seq,
            "events": self.events,
            "accounts": self.accounts,
            "transfers": self.transfers,
            "entries": self.entries,
            "first_bad_seq": self.first_bad_seq,
            "problems": [str(p) for p in self.problems],
        }


class _Empty:
    """The loader of a replay: before seq 1 there is nothing."""

    def account(self, id: str) -> Account | None:
        return None

    def transfer(self, id: str) -> Transfer | None:
        return None

    def currency_scale(self, code: str) -> int | None:
        return iso_scale(code)


def command_of(kind: str, data: dict[str, Any]) -> cmd.Command:
    """The command an event records the outcome of."""
    if kind in (ev.TRANSFER_POSTED, ev.TRANSFER_PENDING, ev.TRANSFER_REJECTED):
        c = dict(data["command"])
        if c.pop("kind") == "reverse":
            return cmd.ReverseTransfer(**c)
        return cmd.CreateTransfer(**c)
    if kind in (ev.PENDING_POSTED, ev.PENDING_VOIDED):
        action, _, amount = data["resolution"].partition(":")
        return cmd.ResolvePending(data["id"], action, int(amount) if amount else None)
    if kind == ev.PENDING_EXPIRED:
        return cmd.ExpireDue((data["id"],))
    if kind == ev.ACCOUNT_OPENED:
        fields = {k: data[k] for k in ("id", "currency", "min_balance", "max_balance", "clearing_seconds", "metadata")}
        return cmd.OpenAccount(**fields)
    if kind == ev.ACCOUNT_UPDATED:
        return cmd.UpdateAccount(data["id"], data["changes"])
    if kind in (ev.ACCOUNT_FROZEN, ev.ACCOUNT_UNFROZEN, ev.ACCOUNT_CLOSED):
        action = {ev.ACCOUNT_FROZEN: "freeze", ev.ACCOUNT_UNFROZEN: "unfreeze", ev.ACCOUNT_CLOSED: "close"}[kind]
        return cmd.SetAccountStatus(data["id"], action, data["reason"])  # type: ignore[arg-type]
    return cmd.RegisterCurrency(data["code"], data["scale"])


def verify(store: Store) -> VerifyReport:
    with store.snapshot() as snapshot:
        return _verify(snapshot)


def _verify(store: Snapshot) -> VerifyReport:
    report = VerifyReport()
    state = Working(_Empty(), 0, 0)
    stored_entries = _Cursor(store.iter_entries())
    previous_hash, previous_seq, previous_us = GENESIS_HASH, 0, 0
    for seq, created_us, kind, text, stored_hash in store.iter_journal():
        report.events += 1
        if seq != previous_seq + 1:
            report.add(previous_seq + 1, f"the journal skips from seq {previous_seq} to {seq}")
        if created_us < previous_us:
            report.add(seq, "the journal's time goes backwards")
        expected_hash = chain_hash(previous_hash, seq, created_us, kind, text)
        if expected_hash != stored_hash:
            report.add(seq, "the hash chain breaks: this row was changed, inserted or a row before it removed")
        previous_hash, previous_seq, previous_us = stored_hash, seq, created_us
        try:
            data = json.loads(text)
            _replay(state, report, seq, created_us, kind, data)
        except (ValueError, KeyError, TypeError, AssertionError) as error:
            report.add(seq, f"the event cannot be replayed: {error!r}")
            continue
        _compare_entries(report, seq, state.entries, stored_entries)
        state.entries.clear()
    for extra in stored_entries.rest():
        report.add(extra.seq, f"entry of {extra.account_id} at seq {extra.seq} has no journal event")
    _compare_head(store, report, previous_seq, previous_hash)
    _compare_accounts(store, report, state)
    _compare_transfers(store, report, state)
    _compare_currencies(store, report, state)
    _check_invariants(report, state)
    report.head_seq = previous_seq
    return report


def _replay(state: Working, report: VerifyReport, seq: int, created_us: int, kind: str, data: dict[str, Any]) -> None:
    """Decide the event's command again and compare; then apply the stored event."""
    trial = state.child()
    trial.seq = seq - 1
    trial.now_us = created_us
    command = command_of(kind, data)
    execute(trial, command)
    expected = [(seq, kind, base.dumps(data))]
    decided = [(s, k, base.dumps(_as_recorded(command, d, data))) for s, k, d in trial.events]
    if decided != expected:
        report.add(seq, f"the rules decide otherwise: recorded {kind}, replay gives {[k for _, k, _ in decided]}")
    state.now_us = created_us
    state.seq = seq
    state.events.append((seq, kind, data))
    apply(state, seq, kind, data, created_us)
    state.events.clear()


def _as_recorded(command: cmd.Command, decided: dict[str, Any], recorded: dict[str, Any]) -> dict[str, Any]:
    """The replay's event, with the request's fingerprint in the form the event has.

    Tally 0.1.0 wrote a transfer request's fingerprint in an older form; the
    replay test of a retry (`commands.matches`) decides whether a recorded
    fingerprint is this same request's, and the hash chain covers the text as
    written.
    """
    old = recorded.get("fingerprint")
    if (
        isinstance(command, (cmd.CreateTransfer, cmd.ReverseTransfer))
        and isinstance(old, str)
        and old != decided.get("fingerprint")
        and cmd.matches(command, old)
    ):
        return {**decided, "fingerprint": old}
    return decided


class _Cursor:
    def __init__(self, rows: Iterator[Entry]) -> None:
        self.rows = rows
        self.peeked: Entry | None = next(rows, None)

    def take_through(self, seq: int) -> list[Entry]:
        taken = []
        while self.peeked is not None and self.peeked.seq <= seq:
            taken.append(self.peeked)
            self.peeked = next(self.rows, None)
        return taken

    def rest(self) -> Iterator[Entry]:
        while self.peeked is not None:
            yield self.peeked
            self.peeked = next(self.rows, None)


def _compare_entries(report: VerifyReport, seq: int, produced: list[Entry], stored: _Cursor) -> None:
    found = stored.take_through(seq)
    report.entries += len(found)
    want = sorted(produced, key=lambda e: e.account_id)
    if [base.entry_to_row(e) for e in found] != [base.entry_to_row(e) for e in want]:
        bad = min((e.seq for e in found), default=seq)
        report.add(min(bad, seq), "the entries table does not match the journal here")


def _compare_head(store: Snapshot, report: VerifyReport, seq: int, hash: str) -> None:
    head = store.head()
    if head.seq != seq:
        report.add(min(head.seq, seq) + 1, f"the head says seq {head.seq} but the journal ends at {seq}")
    elif head.hash != hash:
        report.add(seq, "the head's hash does not match the journal's last row")


def _compare_accounts(store: Snapshot, report: VerifyReport, state: Working) -> None:
    replayed = state.accounts
    seen = set()
    for account in store.iter_accounts():
        report.accounts += 1
        seen.add(account.id)
        expected = replayed.get(account.id)
        if expected is None:
            report.add(account.seq, f"account {account.id} is not in the journal")
        elif base.account_to_row(account) != base.account_to_row(expected):
            report.add(
                None,
                f"account {account.id} differs from the journal: stored {account.balance}, replayed {expected.balance}",
            )
    for id in replayed.keys() - seen:
        report.add(replayed[id].seq, f"account {id} is missing")


def _compare_transfers(store: Snapshot, report: VerifyReport, state: Working) -> None:
    replayed = state.transfers
    seen = set()
    for transfer in store.iter_transfers():
        report.transfers += 1
        seen.add(transfer.id)
        expected = replayed.get(transfer.id)
        if expected is None:
            report.add(transfer.seq, f"transfer {transfer.id} is not in the journal")
        elif base.transfer_to_row(transfer) != base.transfer_to_row(expected):
            report.add(transfer.seq, f"transfer {transfer.id} differs from the journal")
    for id in replayed.keys() - seen:
        report.add(replayed[id].seq, f"transfer {id} is missing")


def _compare_currencies(store: Snapshot, report: VerifyReport, state: Working) -> None:
    if store.currencies() != state.currencies:
        report.add(None, "the currencies table differs from the journal")


def _check_invariants(report: VerifyReport, state: Working) -> None:
    posted: dict[str, int] = defaultdict(int)
    pending_in: dict[str, int] = defaultdict(int)
    pending_out: dict[str, int] = defaultdict(int)
    for account in state.accounts.values():
        posted[account.currency] += account.posted
        pending_in[account.currency] += account.pending_in
        pending_out[account.currency] += account.pending_out
    for currency, total in sorted(posted.items()):
        if total != 0:
            report.add(None, f"{currency}: posted balances sum to {total}, not 0")
        if pending_in[currency] != pending_out[currency]:
            report.add(None, f"{currency}: pending_in {pending_in[currency]} != pending_out {pending_out[currency]}")
