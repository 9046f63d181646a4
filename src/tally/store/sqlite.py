"""The SQLite store: one file, WAL, synchronous=FULL, BEGIN IMMEDIATE for writes.

One write connection (the engine serialises its use) and one read connection
per thread; WAL lets readers run beside the writer. Between processes,
`BEGIN IMMEDIATE` takes the file's write lock and the busy timeout waits for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from tally.core.account import Account
from tally.core.errors import ValidationError
from tally.core.events import Event
from tally.core.transfer import Entry, Transfer
from tally.store import base
from tally.store.base import Begun, Changes, Head
from tally.store.schema import HELD_SQLITE, SCHEMA_REVISION

BUSY_TIMEOUT_MS = 10_000
# A checkpoint copies the WAL's pages into the database file. SQLite's default
# runs one whenever a commit leaves more than 1,000 pages in the WAL: after
# almost every batch of 1,000 transfers, which dirties that many pages, mostly
# the same ones each time (the last page of each account's entries and index
# ranges). Running one every 10,000 pages copies each of those once for ten
# batches. When the WAL starts over after a checkpoint, its file is cut back to
# `WAL_SIZE_LIMIT` bytes.
WAL_CHECKPOINT_PAGES = 10_000
WAL_SIZE_LIMIT = 64 * 1024 * 1024
# The write connection's page cache, in KiB (SQLite's default is 2,000 KiB,
# about 500 pages). A batch of 1,000 transfers among 1,000 accounts dirties
# about 2,400 pages (the last page of each account's range in the entries and
# the two transfer account indexes, the accounts, the appended rows): with the
# default cache SQLite spills dirty pages to the WAL in the middle of the
# transaction and reads evicted ones back, about 5,000 system calls per batch
# more. The writer keeps its cache from one commit to the next (nothing else
# wrote), so the pages it dirties each time stay in memory. A bound, not a
# share of the history: the cache holds at most this much however long the
# journal grows, and fills up to it as the ledger is written (a `tally serve`
# under load levels about 70 MB above where it started after a minute or so;
# bench/ANALYSIS.md). Readers keep the default: SQLite drops a reader's cache
# whenever another connection has written since its last read.
WRITER_CACHE_KIB = 64 * 1024
MIGRATE_ATTEMPTS_MAX = 100
_ITER_CHUNK = 5000


def sqlite_path(url: str) -> tuple[str, bool]:
    """The file a `sqlite:///` URL names, and whether it is a throwaway one."""
    if url in ("sqlite://", "sqlite:///:memory:"):
        handle, path = tempfile.mkstemp(prefix="tally-", suffix=".sqlite3")
        os.close(handle)
        return path, True
    if not url.startswith("sqlite:///") or len(url) <= len("sqlite:///"):
        raise ValidationError("a SQLite URL looks like sqlite:///path/to/file.sqlite3", field="url")
    return url[len("sqlite:///") :].split("?", 1)[0], False


_ACCOUNT_UPDATE = base.ACCOUNT_UPDATE.format(p="?")
_ACCOUNT_MOVE = base.ACCOUNT_MOVE.format(p="?")
_TRANSFER_UPDATE = base.TRANSFER_UPDATE.format(p="?")
_HEAD_UPDATE = base.HEAD_UPDATE.format(p="?")
_DIALECT = base.Dialect(mark="?", held=HELD_SQLITE, false="0", prefix="substr({column}, 1, {n})")
# The due holds that touch some accounts (`{ids}`: their placeholders). The
# unary `+` keeps SQLite off any index by account (before schema 0002 those
# held the account's whole history, scanned on every balance read); the
# partial index of pending holds is small and due ones are swept soon.
_DUE_TOUCHING = (
    "SELECT id FROM transfers WHERE status = 'pending' AND expires_us <= ? "
    "AND (+source IN ({ids}) OR +destination IN ({ids}))"
)


# An account with its due holds as a JSON array in a column beside its own.
_ACCOUNT_DUE = (
    f"SELECT {base.ACCOUNT_COLUMNS}, (SELECT json_group_array(id) FROM ({_DUE_TOUCHING.format(ids='?')})) "
    "FROM accounts WHERE id = ?"
)


class SQLiteStore(base.SnapshotIterators):
    dialect = "sqlite"
    # SQLite writes in this thread, so parts would overlap nothing: the engine
    # hands it a group's rows at once (parts of 100 cost a batch 4-5%).
    stream_events: int | None = None
    local_reads = True
    local_writes = True

    def __init__(self, url: str, *, write_timeout: float = BUSY_TIMEOUT_MS / 1000) -> None:
        self.url = url
        self._closed = False
        # A writer waits for the file's lock at most this long per attempt.
        self._writer_busy_ms = max(1, min(BUSY_TIMEOUT_MS, int(write_timeout * 1000)))
        self.path, self._temporary = sqlite_path(url)
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise ValidationError(f"no such directory: {directory}", field="url")
        self._migrate()
        self._writer = self._connect(busy_ms=self._writer_busy_ms, cache_kib=WRITER_CACHE_KIB)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()

    # --- connections -----------------------------------------------------------
    def _connect(
        self, *, read_only: bool = False, busy_ms: int = BUSY_TIMEOUT_MS, cache_kib: int | None = None
    ) -> sqlite3.Connection:
        self._refuse_if_closed()
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=busy_ms / 1000)
        connection.execute(f"PRAGMA busy_timeout = {busy_ms}")
        if cache_kib is not None:
            connection.execute(f"PRAGMA cache_size = -{cache_kib}")  # negative: KiB, not pages
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
        connection.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
        if read_only:
            connection.execute("PRAGMA query_only = 1")
        return connection

    def _refuse_if_closed(self) -> None:
        """As a closed connection answers: no read or write opens the file again after `close`."""
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")

    def _reader(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect(read_only=True)
            with self._readers_lock:
                if self._closed:  # closed while this one was opening
                    connection.close()
                    self._refuse_if_closed()
                self._readers.append(connection)
            self._local.connection = connection
        return connection

    def _migrate(self) -> None:
        # Turning a new file to WAL needs an exclusive lock, and SQLite answers
        # "locked" at once, without the busy timeout, to processes that would
        # otherwise deadlock over it: several opening a new file together.
        for attempt in range(MIGRATE_ATTEMPTS_MAX):
            try:
                return self._migrate_once()
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or attempt == MIGRATE_ATTEMPTS_MAX - 1:
                    raise
                time.sleep(0.01 * (attempt + 1))

    def _migrate_once(self) -> None:
        probe = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            probe.execute("PRAGMA journal_mode = WAL")
            row = probe.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
            ).fetchone()
            if row and probe.execute("SELECT version_num FROM alembic_version").fetchone() == (SCHEMA_REVISION,):
                return
        finally:
            probe.close()
        self._run_alembic()

    def _run_alembic(self) -> None:
        from sqlalchemy import create_engine, event

        from tally.store.migrate import run_alembic

        engine = create_engine(f"sqlite:///{self.path}", connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

        # The documented pysqlite recipe: take the write lock when the migration
        # transaction begins, so that two processes opening a new file at once
        # run the migration once.
        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        try:
            with engine.connect() as connection:
                run_alembic(connection)
        finally:
            engine.dispose()

    # --- the write unit of work ---------------------------------------------------
    def begin(
        self, now_us: int, due_limit: int, account_ids: Sequence[str] = (), transfer_ids: Sequence[str] = ()
    ) -> Begun:
        self._writer.execute("BEGIN IMMEDIATE")
        seq, hash, time_us = self._writer.execute("SELECT seq, hash, time_us FROM ledger_head").fetchone()
        due = self.due_transfers(now_us, due_limit)
        return Begun(Head(seq, hash, time_us), due, *self.load(account_ids, transfer_ids))

    def load(
        self, account_ids: Sequence[str], transfer_ids: Sequence[str]
    ) -> tuple[dict[str, Account], dict[str, Transfer]]:
        return self.load_accounts(account_ids), self.load_transfers(transfer_ids)

    def load_accounts(self, ids: Sequence[str]) -> dict[str, Account]:
        return {
            a.id: a for a in self._fetch(self._writer, "accounts", base.ACCOUNT_COLUMNS, ids, base.account_from_row)
        }

    def load_transfers(self, ids: Sequence[str]) -> dict[str, Transfer]:
        return {
            t.id: t for t in self._fetch(self._writer, "transfers", base.TRANSFER_COLUMNS, ids, base.transfer_from_row)
        }

    def _fetch(
        self, connection: sqlite3.Connection, table: str, columns: str, ids: Sequence[str], build: Any
    ) -> list[Any]:
        found: list[Any] = []
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = connection.execute(f"SELECT {columns} FROM {table} WHERE id IN ({marks})", chunk)
            found.extend(build(row) for row in rows)
        return found

    def load_currencies(self) -> dict[str, int]:
        return dict(self._writer.execute("SELECT code, scale FROM currencies").fetchall())

    def due_transfers(self, now_us: int, limit: int) -> list[str]:
        rows = self._writer.execute(
            "SELECT id FROM transfers WHERE status = 'pending' AND expires_us <= ? ORDER BY expires_us LIMIT ?",
            (now_us, limit),
        )
        return [row[0] for row in rows]

    def write(self, changes: Changes) -> None:
        w = self._writer
        w.executemany(base.insert_sql("journal", base.JOURNAL_COLUMNS, "?"), changes.journal)
        if changes.currencies:
            w.executemany(base.insert_sql("currencies", base.CURRENCY_COLUMNS, "?"), changes.currencies)
        if changes.new_accounts:
            w.executemany(
                base.insert_sql("accounts", base.ACCOUNT_COLUMNS, "?"),
                [base.account_to_row(a) for a in changes.new_accounts],
            )
        if changes.changed_accounts:
            w.executemany(_ACCOUNT_UPDATE, [base.account_update_row(a) for a in changes.changed_accounts])
        if changes.moved_accounts:
            w.executemany(_ACCOUNT_MOVE, [base.account_move_row(a) for a in changes.moved_accounts])
        if changes.new_transfers:
            w.executemany(
                base.insert_sql("transfers", base.TRANSFER_COLUMNS, "?"),
                [base.transfer_to_row(t) for t in changes.new_transfers],
            )
        if changes.changed_transfers:
            w.executemany(_TRANSFER_UPDATE, [base.transfer_update_row(t) for t in changes.changed_transfers])
        if changes.entries:
            w.executemany(
                base.insert_sql("entries", base.ENTRY_COLUMNS, "?"), [base.entry_to_row(e) for e in changes.entries]
            )
        head = changes.head
        if head is not None:  # the last part of the transaction
            w.execute(_HEAD_UPDATE, base.head_row(head))

    def begin_on_head(self, expected: Head, now_us: int) -> None:
        w = self._writer
        w.execute("BEGIN IMMEDIATE")
        try:
            seq, hash = w.execute("SELECT seq, hash FROM ledger_head").fetchone()
            if (seq, hash) != (expected.seq, expected.hash):
                raise base.Stale("the journal's head moved")
            if self.due_transfers(now_us, 1):
                raise base.Stale("a pending transfer is due")
        except BaseException:
            self.rollback()
            raise

    def commit(self) -> None:
        self._writer.execute("COMMIT")

    def rollback(self) -> None:
        if self._writer.in_transaction:
            self._writer.execute("ROLLBACK")

    def is_transient(self, error: BaseException) -> bool:
        return isinstance(error, sqlite3.OperationalError) and ("locked" in str(error) or "busy" in str(error))

    @contextlib.contextmanager
    def without_waiting(self) -> Iterator[None]:
        """`BEGIN IMMEDIATE` finds the file locked by another process: "database is locked", at once."""
        writer = self._writer
        writer.execute("PRAGMA busy_timeout = 0")
        try:
            yield
        finally:
            writer.execute(f"PRAGMA busy_timeout = {self._writer_busy_ms}")

    # --- reads -------------------------------------------------------------------
    def head(self) -> Head:
        seq, hash, time_us = self._reader().execute("SELECT seq, hash, time_us FROM ledger_head").fetchone()
        return Head(seq, hash, time_us)

    def account(self, id: str) -> Account | None:
        row = self._reader().execute(f"SELECT {base.ACCOUNT_COLUMNS} FROM accounts WHERE id = ?", (id,)).fetchone()
        return None if row is None else base.account_from_row(row)

    def accounts(self, prefix: str | None, after: str | None, limit: int) -> list[Account]:
        sql = f"SELECT {base.ACCOUNT_COLUMNS} FROM accounts WHERE id > ?"
        params: list[Any] = [after or ""]
        if prefix:
            # A range on the primary key, not LIKE: ids may hold `_`, a LIKE wildcard.
            sql += " AND id >= ? AND substr(id, 1, ?) = ?"
            params += [prefix, len(prefix), prefix]
        rows = self._reader().execute(sql + " ORDER BY id LIMIT ?", (*params, limit))
        return [base.account_from_row(row) for row in rows]

    def transfer(self, id: str) -> Transfer | None:
        row = self._reader().execute(f"SELECT {base.TRANSFER_COLUMNS} FROM transfers WHERE id = ?", (id,)).fetchone()
        return None if row is None else base.transfer_from_row(row)

    def transfers(
        self, account: str | None, status: str | None, after: int | None, limit: int, prefix: str | None = None
    ) -> list[Transfer]:
        sql, params = base.transfers_sql(_DIALECT, account, status, after, limit, prefix)
        return [base.transfer_from_row(row) for row in self._reader().execute(sql, params)]

    def entries(self, account_id: str, after: int | None, limit: int, descending: bool) -> list[Entry]:
        if descending:
            sql = "WHERE account_id = ? AND seq < ? ORDER BY seq DESC"
            bound = after if after is not None else 2**63 - 1
        else:
            sql = "WHERE account_id = ? AND seq > ? ORDER BY seq"
            bound = after if after is not None else 0
        rows = self._reader().execute(
            f"SELECT {base.ENTRY_COLUMNS} FROM entries {sql} LIMIT ?", (account_id, bound, limit)
        )
        return [base.entry_from_row(row) for row in rows]

    def posted_as_of(self, account_id: str, seq: int) -> int:
        row = (
            self._reader()
            .execute(
                "SELECT balance_after FROM entries WHERE account_id = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
                (account_id, seq),
            )
            .fetchone()
        )
        return 0 if row is None else int(row[0])

    def seq_at(self, time_us: int) -> int:
        row = self._reader().execute("SELECT max(seq) FROM journal WHERE created_us <= ?", (time_us,)).fetchone()
        return int(row[0] or 0)

    def events(self, after: int, limit: int) -> list[Event]:
        rows = self._reader().execute(
            f"SELECT {base.JOURNAL_COLUMNS} FROM journal WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
        )
        return [base.event_from_row(row) for row in rows]

    def due_for_accounts(self, ids: Sequence[str], now_us: int) -> list[str]:
        rows = self._reader().execute(_DUE_TOUCHING.format(ids=",".join("?" * len(ids))), (now_us, *ids, *ids))
        return [row[0] for row in rows]

    def account_due(self, id: str, now_us: int) -> tuple[Account | None, list[str]]:
        row = self._reader().execute(_ACCOUNT_DUE, (now_us, id, id, id)).fetchone()
        if row is None:
            return None, []
        due: list[str] = [] if row[-1] == "[]" else json.loads(row[-1])
        return base.account_from_row(row), due

    def next_expiry(self) -> int | None:
        row = self._reader().execute("SELECT min(expires_us) FROM transfers WHERE status = 'pending'").fetchone()
        return None if row[0] is None else int(row[0])

    def currencies(self) -> dict[str, int]:
        return dict(self._reader().execute("SELECT code, scale FROM currencies").fetchall())

    # --- verify --------------------------------------------------------------------
    @contextlib.contextmanager
    def snapshot(self) -> Iterator[base.Snapshot]:
        # In WAL mode one read transaction sees one snapshot, for every cursor on it.
        connection = self._connect(read_only=True)
        try:
            connection.execute("BEGIN")
            yield base.Snapshot(connection.execute)
        finally:
            connection.close()

    # --- API keys ------------------------------------------------------------------
    def insert_key(self, row: dict[str, Any]) -> None:
        columns = ", ".join(base.KEY_COLUMNS)
        with self._own_write() as connection:
            connection.execute(
                f"INSERT INTO api_keys ({columns}) VALUES ({', '.join('?' * len(base.KEY_COLUMNS))})",
                [row.get(name) for name in base.KEY_COLUMNS],
            )

    def keys(self) -> list[dict[str, Any]]:
        rows = self._reader().execute(f"SELECT {', '.join(base.KEY_COLUMNS)} FROM api_keys ORDER BY created_us, id")
        return [dict(zip(base.KEY_COLUMNS, row, strict=True)) for row in rows]

    def keys_by_hashes(self, token_hashes: Sequence[str]) -> list[dict[str, Any]]:
        marks = ", ".join("?" * len(token_hashes))
        query = f"SELECT {', '.join(base.KEY_COLUMNS)} FROM api_keys WHERE token_hash IN ({marks})"
        rows = self._reader().execute(query, tuple(token_hashes)).fetchall() if token_hashes else []
        return [dict(zip(base.KEY_COLUMNS, row, strict=True)) for row in rows]

    def revoke_key(self, id: str, now_us: int) -> bool:
        with self._own_write() as connection:
            cursor = connection.execute(
                "UPDATE api_keys SET revoked_us = ? WHERE id = ? AND revoked_us IS NULL", (now_us, id)
            )
            return cursor.rowcount == 1

    def _own_write(self) -> sqlite3.Connection:
        """A short write outside the ledger's write path (keys are not money)."""
        connection = self._connect()
        connection.isolation_level = "IMMEDIATE"  # the context manager commits or rolls back
        return _ClosingTransaction(connection)  # type: ignore[return-value]

    def close(self) -> None:
        with self._readers_lock:
            self._closed = True
            for connection in self._readers:
                connection.close()
            self._readers.clear()
        self._writer.close()
        if self._temporary:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path + suffix)


class _ClosingTransaction:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __enter__(self) -> sqlite3.Connection:
        return self.connection.__enter__()

    def __exit__(self, *exc: Any) -> None:
        try:
            self.connection.__exit__(*exc)
        finally:
            self.connection.close()
