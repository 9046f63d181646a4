"""A write that cannot get the database's lock in time is `unavailable`, and safe to retry."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

import tally


def test_write_blocked_past_its_timeout_is_unavailable_and_the_same_id_applies_once_later(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger = tally.open(f"sqlite:///{path}", write_timeout=0.5)
    try:
        ledger.create_account("@world", currency="USD", min_balance=None)
        ledger.create_account("user:1", currency="USD")
        head = ledger.audit_head()
        # Another process holds the file's write lock (as a long migration or a
        # stuck writer would).
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            started = time.monotonic()
            with pytest.raises(tally.Unavailable) as raised:
                ledger.transfer("@world", "user:1", 500, id="topup-1")
            assert raised.value.code == "unavailable"
            assert time.monotonic() - started < 30, "bounded by write_timeout, not the default minute"
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert ledger.audit_head() == head, "nothing of the refused write was recorded"
        with pytest.raises(tally.TransferNotFound):
            ledger.get_transfer("topup-1")
        first = ledger.transfer("@world", "user:1", 500, id="topup-1")
        again = ledger.transfer("@world", "user:1", 500, id="topup-1")
        assert (first.status, again.seq) == ("posted", first.seq)
        assert ledger.balance("user:1").posted == 500
    finally:
        ledger.close()


@pytest.mark.parametrize("timeout", [0, -1, True, "5", float("nan")])
def test_write_timeout_must_be_a_positive_number(tmp_path: Path, timeout: object) -> None:
    with pytest.raises(tally.ValidationError) as raised:
        tally.open(f"sqlite:///{tmp_path / 'x.sqlite3'}", write_timeout=timeout)  # type: ignore[arg-type]
    assert raised.value.field == "write_timeout"
