"""Writes tests/data/ledger-0.1.0.sqlite3 with the code of Tally 0.1.0 (tests/test_fingerprints.py).

Run with 0.1.0 on the path, not this checkout:

    git archive 54b0439 src | tar -x -C /tmp/tally-0.1.0
    PYTHONPATH=/tmp/tally-0.1.0/src python tests/data/make_ledger_0_1_0.py tests/data/ledger-0.1.0.sqlite3

Every kind of event 0.1.0 wrote without a clock to wait for: currencies,
accounts, plain, described and rejected transfers, a reversal, a hold posted
in part and one voided, an atomic batch, an account update, a freeze and an
unfreeze. The file is checkpointed, left in rollback-journal mode and
vacuumed, so that it is one small file.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys

import tally


def main(path: str) -> None:
    ledger = tally.open(f"sqlite:///{path}")
    ledger.register_currency("PTS", 0)
    ledger.create_account("@bank", currency="USD", min_balance=None)
    ledger.create_account("user:1", currency="USD", metadata={"tier": "gold"})
    ledger.create_account("user:2", currency="USD")
    ledger.create_account("points:1", currency="PTS", max_balance=10_000)
    ledger.transfer("@bank", "user:1", 1000, id="fund-1")
    ledger.transfer("user:1", "user:2", 500, id="t-1")
    ledger.transfer(
        "user:1", "user:2", 100, id="t-2", currency="USD", reason="rent ✓ 'quoted'", metadata={"b": [1, 2], "a": "x"}
    )
    ledger.reverse("t-1", id="r-1", amount=7, reason="refund", metadata={"k": 1})
    with contextlib.suppress(tally.InsufficientFunds):  # recorded, rejected
        ledger.transfer("user:2", "user:1", 10_000, id="too-much")
    ledger.transfer("user:1", "user:2", 40, id="h-1", pending=True)
    ledger.post("h-1", amount=30)
    ledger.transfer("user:1", "user:2", 20, id="h-2", pending=True)
    ledger.void("h-2")
    ledger.transfer_batch(
        [
            {"id": "b-1", "source": "user:2", "destination": "user:1", "amount": 3},
            {"id": "b-2", "source": "user:2", "destination": "@bank", "amount": 2},
        ],
        atomic=True,
    )
    ledger.update_account("user:2", metadata={"note": "vip"}, max_balance=100_000)
    ledger.freeze("user:2", reason="review")
    ledger.unfreeze("user:2")
    assert ledger.verify().ok
    ledger.close()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.execute("PRAGMA journal_mode = DELETE")
    connection.execute("VACUUM")
    connection.close()


if __name__ == "__main__":
    main(sys.argv[1])
