"""The database refuses on its own what the core forbids, whoever writes to it.

Each forged write bypasses Tally through a plain connection. Each INSERT is
first shown to be accepted with a positive amount (and rolled back), so that
the refusal is the amount's doing, not a malformed statement's.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import tally
from tally.store import base
from tests.concurrency.harness import RawDatabase


@pytest.fixture
def raw(ledger_url: str) -> Iterator[RawDatabase]:
    with tally.open(ledger_url) as ledger:
        ledger.create_account("@world", currency="USD", min_balance=None)
        ledger.create_account("user:1", currency="USD")
        ledger.transfer("@world", "user:1", 500, id="t1")
    database = RawDatabase(ledger_url)
    yield database
    database.close()
    with tally.open(ledger_url) as ledger:
        assert ledger.verify().ok, "a refused write changed nothing"


def _forged_transfer(amount: int) -> str:
    """A copy of transfer t1 under a new id and seq, with `amount` (and nothing posted)."""
    replaced = {"id": "'forged'", "seq": "seq + 1000", "amount": str(amount), "posted_amount": "NULL"}
    columns = [name.strip() for name in base.TRANSFER_COLUMNS.split(",")]
    values = ", ".join(replaced.get(name, name) for name in columns)
    return f"INSERT INTO transfers ({base.TRANSFER_COLUMNS}) SELECT {values} FROM transfers WHERE id = 't1'"


def _forged_entry(amount: int) -> str:
    replaced = {"seq": "seq + 1000", "amount": str(amount)}
    columns = [name.strip() for name in base.ENTRY_COLUMNS.split(",")]
    values = ", ".join(replaced.get(name, name) for name in columns)
    return f"INSERT INTO entries ({base.ENTRY_COLUMNS}) SELECT {values} FROM entries WHERE transfer_id = 't1'"


def _refused(raw: RawDatabase, sql: str) -> None:
    with raw.rolled_back(), pytest.raises(raw.errors):
        raw.execute(sql)


@pytest.mark.parametrize("amount", [0, -1, -(2**63)])
def test_database_refuses_a_transfer_row_with_an_amount_below_one(raw: RawDatabase, amount: int) -> None:
    with raw.rolled_back():
        raw.execute(_forged_transfer(5))
        assert raw.execute("SELECT amount FROM transfers WHERE id = 'forged'") == [(5,)]
    _refused(raw, _forged_transfer(amount))


def test_database_refuses_an_entry_of_zero(raw: RawDatabase) -> None:
    with raw.rolled_back():
        raw.execute(_forged_entry(7))
        assert len(raw.execute("SELECT 1 FROM entries WHERE amount = 7")) == 2
    _refused(raw, _forged_entry(0))


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE journal SET data = data WHERE seq = 1",
        "UPDATE journal SET hash = 'x'",
        "DELETE FROM journal WHERE seq = (SELECT max(seq) FROM journal)",
        "DELETE FROM journal",
        "UPDATE entries SET amount = amount + 1",
        "DELETE FROM entries",
    ],
)
def test_database_refuses_to_change_or_delete_the_history(raw: RawDatabase, sql: str) -> None:
    _refused(raw, sql)


@pytest.mark.postgres
def test_database_refuses_to_truncate_the_journal(postgres_url: str) -> None:
    # SQLite has no TRUNCATE (its DELETE without WHERE is refused above).
    with tally.open(postgres_url):
        pass
    raw = RawDatabase(postgres_url)
    try:
        _refused(raw, "TRUNCATE journal")
    finally:
        raw.close()
