"""Edits behind Tally's back, with the sqlite3 module on the file: verify() catches each.

An attacker with the file can drop the append-only triggers first; the hash
chain and the replay still give them away. `tally verify` exits non-zero and
names the first bad seq.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import tally
from tests.support import FakeClock

TALLY = str(Path(sys.executable).with_name("tally"))


@pytest.fixture
def booked(sqlite_url: str, clock: FakeClock) -> Iterator[tuple[str, Path, dict[str, int]]]:
    """A small ledger on a file, closed; and the seq of each transfer in it."""
    with tally.open(sqlite_url, clock=clock) as ledger:
        ledger.create_account("@world", currency="USD", min_balance=None)
        ledger.create_account("alice", currency="USD")
        ledger.create_account("bob", currency="USD")
        seqs = {}
        for id, (source, destination, amount) in {
            "topup": ("@world", "alice", 1_000),
            "pay-1": ("alice", "bob", 300),
            "pay-2": ("alice", "bob", 200),
            "pay-3": ("bob", "alice", 50),
        }.items():
            clock.advance(1)
            seqs[id] = ledger.transfer(source, destination, amount, id=id).seq  # type: ignore[assignment]
        assert ledger.verify().ok
    yield sqlite_url, Path(sqlite_url.removeprefix("sqlite:///")), seqs


def tamper(path: Path, *statements: str, params: tuple[object, ...] = ()) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements:
            connection.execute(statement, params if "?" in statement else ())
    finally:
        connection.close()


DROP_TRIGGERS = (
    "DROP TRIGGER journal_no_update",
    "DROP TRIGGER journal_no_delete",
    "DROP TRIGGER entries_no_update",
    "DROP TRIGGER entries_no_delete",
)


def first_bad_seq(url: str) -> int | None:
    with tally.open(url) as ledger:
        report = ledger.verify()
    assert not report.ok
    return report.first_bad_seq


def cli_verify(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TALLY, "--db", url, "verify"], capture_output=True, text=True, timeout=120)


def _journal_row(path: Path, seq: int) -> tuple[int, int, str, str, str]:
    connection = sqlite3.connect(path)
    try:
        row = connection.execute(
            "SELECT seq, created_us, kind, data, hash FROM journal WHERE seq = ?", (seq,)
        ).fetchone()
    finally:
        connection.close()
    return row  # type: ignore[no-any-return]


Edit = Callable[[Path, dict[str, int]], int | None]  # returns the seq verify must name, if it names one


def edit_journal_amount(path: Path, seqs: dict[str, int]) -> int:
    seq = seqs["pay-1"]
    tamper(
        path,
        *DROP_TRIGGERS,
        "UPDATE journal SET data = replace(data, '\"amount\":300', '\"amount\":3') WHERE seq = ?",
        params=(seq,),
    )
    assert '"amount":3,' in _journal_row(path, seq)[3]
    return seq


def edit_journal_amount_and_rehash_row(path: Path, seqs: dict[str, int]) -> int:
    """A cleverer attacker recomputes this row's hash; the next row's link still breaks."""
    from tally.core.events import chain_hash

    seq = seqs["pay-1"]
    previous = _journal_row(path, seq - 1)[4]
    _, created_us, kind, data, _ = _journal_row(path, seq)
    data = data.replace('"amount":300', '"amount":3')
    tamper(
        path,
        *DROP_TRIGGERS,
        "UPDATE journal SET data = ?, hash = ? WHERE seq = ?",
        params=(data, chain_hash(previous, seq, created_us, kind, data), seq),
    )
    return seq


def delete_journal_row(path: Path, seqs: dict[str, int]) -> int:
    tamper(path, *DROP_TRIGGERS, "DELETE FROM journal WHERE seq = ?", params=(seqs["pay-2"],))
    return seqs["pay-2"]


def insert_journal_row(path: Path, seqs: dict[str, int]) -> int:
    head = _journal_row(path, seqs["pay-3"])
    seq = head[0] + 1
    tamper(
        path,
        "INSERT INTO journal (seq, created_us, kind, data, hash) VALUES (?, ?, ?, ?, ?)",
        params=(seq, head[1], head[2], head[3].replace("pay-3", "pay-4"), "f" * 64),
    )
    return seq


def edit_account_balance(path: Path, seqs: dict[str, int]) -> None:
    tamper(path, "UPDATE accounts SET posted = posted + 1000 WHERE id = 'alice'")
    return None  # an account row has no seq of its own


def edit_entry(path: Path, seqs: dict[str, int]) -> int:
    tamper(
        path,
        *DROP_TRIGGERS,
        "UPDATE entries SET balance_after = balance_after + 1 WHERE account_id = 'bob' AND seq = ?",
        params=(seqs["pay-2"],),
    )
    return seqs["pay-2"]


def delete_entry(path: Path, seqs: dict[str, int]) -> int:
    tamper(path, *DROP_TRIGGERS, "DELETE FROM entries WHERE account_id = 'bob' AND seq = ?", params=(seqs["pay-1"],))
    return seqs["pay-1"]


def insert_transfer(path: Path, seqs: dict[str, int]) -> int:
    tamper(
        path,
        "INSERT INTO transfers (id, seq, source, destination, amount, currency, reason, metadata, pending, "
        "status, created_us, posted_amount, fingerprint) "
        "VALUES ('gift', 999, '@world', 'bob', 1000000, 'USD', NULL, '{}', 0, 'posted', 0, 1000000, 'x')",
    )
    return 999


def edit_transfer_status(path: Path, seqs: dict[str, int]) -> int:
    tamper(path, "UPDATE transfers SET amount = 30, posted_amount = 30 WHERE id = 'pay-1'")
    return seqs["pay-1"]


def rewrite_the_chain_from_a_row_on(path: Path, seqs: dict[str, int]) -> int:
    """Edit an amount and recompute every hash after it, and the head: the chain holds, the books do not."""
    from tally.core.events import chain_hash

    seq = seqs["pay-1"]
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in DROP_TRIGGERS:
            connection.execute(statement)
        previous = connection.execute("SELECT hash FROM journal WHERE seq = ?", (seq - 1,)).fetchone()[0]
        rows = connection.execute("SELECT seq, created_us, kind, data FROM journal WHERE seq >= ? ORDER BY seq", (seq,))
        for row_seq, created_us, kind, data in rows.fetchall():
            if row_seq == seq:
                data = data.replace('"amount":300', '"amount":3')
            previous = chain_hash(previous, row_seq, created_us, kind, data)
            connection.execute("UPDATE journal SET data = ?, hash = ? WHERE seq = ?", (data, previous, row_seq))
        connection.execute("UPDATE ledger_head SET hash = ?", (previous,))
    finally:
        connection.close()
    return seq


def delete_transfer_row(path: Path, seqs: dict[str, int]) -> int:
    tamper(path, "DELETE FROM transfers WHERE id = 'pay-2'")
    return seqs["pay-2"]


def edit_head(path: Path, seqs: dict[str, int]) -> int:
    tamper(path, "UPDATE ledger_head SET seq = seq - 1")
    return seqs["pay-3"]


EDITS: list[Edit] = [
    rewrite_the_chain_from_a_row_on,
    delete_transfer_row,
    edit_head,
    edit_journal_amount,
    edit_journal_amount_and_rehash_row,
    delete_journal_row,
    insert_journal_row,
    edit_account_balance,
    edit_entry,
    delete_entry,
    insert_transfer,
    edit_transfer_status,
]


@pytest.mark.parametrize("edit", EDITS, ids=lambda edit: edit.__name__)
def test_verify_catches_an_edit_behind_tallys_back(booked: tuple[str, Path, dict[str, int]], edit: Edit) -> None:
    url, path, seqs = booked
    expected_seq = edit(path, seqs)

    seq = first_bad_seq(url)
    if expected_seq is not None:
        assert seq == expected_seq

    result = cli_verify(url)
    assert result.returncode != 0, result.stdout
    if expected_seq is not None:
        assert f"first bad seq {expected_seq}" in result.stderr, result.stderr


def test_cli_verify_exits_zero_on_untouched_books(booked: tuple[str, Path, dict[str, int]]) -> None:
    url, _, _ = booked
    result = cli_verify(url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok:")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE journal SET data = data WHERE seq = 1",
        "DELETE FROM journal WHERE seq = 1",
        "UPDATE entries SET reason = 'x'",
        "DELETE FROM entries",
    ],
)
def test_the_database_itself_refuses_to_change_history(
    booked: tuple[str, Path, dict[str, int]], statement: str
) -> None:
    _, path, _ = booked
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        tamper(path, statement)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE transfers SET amount = 0 WHERE id = 'pay-1'",
        "UPDATE transfers SET status = 'lost' WHERE id = 'pay-1'",
        "UPDATE accounts SET pending_out = -1 WHERE id = 'alice'",
        "UPDATE transfers SET amount = 'three hundred' WHERE id = 'pay-1'",
    ],
)
def test_the_schema_refuses_rows_the_core_would_never_write(
    booked: tuple[str, Path, dict[str, int]], statement: str
) -> None:
    _, path, _ = booked
    with pytest.raises(sqlite3.IntegrityError):
        tamper(path, statement)
