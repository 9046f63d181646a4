"""The write connection's statements, queued in libpq's pipeline and sent at once.

psycopg's pipeline sends each statement as the socket takes it, and runs its
per-statement machinery (cursor, query conversion, prepared-statement
bookkeeping, a generator resumed for every step) for each: for one single
transfer, about 14 `sendto` and 27 `poll` calls and most of the client's
500-700 µs of CPU. A write group knows every statement of a round trip before
it waits for any of them, so `Pipeline` queues them in libpq's own buffer,
each prepared once per connection, sends them with one flush, and reads every
result after one sync.

Parameters go as text, which the server parses by the prepared statement's
types: `None` as NULL, `bool` as `t`/`f`, numbers by `str`, lists as array
literals. Rows come back through psycopg's own C loaders, so a loaded row is
the same tuple a psycopg cursor gives.

The write connection and each pooled read connection have one, used between
psycopg's own calls on the same connection: the pipeline is entered for a
round trip and left after its sync, so psycopg (and the pool's checks) find
the connection idle, or in the transaction the pipeline opened (`BEGIN` is
sent as a statement here), and `rollback()` still works.
"""

from __future__ import annotations

import codecs
import itertools
import re
import select
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import pq
from psycopg.adapt import Transformer
from psycopg.rows import TupleRow

_COMMAND_OK = pq.ExecStatus.COMMAND_OK
_TUPLES_OK = pq.ExecStatus.TUPLES_OK
_PIPELINE_SYNC = pq.ExecStatus.PIPELINE_SYNC
_FATAL_ERROR = pq.ExecStatus.FATAL_ERROR
_PIPELINE_ON = pq.PipelineStatus.ON
_TEXT = pq.Format.TEXT
_WAIT_WRITE = select.POLLOUT | select.POLLIN
_WAIT_READ = select.POLLIN
_PLACEHOLDER = re.compile(r"%[sb]")


def numbered(sql: str) -> bytes:
    """psycopg's `%s`/`%b` placeholders as libpq's `$1`, `$2`, …"""
    parts = _PLACEHOLDER.split(sql)
    text = parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], 1))
    return text.replace("%%", "%").encode()


def _array(values: Sequence[Any]) -> str:
    """A one-dimensional array literal; every element quoted, so any text is safe.

    A batch sends columns of a thousand values: the common cases (all text
    without quotes or backslashes, all integers) are joined in one go.
    """
    kinds = set(map(type, values))
    if kinds == {str}:
        body = "\x00".join(values)  # PostgreSQL text never holds NUL
        if '"' not in body and "\\" not in body:
            return '{"' + body.replace("\x00", '","') + '"}'
    elif kinds <= {int, type(None)}:
        return "{" + ",".join("NULL" if value is None else str(value) for value in values) + "}"
    items = []
    for value in values:
        if value is None:
            items.append("NULL")
        elif type(value) is int:
            items.append(str(value))
        else:
            text = value if type(value) is str else _text(value).decode()
            items.append('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(items) + "}"


def _text(value: Any) -> bytes:
    kind = type(value)
    if kind is str:
        return value.encode()  # type: ignore[no-any-return]
    if kind is int:
        return str(value).encode()
    if kind is bool:
        return b"t" if value else b"f"
    if kind is list or kind is tuple:
        return _array(value).encode()
    raise TypeError(f"no text form for a parameter of type {kind.__name__}")


def _params(values: Sequence[Any]) -> list[bytes | None]:
    return [None if value is None else value.encode() if type(value) is str else _text(value) for value in values]


class Rows:
    """The rows a statement returns, filled in by the sync that reads its result."""

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: list[TupleRow] = []


# What each command sent since the last sync expects of its result.
_PREPARE = 0
_STATEMENT = 1


class Pipeline:
    """Statements queued on one connection, sent by `flush`, their results read by `sync`."""

    def __init__(self, connection: psycopg.Connection[TupleRow]) -> None:
        self._pg = connection.pgconn
        self._encoding = connection.info.encoding
        if codecs.lookup(self._encoding).name != "utf-8":
            # Parameters are encoded as UTF-8 (`conninfo` sets the client encoding).
            raise psycopg.NotSupportedError(f"the connection's client encoding is {self._encoding}, not UTF-8")
        self._prepared: dict[str, bytes] = {}
        self._names = itertools.count()  # a name is never used twice on a connection
        # Per command sent since the last sync: (_PREPARE, its SQL) or (_STATEMENT, its Rows or None).
        self._expected: list[tuple[int, Any]] = []
        self._poll = select.poll()
        self._poll.register(self._pg.socket, _WAIT_READ)
        self._transformer = Transformer(connection)

    @property
    def is_open(self) -> bool:
        """Whether commands were sent whose results no sync has read yet."""
        return self._pg.pipeline_status == _PIPELINE_ON

    def _enter(self) -> Any:
        """The libpq connection, in pipeline mode."""
        pg = self._pg
        if pg.pipeline_status != _PIPELINE_ON:
            pg.enter_pipeline_mode()
        return pg

    def send(self, sql: str, params: Sequence[Any] = (), *, rows: bool = False) -> Rows | None:
        """Queue one statement; with `rows`, its rows appear in the `Rows` returned once synced."""
        pg = self._enter()
        name = self._prepared.get(sql)
        if name is None:
            name = b"tally_%d" % next(self._names)
            pg.send_prepare(name, numbered(sql))
            self._prepared[sql] = name
            self._expected.append((_PREPARE, sql))
        pg.send_query_prepared(name, _params(params), None, _TEXT)
        result = Rows() if rows else None
        self._expected.append((_STATEMENT, result))
        return result

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[TupleRow]:
        """One statement in a round trip of its own (after whatever is queued): its rows."""
        found = self.send(sql, params, rows=True)
        self.sync()
        assert found is not None
        return found.rows

    def send_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        for params in rows:
            self.send(sql, params)

    def send_plain(self, sql: str) -> None:
        """A statement without parameters that cannot be prepared (`BEGIN`, `COMMIT`)."""
        self._enter().send_query_params(sql.encode(), None)
        self._expected.append((_STATEMENT, None))

    def flush(self) -> None:
        """Send everything queued, without waiting for any result."""
        pg = self._pg
        if pg.pipeline_status == _PIPELINE_ON:
            self._flush()

    def _flush(self) -> None:
        pg = self._pg
        poll = self._poll
        fd = pg.socket
        while pg.flush():
            # The server may be waiting for us to read its results before it
            # reads more: read while we wait to write.
            poll.modify(fd, _WAIT_WRITE)
            try:
                events = poll.poll()
            finally:
                poll.modify(fd, _WAIT_READ)
            if any(event & _WAIT_READ for _, event in events):
                pg.consume_input()

    def sync(self) -> None:
        """Send everything, read every result, leave the pipeline; raise the first error.

        After an error the server skips the rest up to the sync (a COMMIT among
        them): the transaction is left aborted, for the caller to roll back.
        """
        pg = self._pg
        if pg.pipeline_status != _PIPELINE_ON:
            return
        expected, self._expected = self._expected, []
        pg.pipeline_sync()
        self._flush()
        error: psycopg.Error | None = None
        index = 0
        poll = self._poll
        while True:
            while pg.is_busy():
                poll.poll()
                pg.consume_input()
            result = pg.get_result()
            if result is None:
                continue  # the end of one command's results
            status = result.status
            if status == _PIPELINE_SYNC:
                break
            what, detail = expected[index]
            index += 1
            if status in (_TUPLES_OK, _COMMAND_OK):
                if what == _STATEMENT and detail is not None:
                    transformer = self._transformer
                    transformer.set_pgresult(result)
                    detail.rows = transformer.load_rows(0, result.ntuples, tuple)
                continue
            if what == _PREPARE:
                del self._prepared[detail]  # not prepared: prepare it again next time
            if error is None and status == _FATAL_ERROR:
                error = pg_errors.error_from_result(result, encoding=self._encoding)
        pg.exit_pipeline_mode()
        if error is not None:
            raise error

    def abandon(self) -> bool:
        """Read and drop whatever is pending; False if the connection cannot be trusted after it."""
        if self._pg.pipeline_status != _PIPELINE_ON:
            return True
        try:
            self.sync()
        except psycopg.OperationalError:
            return False
        except psycopg.Error:
            pass
        return self._pg.pipeline_status != _PIPELINE_ON
