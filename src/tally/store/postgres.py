"""The PostgreSQL store: psycopg 3, one write connection, a small pool for reads.

The write connection's statements go through `tally.store.pipeline`, which
queues a round trip's statements in libpq's pipeline and sends them at once,
and so do reads, each pooled connection through its own; migrations, API-key
writes and `verify`'s snapshot use psycopg's cursors.

Writers in every process take turns on one row: `begin()` opens a READ
COMMITTED transaction and locks the journal head (`SELECT … FOR UPDATE` on
`ledger_head`), so `seq` stays gap-free and follows the commit order, and every
read after the lock sees all that was committed before it. A plain row lock
rather than an advisory lock keeps the door open to PostgreSQL-protocol
distributed engines (DESIGN.md). Reads run on pooled autocommit connections,
from any thread, beside the writer.

A lost connection is transient: the engine rolls back and tries again, and the
next `begin()` reconnects. A connection lost during COMMIT may have committed;
the retry then finds the transfer ids already taken and answers with them, so
a write is applied at most once.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool, PoolClosed

from tally.core.account import Account
from tally.core.errors import Unavailable, ValidationError
from tally.core.events import Event
from tally.core.transfer import Entry, Transfer
from tally.store import base
from tally.store.base import Begun, Changes, Head
from tally.store.migrate import SCHEMA_REVISION, postgres_revision, upgrade_postgres
from tally.store.pipeline import Pipeline, Rows
from tally.store.schema import HELD_POSTGRES

Connection = psycopg.Connection[TupleRow]
T = TypeVar("T")

CONNECT_TIMEOUT_SECONDS = 10
# A writer waits this long for the head lock before the engine retries; a
# writer stalled inside a transaction (holding the lock) is cut after this long.
LOCK_TIMEOUT_MS = 20_000
IDLE_IN_TRANSACTION_MS = 20_000
READ_CONNECTIONS_MAX = 8
READ_POOL_TIMEOUT_SECONDS = 30.0
# Inserts and updates of at least this many rows go as one statement over
# arrays; fewer go as one statement with a VALUES list of that many rows
# (`base.insert_sql`, `_update_values`), which costs less for the one-transfer
# commit of low load (two entries, two accounts). Measured alone, one JSON
# insert of entries overtakes single rows at about 4-8 rows, one array update
# of accounts at about 8; a group of 16 clients' transfers (8-9 transfers: 17
# entries and accounts) writes in a third less time at 8 than at the 32 that
# suited COPY, which cost a round trip of its own (ANALYSIS.md).
SET_ROWS_MIN = 8
_ITER_CHUNK = 5000

# Bounds on waiting, unless the URL (`options=-clock_timeout=…`) or the role sets its own.
_SESSION_DEFAULTS = """SELECT
    CASE WHEN current_setting('lock_timeout') = '0' THEN set_config('lock_timeout', %s, false) END,
    CASE WHEN current_setting('idle_in_transaction_session_timeout') = '0'
        THEN set_config('idle_in_transaction_session_timeout', %s, false) END"""
_LOCK_HEAD = "SELECT seq, hash, time_us FROM ledger_head WHERE id = 1 FOR UPDATE"
_DUE = "SELECT id FROM transfers WHERE status = 'pending' AND expires_us <= %s ORDER BY expires_us LIMIT %s"
_LOAD_ACCOUNTS = f"SELECT {base.ACCOUNT_COLUMNS} FROM accounts WHERE id"
_LOAD_TRANSFERS = f"SELECT {base.TRANSFER_COLUMNS} FROM transfers WHERE id"
# Up to this many ids go as parameters of their own (`IN (%s, …)`); more go as
# one array (`= ANY(%s)`). An array cost ~13 µs more server time than two plain
# parameters, on every commit of low load; one statement per list length is
# prepared on the connection.
_IDS_IN_MAX = 8
# The SQL type of every column a write sends as an array element; the rest are text.
_TYPES = {
    "seq": "bigint", "created_us": "bigint", "amount": "bigint", "balance_after": "bigint",
    "pending": "boolean", "expires_in": "integer", "expires_us": "bigint", "posted_amount": "bigint",
    "reversed_amount": "bigint", "resolved_seq": "bigint", "scale": "integer", "min_balance": "bigint",
    "max_balance": "bigint", "clearing_seconds": "integer", "posted": "bigint", "pending_in": "bigint",
    "pending_out": "bigint",
}  # fmt: skip


@functools.cache
def _insert_from_json(table: str, columns: str) -> str:
    """Many rows in one INSERT: one JSON array of row arrays, taken apart by the server.

    It costs the client a third of COPY's CPU (orjson encodes rows of
    plain values in C: ~3 µs per transfer against ~8 µs of `write_row`), and
    unlike COPY it runs in a pipeline, so a part of a group is sent and left
    to run while the engine decides the next (measured in bench/ANALYSIS.md).
    """
    names = [name.strip() for name in columns.split(",")]
    values = ", ".join(f"(r->>{i})::{_TYPES.get(name, 'text')}" for i, name in enumerate(names))
    return f"INSERT INTO {table} ({columns}) SELECT {values} FROM jsonb_array_elements(%s::jsonb) AS r"


def _loaded(accounts: Rows | None, transfers: Rows | None) -> tuple[dict[str, Account], dict[str, Transfer]]:
    return (
        {a.id: a for a in map(base.account_from_row, accounts.rows)} if accounts else {},
        {t.id: t for t in map(base.transfer_from_row, transfers.rows)} if transfers else {},
    )


def _by_ids(select: str, ids: Sequence[str]) -> tuple[str, Sequence[Any]]:
    """`select` ("… WHERE id") completed for these ids, and its parameters."""
    if len(ids) > _IDS_IN_MAX:
        return f"{select} = ANY(%s)", (list(ids),)
    return _select_in(select, len(ids)), ids


@functools.cache
def _select_in(select: str, count: int) -> str:
    return f"{select} IN ({', '.join(['%s'] * count)})"


# Many changed accounts go in one statement: their new values as arrays, joined
# to the table by id. One statement instead of one per
# account costs the server a plan and an executor start less per account, and
# the client a round of parameter dumping less (measured: 860 accounts in
# 12-15 ms instead of 17-26 ms, a fifth of the client CPU).
def _update_accounts(columns: Sequence[str]) -> str:
    """One UPDATE of many accounts: these columns' new values as arrays, the ids last."""
    arrays = ", ".join(f"%s::{_TYPES.get(name, 'text')}[]" for name in (*columns, "id"))
    return _update_accounts_from(columns, f"unnest({arrays})")


def _update_accounts_from(columns: Sequence[str], rows: str) -> str:
    """An UPDATE of accounts from `rows`, of these columns' new values and the id last, joined by id."""
    return (
        "UPDATE accounts AS a SET "
        + ", ".join(f"{name} = u.{name}" for name in columns)
        + f" FROM {rows} AS u({', '.join((*columns, 'id'))}) WHERE a.id = u.id"
    )


_UPDATE_ACCOUNTS = _update_accounts(base.ACCOUNT_UPDATED_COLUMNS)
_MOVE_ACCOUNTS = _update_accounts(base.ACCOUNT_MOVED_COLUMNS)


# A few rows go in one statement too: a VALUES list of as many rows
# (`base.insert_sql`, where PostgreSQL gives each value its column's type;
# `_update_values`), prepared once per count on the connection. A single transfer's two entries and two
# accounts take two statements instead of four: 4% less time per transfer, and
# per hold and its post, measured in one process against one statement per row
# (ANALYSIS.md).
@functools.cache
def _update_values(columns: tuple[str, ...], count: int) -> str:
    """One UPDATE of `count` accounts: rows of these columns' new values, the id last."""
    row = "(" + ", ".join(f"%s::{_TYPES.get(name, 'text')}" for name in (*columns, "id")) + ")"
    return _update_accounts_from(columns, f"(VALUES {', '.join([row] * count)})")


def _flat(rows: Sequence[Sequence[Any]]) -> list[Any]:
    return [value for row in rows for value in row]


_TRANSFER_UPDATE = base.TRANSFER_UPDATE.format(p="%s")
_HEAD_UPDATE = base.HEAD_UPDATE.format(p="%s")
_DIALECT = base.Dialect(mark="%s", held=HELD_POSTGRES, false="false", prefix="left({column}, {n})")
# After `begin_on_head`: the head's lock, taken only if the head is still the
# one expected and no hold is due; else a division by zero, which refuses the
# whole transaction (the server skips everything after it up to the sync, the
# COMMIT too). A group written in one part moves the head in the same
# statement; a longer one locks it first and updates it in its last part.
# (EXISTS runs in the statement's snapshot, taken before the head's lock is
# waited for: had a write committed in between, the head would have moved.)
_MOVE_HEAD = (
    "WITH moved AS (UPDATE ledger_head SET seq = %s, hash = %s, time_us = %s "
    "WHERE id = 1 AND seq = %s AND hash = %s RETURNING 1) "
    f"SELECT 1 / ((SELECT count(*) FROM moved)::int * CASE WHEN EXISTS ({_DUE}) THEN 0 ELSE 1 END)"
)
_LOCK_HEAD_IF = (
    "WITH locked AS (SELECT 1 FROM ledger_head WHERE id = 1 AND seq = %s AND hash = %s FOR UPDATE) "
    f"SELECT 1 / ((SELECT count(*) FROM locked)::int * CASE WHEN EXISTS ({_DUE}) THEN 0 ELSE 1 END)"
)
# The due holds that touch some accounts (`{ids}`: a comparison with them).
_DUE_TOUCHING = (
    "SELECT id FROM transfers WHERE status = 'pending' AND expires_us <= %s AND (source {ids} OR destination {ids})"
)
_DUE_FOR_ACCOUNTS = _DUE_TOUCHING.format(ids="= ANY(%s)")
# One account with its due holds beside it: one round trip, not two, for the
# most frequent call there is (a balance read). A single id as a plain
# parameter: an array costs the client and the server more.
_ACCOUNT_DUE = f"SELECT {base.ACCOUNT_COLUMNS}, ARRAY({_DUE_TOUCHING.format(ids='= %s')}) FROM accounts WHERE id = %s"
# SQLSTATE classes of OperationalError that trying again cannot fix.
_NEVER_TRANSIENT = (pg_errors.ProgramLimitExceeded,)
_SCHEMES = ("postgresql+psycopg://", "postgresql://", "postgres://")


def conninfo(url: str) -> str:
    """The libpq connection string for a Tally PostgreSQL URL.

    Accepts SQLAlchemy's `postgresql+psycopg://` spelling; keeps every URL
    parameter (such as `options=-csearch_path%3Dschema`) and adds defaults for
    the connect timeout and the application name unless the URL sets them.
    The client encoding is always UTF-8, whatever the URL or the environment
    says: the pipeline sends text as UTF-8, and the server converts it to the
    database's encoding (refusing what that encoding cannot hold).
    """
    if not url.startswith(_SCHEMES):
        raise ValidationError("a PostgreSQL URL looks like postgresql://user@host:5432/database", field="url")
    if url.startswith("postgresql+psycopg://"):
        url = "postgresql://" + url[len("postgresql+psycopg://") :]
    try:
        given = conninfo_to_dict(url)
    except psycopg.ProgrammingError as error:
        raise ValidationError(f"invalid PostgreSQL URL: {error}", field="url") from None
    defaults = {"connect_timeout": str(CONNECT_TIMEOUT_SECONDS), "application_name": "tally"}
    return make_conninfo(url, **{k: v for k, v in defaults.items() if k not in given}, client_encoding="UTF8")


class PostgresStore(base.SnapshotIterators):
    dialect = "postgresql"
    stream_events: int | None = base.STREAM_EVENTS
    local_reads = False
    local_writes = False

    def __init__(self, url: str, *, write_timeout: float = LOCK_TIMEOUT_MS / 1000) -> None:
        self.url = url
        # A writer waits for the head's lock at most this long per attempt.
        self._lock_timeout_ms = max(1, min(LOCK_TIMEOUT_MS, int(write_timeout * 1000)))
        self._conninfo = conninfo(url)
        self._closed = False
        self._writer: Connection | None = None
        # The write connection's statements go through this, not through psycopg's cursors.
        self._pipe: Pipeline | None = None
        # The head expected and the time, after `begin_on_head`, until the first rows go.
        self._on_head: tuple[Head, int] | None = None
        # Each pooled connection's pipeline (its prepared statements live on that session).
        self._read_pipes: weakref.WeakKeyDictionary[Connection, Pipeline] = weakref.WeakKeyDictionary()
        self._read_pipes_lock = threading.Lock()
        try:
            writer = self._writer_connection()
            revision = postgres_revision(lambda sql: writer.execute(sql))
            writer.rollback()
            if revision != SCHEMA_REVISION:
                upgrade_postgres(lambda: psycopg.connect(self._conninfo))
            self._pool: ConnectionPool[Connection] = ConnectionPool(
                self._conninfo,
                kwargs={"autocommit": True},
                min_size=1,
                max_size=READ_CONNECTIONS_MAX,
                timeout=READ_POOL_TIMEOUT_SECONDS,
                name="tally-read",
                open=True,
            )
        except psycopg.OperationalError as error:
            self._close_writer()
            raise Unavailable(f"cannot reach the database: {error}") from error
        except psycopg.Error as error:
            # No such schema in the search_path, no right to create tables …
            self._close_writer()
            raise ValidationError(f"cannot use the database at this URL: {error}", field="url") from error
        except ValidationError:  # a schema of a newer Tally
            self._close_writer()
            raise

    # --- connections -----------------------------------------------------------
    def _writer_connection(self) -> Connection:
        """The write connection, connected again if the last one was lost."""
        writer = self._writer
        if writer is not None and not writer.closed and not writer.broken:
            return writer
        self._close_writer()
        self._refuse_if_closed()
        writer = psycopg.connect(self._conninfo, autocommit=False)
        try:
            writer.execute(_SESSION_DEFAULTS, (f"{self._lock_timeout_ms}ms", f"{IDLE_IN_TRANSACTION_MS}ms"))
            writer.commit()
            self._pipe = Pipeline(writer)
        except BaseException:
            writer.close()
            raise
        self._writer = writer
        return writer

    def _refuse_if_closed(self) -> None:
        """As the closed pool answers: no read or write connects again after `close`."""
        if self._closed:
            raise PoolClosed("the store is closed")

    def _close_writer(self) -> None:
        writer, self._writer, self._pipe = self._writer, None, None
        if writer is not None:
            writer.close()

    def _read(self, use: Callable[[Connection], T]) -> T:
        """Run `use` on a pooled connection; once more on a fresh one if it was dead.

        Pooled connections die when the server restarts or an admin ends them;
        a read is safe to repeat.
        """
        for attempt in range(2):
            with self._pool.connection() as connection:
                try:
                    return use(connection)
                except psycopg.OperationalError:
                    if attempt == 1 or not connection.broken:
                        raise
        raise AssertionError("unreachable")

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one read, through the pooled connection's own pipeline.

        A read is one statement, but psycopg's cursor costs a balance read
        about 90 µs of client CPU where the pipeline costs 50 (a balance read
        0.18-0.25 → 0.13-0.14 ms, measured alone).
        """

        def read(connection: Connection) -> list[tuple[Any, ...]]:
            pipe = self._read_pipes.get(connection)
            if pipe is None:
                with self._read_pipes_lock:
                    pipe = self._read_pipes.setdefault(connection, Pipeline(connection))
            return pipe.rows(sql, params)

        return self._read(read)

    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    # --- the write unit of work ---------------------------------------------------
    def begin(
        self, now_us: int, due_limit: int, account_ids: Sequence[str] = (), transfer_ids: Sequence[str] = ()
    ) -> Begun:
        try:
            # One round trip: the server runs the due query and the loads once
            # it holds the lock, so they see every write committed before it.
            pipe = self._begin()
            head = pipe.send(_LOCK_HEAD, rows=True)
            due = pipe.send(_DUE, (now_us, due_limit), rows=True)
            loads = self._send_loads(pipe, account_ids, transfer_ids)
            pipe.sync()
            accounts, transfers = _loaded(*loads)
        except BaseException:
            # A lock timeout leaves the transaction aborted: end it here, since
            # the engine only rolls back what begin() has opened.
            self.rollback()
            raise
        assert head is not None and due is not None
        assert head.rows, "ledger_head has its one row from the first migration"
        seq, hash, time_us = head.rows[0]
        return Begun(Head(seq, hash, time_us), [id for (id,) in due.rows], accounts, transfers)

    def _begin(self) -> Pipeline:
        """The write connection's pipeline, with a BEGIN queued (a transaction left open is rolled back)."""
        self._on_head = None
        writer = self._writer_connection()
        if writer.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            writer.rollback()
        pipe = self._p()
        pipe.send_plain("BEGIN")
        return pipe

    def _p(self) -> Pipeline:
        pipe = self._pipe
        if pipe is None:
            raise psycopg.OperationalError("the write connection was lost")
        return pipe

    def load(
        self, account_ids: Sequence[str], transfer_ids: Sequence[str]
    ) -> tuple[dict[str, Account], dict[str, Transfer]]:
        pipe = self._p()
        loads = self._send_loads(pipe, account_ids, transfer_ids)
        pipe.sync()
        return _loaded(*loads)

    @staticmethod
    def _send_loads(
        pipe: Pipeline, account_ids: Sequence[str], transfer_ids: Sequence[str]
    ) -> tuple[Rows | None, Rows | None]:
        """Queue the loads; `_loaded` reads them after the pipeline's sync."""
        accounts = pipe.send(*_by_ids(_LOAD_ACCOUNTS, account_ids), rows=True) if account_ids else None
        transfers = pipe.send(*_by_ids(_LOAD_TRANSFERS, transfer_ids), rows=True) if transfer_ids else None
        return accounts, transfers

    def load_currencies(self) -> dict[str, int]:
        return dict(self._p().rows("SELECT code, scale FROM currencies"))

    def due_transfers(self, now_us: int, limit: int) -> list[str]:
        return [id for (id,) in self._p().rows(_DUE, (now_us, limit))]

    def write(self, changes: Changes) -> None:
        """Send this part of the transaction's rows; `commit` waits for all of them.

        Every part goes through the write connection's pipeline: a part is
        sent and left to run on the server while the engine decides the next.
        The COMMIT goes in the same pipeline, so the one sync after it reports
        an error of any part (the server then skips the COMMIT), and a write
        group takes two round trips: `begin` (the head and the loads), then
        the rows with the COMMIT; one after `begin_on_head`, which waits for
        nothing.
        """
        pipe = self._p()
        head = changes.head
        if self._on_head is not None:
            if head is not None:  # the whole group at once: the head moves on the condition
                expected, now_us = self._on_head
                self._on_head = None
                pipe.send(_MOVE_HEAD, (*base.head_row(head), expected.seq, expected.hash, now_us, 1))
                self._send_rows(pipe, changes)
                self._send_changed(pipe, changes)
                return
            self._lock_head_if(pipe)
        self._send_rows(pipe, changes)
        if head is None:
            pipe.flush()
            return  # more parts follow
        self._send_changed(pipe, changes)
        pipe.send(_HEAD_UPDATE, base.head_row(head))

    def begin_on_head(self, expected: Head, now_us: int) -> None:
        # Nothing waited for: the condition goes with the first rows, in the
        # same pipeline, and `commit` learns whether the head was still there.
        self._begin()
        self._on_head = (expected, now_us)

    def _lock_head_if(self, pipe: Pipeline) -> None:
        if self._on_head is not None:
            expected, now_us = self._on_head
            self._on_head = None
            pipe.send(_LOCK_HEAD_IF, (expected.seq, expected.hash, now_us, 1))

    @staticmethod
    def _send_rows(pipe: Pipeline, changes: Changes) -> None:
        """Queue the rows every part has: the journal, currencies, new accounts and transfers, entries."""
        inserts: list[tuple[str, str, Sequence[Sequence[Any]]]] = [
            ("journal", base.JOURNAL_COLUMNS, changes.journal),
            ("currencies", base.CURRENCY_COLUMNS, changes.currencies),
            ("accounts", base.ACCOUNT_COLUMNS, [base.account_to_row(a) for a in changes.new_accounts]),
            ("transfers", base.TRANSFER_COLUMNS, [base.transfer_to_row(t, bool) for t in changes.new_transfers]),
            ("entries", base.ENTRY_COLUMNS, [base.entry_to_row(e) for e in changes.entries]),
        ]
        for table, columns, rows in inserts:
            if len(rows) >= SET_ROWS_MIN:
                pipe.send(_insert_from_json(table, columns), (orjson.dumps(rows).decode(),))
            elif rows:
                pipe.send(base.insert_sql(table, columns, "%s", len(rows)), _flat(rows))

    @staticmethod
    def _send_changed(pipe: Pipeline, changes: Changes) -> None:
        """Queue what only the last part has: the accounts and transfers changed."""
        for rows, many, columns in (
            (
                [base.account_update_row(a) for a in changes.changed_accounts],
                _UPDATE_ACCOUNTS,
                base.ACCOUNT_UPDATED_COLUMNS,
            ),
            ([base.account_move_row(a) for a in changes.moved_accounts], _MOVE_ACCOUNTS, base.ACCOUNT_MOVED_COLUMNS),
        ):
            if len(rows) >= SET_ROWS_MIN:
                pipe.send(many, [list(column) for column in zip(*rows, strict=True)])
            elif rows:
                pipe.send(_update_values(columns, len(rows)), _flat(rows))
        if changes.changed_transfers:
            pipe.send_many(_TRANSFER_UPDATE, [base.transfer_update_row(t) for t in changes.changed_transfers])

    def commit(self) -> None:
        pipe = self._p()
        self._lock_head_if(pipe)
        pipe.send_plain("COMMIT")
        try:
            pipe.sync()
        except pg_errors.DivisionByZero as error:  # only _MOVE_HEAD and _LOCK_HEAD_IF divide
            raise base.Stale("the journal's head moved, or a pending transfer is due") from error

    def rollback(self) -> None:
        self._on_head = None
        pipe = self._pipe
        if pipe is not None and not pipe.abandon():
            self._close_writer()  # what was sent is rolled back with the connection
            return
        writer = self._writer
        if writer is None or writer.closed:
            return
        if writer.broken:
            self._close_writer()
            return
        try:
            writer.rollback()
        except psycopg.OperationalError:
            self._close_writer()

    def is_transient(self, error: BaseException) -> bool:
        # Serialization failures, deadlocks, lock timeouts, a server shutting
        # down, a connection lost: all OperationalError in psycopg 3.
        return isinstance(error, psycopg.OperationalError) and not isinstance(error, _NEVER_TRANSIENT)

    def without_waiting(self) -> contextlib.AbstractContextManager[None]:
        """Waits for the head's lock as usual (its `lock_timeout` may be the user's own): no
        event loop writes here alone, since every write is a network round trip (`local_writes`)."""
        return contextlib.nullcontext()

    # --- reads -------------------------------------------------------------------
    def head(self) -> Head:
        row = self._one("SELECT seq, hash, time_us FROM ledger_head WHERE id = 1")
        assert row is not None
        return Head(row[0], row[1], row[2])

    def account(self, id: str) -> Account | None:
        row = self._one(f"SELECT {base.ACCOUNT_COLUMNS} FROM accounts WHERE id = %s", (id,))
        return None if row is None else base.account_from_row(row)

    def accounts(self, prefix: str | None, after: str | None, limit: int) -> list[Account]:
        sql = f"SELECT {base.ACCOUNT_COLUMNS} FROM accounts WHERE id > %s"
        params: list[Any] = [after or ""]
        if prefix:
            # A range on the primary key, not LIKE: ids may hold `_`, a LIKE wildcard.
            sql += " AND id >= %s AND left(id, %s) = %s"
            params += [prefix, len(prefix), prefix]
        rows = self._all(sql + " ORDER BY id LIMIT %s", (*params, limit))
        return [base.account_from_row(row) for row in rows]

    def transfer(self, id: str) -> Transfer | None:
        row = self._one(f"SELECT {base.TRANSFER_COLUMNS} FROM transfers WHERE id = %s", (id,))
        return None if row is None else base.transfer_from_row(row)

    def transfers(
        self, account: str | None, status: str | None, after: int | None, limit: int, prefix: str | None = None
    ) -> list[Transfer]:
        sql, params = base.transfers_sql(_DIALECT, account, status, after, limit, prefix)
        return [base.transfer_from_row(row) for row in self._all(sql, params)]

    def entries(self, account_id: str, after: int | None, limit: int, descending: bool) -> list[Entry]:
        if descending:
            sql = "WHERE account_id = %s AND seq < %s ORDER BY seq DESC"
            bound = after if after is not None else 2**63 - 1
        else:
            sql = "WHERE account_id = %s AND seq > %s ORDER BY seq"
            bound = after if after is not None else 0
        rows = self._all(f"SELECT {base.ENTRY_COLUMNS} FROM entries {sql} LIMIT %s", (account_id, bound, limit))
        return [base.entry_from_row(row) for row in rows]

    def posted_as_of(self, account_id: str, seq: int) -> int:
        row = self._one(
            "SELECT balance_after FROM entries WHERE account_id = %s AND seq <= %s ORDER BY seq DESC LIMIT 1",
            (account_id, seq),
        )
        return 0 if row is None else int(row[0])

    def seq_at(self, time_us: int) -> int:
        row = self._one("SELECT max(seq) FROM journal WHERE created_us <= %s", (time_us,))
        return int(row[0] or 0) if row is not None else 0

    def events(self, after: int, limit: int) -> list[Event]:
        rows = self._all(
            f"SELECT {base.JOURNAL_COLUMNS} FROM journal WHERE seq > %s ORDER BY seq LIMIT %s", (after, limit)
        )
        return [base.event_from_row(row) for row in rows]

    def due_for_accounts(self, ids: Sequence[str], now_us: int) -> list[str]:
        rows = self._all(_DUE_FOR_ACCOUNTS, (now_us, list(ids), list(ids)))
        return [row[0] for row in rows]

    def account_due(self, id: str, now_us: int) -> tuple[Account | None, list[str]]:
        row = self._one(_ACCOUNT_DUE, (now_us, id, id, id))
        if row is None:
            return None, []
        return base.account_from_row(row), row[-1]

    def next_expiry(self) -> int | None:
        row = self._one("SELECT min(expires_us) FROM transfers WHERE status = 'pending'")
        return None if row is None or row[0] is None else int(row[0])

    def currencies(self) -> dict[str, int]:
        return {code: scale for code, scale in self._all("SELECT code, scale FROM currencies")}

    # --- verify --------------------------------------------------------------------
    @contextlib.contextmanager
    def snapshot(self) -> Iterator[base.Snapshot]:
        """One REPEATABLE READ transaction; each stream a server-side cursor in it.

        A connection of its own, not a pooled one: verify holds several streams
        open at once for as long as it takes.
        """
        self._refuse_if_closed()
        with psycopg.connect(self._conninfo) as connection:
            connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            connection.read_only = True
            cursors: list[Any] = []

            def cursor_for(sql: str) -> Any:
                cursor = connection.cursor(name=f"tally_snapshot_{len(cursors)}")
                cursors.append(cursor)
                cursor.itersize = _ITER_CHUNK
                cursor.execute(sql)
                return cursor

            try:
                # Byte order of the id within a seq, as SQLite and Python sort it,
                # whatever the database's collation.
                yield base.Snapshot(cursor_for, entries_order='seq, account_id COLLATE "C"')
            finally:
                for cursor in cursors:
                    cursor.close()
                connection.rollback()

    # --- API keys ------------------------------------------------------------------
    def insert_key(self, row: dict[str, Any]) -> None:
        columns = ", ".join(base.KEY_COLUMNS)
        marks = ", ".join(["%s"] * len(base.KEY_COLUMNS))
        values = [row.get(name) for name in base.KEY_COLUMNS]
        # Not through _read: a write is not repeated on a fresh connection.
        with self._pool.connection() as connection:
            connection.execute(f"INSERT INTO api_keys ({columns}) VALUES ({marks})", values)

    def keys(self) -> list[dict[str, Any]]:
        rows = self._all(f"SELECT {', '.join(base.KEY_COLUMNS)} FROM api_keys ORDER BY created_us, id")
        return [dict(zip(base.KEY_COLUMNS, row, strict=True)) for row in rows]

    def keys_by_hashes(self, token_hashes: Sequence[str]) -> list[dict[str, Any]]:
        rows = self._all(
            f"SELECT {', '.join(base.KEY_COLUMNS)} FROM api_keys WHERE token_hash = ANY(%s)", (list(token_hashes),)
        )
        return [dict(zip(base.KEY_COLUMNS, row, strict=True)) for row in rows]

    def revoke_key(self, id: str, now_us: int) -> bool:
        with self._pool.connection() as connection:
            cursor = connection.execute(
                "UPDATE api_keys SET revoked_us = %s WHERE id = %s AND revoked_us IS NULL", (now_us, id)
            )
            return cursor.rowcount == 1

    def close(self) -> None:
        self._closed = True
        pool: ConnectionPool[Connection] | None = getattr(self, "_pool", None)
        if pool is not None:
            pool.close()
        self._close_writer()
