"""The Store protocol and the row shapes both stores share."""

from __future__ import annotations

import functools
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import orjson

from tally.core.account import Account, build_account
from tally.core.events import Event
from tally.core.transfer import Entry, Transfer, build_entry, build_transfer


@dataclass(frozen=True, slots=True)
class Head:
    """The head of the journal: the last seq, its hash, and its time."""

    seq: int
    hash: str
    time_us: int


class Begun(NamedTuple):
    """What `Store.begin` found: the head, the holds due, and the rows the write asked for."""

    head: Head
    due: list[str]
    accounts: dict[str, Account]
    transfers: dict[str, Transfer]


@dataclass(slots=True)
class Changes:
    """What one write transaction adds or changes, in journal order: all of it, or one part.

    The engine may hand a store a long group's rows in parts, as it decides
    them: every part but the last holds only journal events, entries and new
    transfers, and has no head; the last holds the rest and the new head.
    """

    journal: list[tuple[int, int, str, str, str]] = field(default_factory=list)  # seq, us, kind, data, hash
    new_accounts: list[Account] = field(default_factory=list)
    changed_accounts: list[Account] = field(default_factory=list)  # settings or status changed (all columns)
    moved_accounts: list[Account] = field(default_factory=list)  # only the balances changed
    new_transfers: list[Transfer] = field(default_factory=list)
    changed_transfers: list[Transfer] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    currencies: list[tuple[str, int]] = field(default_factory=list)
    head: Head | None = None


# The part size PostgreSQL asks for (`Store.stream_events`).
STREAM_EVENTS = 100


class Stale(Exception):
    """`Store.begin_on_head` refused: the journal's head moved, or a hold came due.

    Nothing was written. The engine's remembered accounts may be out of date;
    it writes the group again the usual way.
    """


class Store(Protocol):
    """Persistence for one ledger. A store never commits on its own."""

    url: str
    dialect: str
    # Whether the engine hands a long group's rows in parts of this many
    # events as it decides them (a store across a network writes one part
    # while the next is decided), or None: all of them at the group's end (a
    # store in this process would only pay for the parts).
    stream_events: int | None
    # Whether a one-row read is answered in this process, without a network
    # round trip (SQLite: an indexed read of a local file, tens of µs), so that
    # a caller on an event loop may make it there rather than hand it to a
    # thread.
    local_reads: bool
    # Whether a write transaction runs in this process (SQLite: a local file),
    # so that a caller on an event loop may write there when nothing else is
    # writing, rather than hand the write to a thread (see `without_waiting`).
    local_writes: bool

    # --- the write unit of work (one per engine; the engine serialises it) ----
    def begin(
        self, now_us: int, due_limit: int, account_ids: Sequence[str] = (), transfer_ids: Sequence[str] = ()
    ) -> Begun:
        """Start a write transaction, lock the journal head, list the holds due, and load rows.

        One call, so that a store across a network asks in one round trip: the
        head, then (holding its lock) up to `due_limit` pending transfers whose
        time has come by `now_us`, soonest first, and the accounts and
        transfers with these ids that exist (what `load` answers).
        """
        ...

    def load(
        self, account_ids: Sequence[str], transfer_ids: Sequence[str]
    ) -> tuple[dict[str, Account], dict[str, Transfer]]:
        """The accounts and transfers with these ids that exist (one round trip)."""
        ...

    def load_currencies(self) -> dict[str, int]: ...
    def due_transfers(self, now_us: int, limit: int) -> list[str]: ...
    def write(self, changes: Changes) -> None:
        """Write a part of the transaction's rows (see `Changes`); the part with the head is the last.

        A store may leave the rows to run while the engine goes on: an error
        of any part is raised by the next `write` or by `commit` at the latest.
        """
        ...

    def commit(self) -> None:
        """Commit the transaction, or raise the error of a part written before it."""
        ...

    def rollback(self) -> None: ...
    def begin_on_head(self, expected: Head, now_us: int) -> None:
        """Start a write transaction that commits only if the journal's head is still `expected`.

        The engine decides the group from the accounts and holds its own last
        commit left, without loading them: right only if no write has
        committed since. So: take the head's lock, and refuse the transaction
        (raise `Stale`, here or by `commit` at the latest, with nothing
        written) if the head is no longer `expected` or a pending transfer is
        due by `now_us` (it would have to expire first). The group's rows
        follow through `write`, and `commit` ends it as for `begin`; across a
        network all of it may go in one round trip.
        """
        ...

    def is_transient(self, error: BaseException) -> bool:
        """Whether a write that raised `error` may simply be tried again."""
        ...

    def without_waiting(self) -> AbstractContextManager[None]:
        """Within this block, a write transaction that finds the database's write
        lock held by another connection fails at once, with an error that
        `is_transient` accepts, instead of waiting for the lock."""
        ...

    # --- reads, from any thread, outside the write transaction ---------------
    def head(self) -> Head: ...
    def account(self, id: str) -> Account | None: ...
    def accounts(self, prefix: str | None, after: str | None, limit: int) -> list[Account]: ...
    def transfer(self, id: str) -> Transfer | None: ...
    def transfers(
        self, account: str | None, status: str | None, after: int | None, limit: int, prefix: str | None = None
    ) -> list[Transfer]: ...
    def entries(self, account_id: str, after: int | None, limit: int, descending: bool) -> list[Entry]: ...
    def posted_as_of(self, account_id: str, seq: int) -> int: ...
    def seq_at(self, time_us: int) -> int: ...
    def events(self, after: int, limit: int) -> list[Event]: ...
    def due_for_accounts(self, ids: Sequence[str], now_us: int) -> list[str]: ...
    def account_due(self, id: str, now_us: int) -> tuple[Account | None, list[str]]:
        """An account, and the pending transfers touching it that are due by `now_us`, in one query.

        A read of one account (its balance, above all) asks both: holds whose
        time has come are expired before the account is shown. An account that
        does not exist has no holds (a transfer naming it was rejected).
        """
        ...

    def next_expiry(self) -> int | None:
        """When the next pending transfer expires (microseconds), if any does."""
        ...

    def currencies(self) -> dict[str, int]: ...

    # --- verify: the whole history, from one consistent snapshot -------------
    def snapshot(self) -> AbstractContextManager[Snapshot]:
        """A read-only view of every table as of one moment, for `verify`."""
        ...

    def iter_journal(self) -> Iterator[tuple[int, int, str, str, str]]: ...
    def iter_accounts(self) -> Iterator[Account]: ...
    def iter_transfers(self) -> Iterator[Transfer]: ...
    def iter_entries(self) -> Iterator[Entry]: ...

    # --- API keys (not money: kept beside the journal, not in it) -------------
    def insert_key(self, row: dict[str, Any]) -> None: ...
    def keys(self) -> list[dict[str, Any]]: ...
    def keys_by_hashes(self, token_hashes: Sequence[str]) -> list[dict[str, Any]]: ...
    def revoke_key(self, id: str, now_us: int) -> bool: ...

    def close(self) -> None: ...


SNAPSHOT_CHUNK = 5000


class Snapshot:
    """Stream whole tables in key order from one read transaction.

    `verify` compares the journal with every derived table; reading them in
    separate transactions while writers commit would report differences that
    never existed. `cursor_for(sql)` runs a query in the snapshot's one
    transaction and returns a cursor with `fetchmany`.
    """

    def __init__(self, cursor_for: Callable[[str], Any], entries_order: str = "seq, account_id") -> None:
        self._cursor_for = cursor_for
        self._entries_order = entries_order

    def _stream(self, sql: str, build: Callable[[Any], Any]) -> Iterator[Any]:
        cursor = self._cursor_for(sql)
        while chunk := cursor.fetchmany(SNAPSHOT_CHUNK):
            yield from map(build, chunk)

    def head(self) -> Head:
        return Head(*next(self._stream("SELECT seq, hash, time_us FROM ledger_head WHERE id = 1", tuple)))

    def currencies(self) -> dict[str, int]:
        return dict(self._stream("SELECT code, scale FROM currencies", tuple))

    def iter_journal(self) -> Iterator[tuple[int, int, str, str, str]]:
        """(seq, created_us, kind, data as stored, hash), in seq order."""
        return self._stream(f"SELECT {JOURNAL_COLUMNS} FROM journal ORDER BY seq", tuple)

    def iter_accounts(self) -> Iterator[Account]:
        return self._stream(f"SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY id", account_from_row)

    def iter_transfers(self) -> Iterator[Transfer]:
        return self._stream(f"SELECT {TRANSFER_COLUMNS} FROM transfers ORDER BY id", transfer_from_row)

    def iter_entries(self) -> Iterator[Entry]:
        return self._stream(f"SELECT {ENTRY_COLUMNS} FROM entries ORDER BY {self._entries_order}", entry_from_row)


class SnapshotIterators(ABC):
    """A store's whole-table streams, each from a snapshot of its own."""

    @abstractmethod
    def snapshot(self) -> AbstractContextManager[Snapshot]: ...

    def iter_journal(self) -> Iterator[tuple[int, int, str, str, str]]:
        with self.snapshot() as snapshot:
            yield from snapshot.iter_journal()

    def iter_accounts(self) -> Iterator[Account]:
        with self.snapshot() as snapshot:
            yield from snapshot.iter_accounts()

    def iter_transfers(self) -> Iterator[Transfer]:
        with self.snapshot() as snapshot:
            yield from snapshot.iter_transfers()

    def iter_entries(self) -> Iterator[Entry]:
        with self.snapshot() as snapshot:
            yield from snapshot.iter_entries()


# --- rows shared by both stores (same columns, same order) ------------------------

ACCOUNT_COLUMNS = (
    "id, currency, scale, min_balance, max_balance, clearing_seconds, status, metadata, "
    "created_us, seq, posted, pending_in, pending_out, fingerprint"
)
TRANSFER_COLUMNS = (
    "id, source, destination, amount, currency, reason, metadata, pending, expires_in, on_expiry, "
    "seq, status, code, created_us, expires_us, posted_amount, reverses, reversed_amount, "
    "resolved_seq, resolution, fingerprint"
)
ENTRY_COLUMNS = "account_id, seq, transfer_id, amount, balance_after, created_us, reason"
JOURNAL_COLUMNS = "seq, created_us, kind, data, hash"
CURRENCY_COLUMNS = "code, scale"
KEY_COLUMNS = ("id", "token_hash", "role", "accounts", "name", "created_us", "revoked_us")


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def dumps(value: Any) -> str:
    """The stored JSON text of a journal payload or metadata: sorted keys, compact.

    Every transfer encodes one journal payload: orjson does it in 0.8 µs where
    the standard library takes 6.5 µs. Integers beyond 64 bits, which orjson
    refuses, go through the standard encoder; the same value always gives the
    same text, which is all the hash chain and `verify` need.
    """
    # Most metadata is empty, and every transfer stores one and updates two
    # accounts' rows: skip the encoder for that case (same text).
    if type(value) is dict and not value:
        return "{}"
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return _ENCODER.encode(value)


def _metadata(text: str) -> dict[str, Any]:
    """Stored metadata, usually empty: a new dict each time, never a shared one."""
    if text == "{}":
        return {}
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def account_from_row(row: Sequence[Any]) -> Account:
    return build_account(
        row[0], row[1], row[2], row[3], row[4], row[5], row[6], _metadata(row[7]),
        row[8], row[9], row[10], row[11], row[12], row[13],
    )  # fmt: skip


def account_to_row(a: Account) -> tuple[Any, ...]:
    return (
        a.id, a.currency, a.scale, a.min_balance, a.max_balance, a.clearing_seconds, a.status,
        dumps(a.metadata), a.created_us, a.seq, a.posted, a.pending_in, a.pending_out, a.fingerprint,
    )  # fmt: skip


def account_update_row(a: Account) -> tuple[Any, ...]:
    return (
        a.min_balance, a.max_balance, a.clearing_seconds, a.status, dumps(a.metadata),
        a.posted, a.pending_in, a.pending_out, a.id,
    )  # fmt: skip


# What a write changes of an account, in `account_update_row`'s order (the id last).
ACCOUNT_UPDATED_COLUMNS = (
    "min_balance", "max_balance", "clearing_seconds", "status", "metadata", "posted", "pending_in", "pending_out",
)  # fmt: skip
ACCOUNT_UPDATE = (
    "UPDATE accounts SET " + ", ".join(f"{name} = {{p}}" for name in ACCOUNT_UPDATED_COLUMNS) + " WHERE id = {p}"
)


def account_move_row(a: Account) -> tuple[int, int, int, str]:
    return (a.posted, a.pending_in, a.pending_out, a.id)


# What a transfer changes of an account (`Changes.moved_accounts`), in
# `account_move_row`'s order: no metadata to encode, fewer columns to bind.
ACCOUNT_MOVED_COLUMNS = ("posted", "pending_in", "pending_out")
ACCOUNT_MOVE = (
    "UPDATE accounts SET " + ", ".join(f"{name} = {{p}}" for name in ACCOUNT_MOVED_COLUMNS) + " WHERE id = {p}"
)


def transfer_from_row(row: Sequence[Any]) -> Transfer:
    return build_transfer(
        row[0], row[1], row[2], row[3], row[4], row[5], _metadata(row[6]), bool(row[7]), row[8],
        row[9], row[10], row[11], row[12], row[13], row[14], row[15], row[16], row[17], row[18],
        row[19], row[20],
    )  # fmt: skip


def transfer_to_row(t: Transfer, boolean: Any = int) -> tuple[Any, ...]:
    return (
        t.id, t.source, t.destination, t.amount, t.currency, t.reason, dumps(t.metadata),
        boolean(t.pending), t.expires_in, t.on_expiry, t.seq, t.status, t.code, t.created_us,
        t.expires_us, t.posted_amount, t.reverses, t.reversed_amount, t.resolved_seq, t.resolution,
        t.fingerprint,
    )  # fmt: skip


def transfer_update_row(t: Transfer) -> tuple[Any, ...]:
    return (t.status, t.posted_amount, t.reversed_amount, t.resolved_seq, t.resolution, t.id)


TRANSFER_UPDATE = (
    "UPDATE transfers SET status = {p}, posted_amount = {p}, reversed_amount = {p}, "
    "resolved_seq = {p}, resolution = {p} WHERE id = {p}"
)


def entry_from_row(row: Sequence[Any]) -> Entry:
    return build_entry(*row)


def entry_to_row(e: Entry) -> tuple[Any, ...]:
    return (e.account_id, e.seq, e.transfer_id, e.amount, e.balance_after, e.created_us, e.reason)


def event_from_row(row: Sequence[Any]) -> Event:
    return Event(row[0], row[2], json.loads(row[3]), row[1], row[4])


HEAD_UPDATE = "UPDATE ledger_head SET seq = {p}, hash = {p}, time_us = {p} WHERE id = 1"


def head_row(head: Head) -> tuple[int, str, int]:
    return (head.seq, head.hash, head.time_us)


def placeholders(columns: str, mark: str) -> str:
    return ", ".join([mark] * len(columns.split(",")))


@dataclass(frozen=True)
class Dialect:
    """What the transfer listing's SQL says differently per database."""

    mark: str  # a parameter's placeholder
    held: str  # the partial indexes' condition (schema 0002), word for word
    false: str
    prefix: str  # the first {n} characters of {column}


def transfers_sql(
    dialect: Dialect, account: str | None, status: str | None, after: int | None, limit: int, prefix: str | None
) -> tuple[str, list[Any]]:
    """The query of `Store.transfers`, and its parameters.

    By account: holds and rejections through the partial indexes by source and
    by destination (`source <> account`: a recorded self-transfer, a
    same_account rejection, comes once); transfers posted as they were made
    through the account's entries, whose seq is the transfer's (a hold's
    entries have the seq of its post). Each part is ordered and cut to `limit`
    before they are merged.
    """
    p = dialect.mark

    def where(t: str, status: str | None) -> tuple[str, list[Any]]:
        """The status and the scope's prefix, as terms to add (each after an AND)."""
        terms = ""
        params: list[Any] = []
        if status is not None:
            terms += f" AND {t}status = {p}"
            params.append(status)
        if prefix is not None:
            first = [dialect.prefix.format(column=f"{t}{column}", n=p) for column in ("source", "destination")]
            terms += f" AND ({first[0]} = {p} OR {first[1]} = {p})"
            params += [len(prefix), prefix, len(prefix), prefix]
        return terms, params

    terms, params = where("", status)
    clause, params = f"seq > {p}{terms}", [after or 0, *params]
    if account is None:
        return f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE {clause} ORDER BY seq LIMIT {p}", [*params, limit]
    held = f"{dialect.held} AND {clause} ORDER BY seq LIMIT {p}"
    parts = [
        f"SELECT * FROM (SELECT * FROM transfers WHERE source = {p} AND {held}) AS held_out",
        f"SELECT * FROM (SELECT * FROM transfers WHERE destination = {p} AND source <> {p} AND {held}) AS held_in",
    ]
    arguments: list[Any] = [account, *params, limit, account, account, *params, limit]
    if status in (None, "posted"):
        # A transfer not pending with an entry is posted, at the entry's seq:
        # the part tests nothing more of it (no status, no seq), so that
        # PostgreSQL's planner, which guesses such terms rare when its
        # statistics are old, keeps to the entries' order and stops at the page.
        direct, direct_params = where("t.", None)
        parts.append(
            "SELECT * FROM (SELECT t.* FROM entries AS e JOIN transfers AS t ON t.id = e.transfer_id "
            f"WHERE e.account_id = {p} AND e.seq > {p} AND t.pending = {dialect.false}{direct} "
            f"ORDER BY e.seq LIMIT {p}) AS direct"
        )
        arguments += [account, after or 0, *direct_params, limit]
    sql = f"SELECT {TRANSFER_COLUMNS} FROM ({' UNION ALL '.join(parts)}) AS touching ORDER BY seq LIMIT {p}"
    return sql, [*arguments, limit]


@functools.cache
def insert_sql(table: str, columns: str, mark: str, rows: int = 1) -> str:
    """An INSERT of `rows` rows into `table`, built once: every write sends some."""
    return f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([f"({placeholders(columns, mark)})"] * rows)
