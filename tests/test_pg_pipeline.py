"""The PostgreSQL write connection's pipeline (tally.store.pipeline), on a real server.

The store-contract tests run every write through it; these hold its own
promises: parameters of every kind arrive as the server's values, rows come
back as psycopg would give them, an error is psycopg's own class, and a
statement whose preparation the server skipped is prepared again.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import errors as pg_errors

import tally
from tally.store.pipeline import Pipeline, numbered

pytestmark = pytest.mark.postgres


@pytest.fixture
def connection(postgres_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("CREATE TABLE kinds (n bigint, b boolean, t text, ns bigint[], ts text[])")
        yield connection


def test_placeholders_are_numbered_in_order() -> None:
    assert numbered("SELECT %s, %b FROM t WHERE a = %s AND b LIKE 'x%%'") == (
        b"SELECT $1, $2 FROM t WHERE a = $3 AND b LIKE 'x%'"
    )


def test_parameters_of_every_kind_arrive_as_the_values_they_are(connection: psycopg.Connection) -> None:
    pipe = Pipeline(connection)
    awkward = "tab\there, quote' \" , back\\slash, {braces}, NULL, ünïcödé ✓"
    values = [
        (2**63 - 1, True, awkward, [1, None, -(2**63)], [awkward, None, "NULL", ""]),
        (None, False, "", [], ["plain", "ids:1"]),
        (-5, None, None, None, None),
    ]
    pipe.send_many("INSERT INTO kinds (n, b, t, ns, ts) VALUES (%s, %s, %s, %s, %s)", values)
    found = pipe.send("SELECT n, b, t, ns, ts FROM kinds ORDER BY n NULLS FIRST", rows=True)
    pipe.sync()
    assert found is not None
    assert found.rows == [values[1], values[2], values[0]]
    assert found.rows == connection.execute("SELECT n, b, t, ns, ts FROM kinds ORDER BY n NULLS FIRST").fetchall()


def test_an_error_is_psycopgs_class_and_the_rest_up_to_the_sync_is_skipped(connection: psycopg.Connection) -> None:
    connection.execute("CREATE TABLE once (id text PRIMARY KEY)")
    pipe = Pipeline(connection)
    pipe.send_plain("BEGIN")
    pipe.send("INSERT INTO once VALUES (%s)", ("a",))
    pipe.send("INSERT INTO once VALUES (%s)", ("a",))
    pipe.send("INSERT INTO once VALUES (%s)", ("b",))
    pipe.send_plain("COMMIT")
    with pytest.raises(pg_errors.UniqueViolation):
        pipe.sync()
    assert not pipe.is_open
    assert connection.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
    connection.rollback()  # psycopg takes the connection back as it is
    assert connection.execute("SELECT count(*) FROM once").fetchone() == (0,)


def test_a_statement_whose_preparation_was_skipped_is_prepared_again(connection: psycopg.Connection) -> None:
    pipe = Pipeline(connection)
    pipe.send_plain("BEGIN")
    pipe.send("SELECT 1 / %s::int", (0,))
    later = pipe.send("SELECT %s::text || '!'", ("first",), rows=True)  # its PREPARE is skipped too
    with pytest.raises(pg_errors.DivisionByZero):
        pipe.sync()
    assert later is not None and later.rows == []
    connection.rollback()
    again = pipe.send("SELECT %s::text || '!'", ("second",), rows=True)
    pipe.sync()
    assert again is not None and again.rows == [("second!",)]


def test_rows_larger_than_the_socket_buffers_go_both_ways(connection: psycopg.Connection) -> None:
    # Megabytes out and back in one round trip: the pipeline must read while
    # it writes, or the server, blocked on sending its results, stops reading.
    pipe = Pipeline(connection)
    big = "x" * 100_000
    results = [pipe.send("SELECT %s::text", (f"{n}{big}",), rows=True) for n in range(300)]
    pipe.sync()
    assert [None if r is None else r.rows for r in results] == [[(f"{n}{big}",)] for n in range(300)]


def test_a_connection_in_another_client_encoding_is_refused(postgres_url: str) -> None:
    # Text goes as UTF-8: on a LATIN1 connection it would be stored misread.
    with psycopg.connect(postgres_url, client_encoding="LATIN1") as latin1, pytest.raises(psycopg.NotSupportedError):
        Pipeline(latin1)


def test_a_ledger_url_that_asks_for_another_client_encoding_still_talks_utf8(postgres_url: str) -> None:
    text = "ünïcödé ✓ ₤ 中文"  # not all of it fits LATIN1
    with tally.open(f"{postgres_url}&client_encoding=LATIN1") as ledger:
        ledger.create_account("@world", currency="USD", min_balance=None, metadata={"note": text})
        ledger.create_account("a", currency="USD")
        ledger.transfer("@world", "a", 5, id="t1", reason=text)
        assert ledger.transfer("t1").reason == text
        assert ledger.account("@world").metadata == {"note": text}
        assert [e.reason for e in ledger.entries("a").items] == [text]
