"""SQLite's write-ahead log: checkpointed every `WAL_CHECKPOINT_PAGES` pages, never left to grow.

The writer checkpoints less often than SQLite's default (see store/sqlite.py);
these tests hold it to the bound: a ledger that keeps writing moves its pages
into the database file and its WAL stays within one checkpoint's worth.
"""

from __future__ import annotations

import os
import random
import sqlite3

import tally
from tally.core.transfer import Entry
from tally.store import sqlite as sqlite_store
from tally.store.base import Changes

WAL_HEADER, FRAME = 32, 24 + 4096  # bytes: the WAL's header, and one frame (header and a 4 KiB page)


def test_every_connection_checkpoints_at_the_documented_bound(sqlite_url: str) -> None:
    with tally.open(sqlite_url) as ledger:
        ledger.create_account("user:1", currency="USD")
        ledger.balance("user:1")  # opens this thread's read connection
        store = ledger.store
        assert isinstance(store, sqlite_store.SQLiteStore)
        for connection in [store._writer, *store._readers]:
            assert connection.execute("PRAGMA wal_autocheckpoint").fetchone() == (sqlite_store.WAL_CHECKPOINT_PAGES,)
            assert connection.execute("PRAGMA journal_size_limit").fetchone() == (sqlite_store.WAL_SIZE_LIMIT,)
            assert connection.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
        assert store._writer.execute("PRAGMA cache_size").fetchone() == (-sqlite_store.WRITER_CACHE_KIB,)
        plain = sqlite3.connect(":memory:")
        default = plain.execute("PRAGMA cache_size").fetchone()
        plain.close()
        for connection in store._readers:  # SQLite's default: a reader's cache is dropped after every write
            assert connection.execute("PRAGMA cache_size").fetchone() == default


def test_a_large_transaction_stays_in_the_writers_cache_until_it_commits(sqlite_url: str) -> None:
    # About 10 MB of entries (40,000 rows of some 250 bytes), scattered over
    # 1,000 accounts' ranges: five times SQLite's default cache, which would
    # spill them into the WAL before the commit (and read them back).
    path = sqlite_url[len("sqlite:///") :]
    rng = random.Random(7)
    with tally.open(sqlite_url) as ledger:
        ledger.create_account("user:1", currency="USD")
        store = ledger.store
        assert isinstance(store, sqlite_store.SQLiteStore)
        entries = [
            Entry(f"user:{rng.randrange(1000):04}", seq, f"t{seq}", 1, 1, 0, "x" * 200) for seq in range(1, 40_001)
        ]
        wal_before = os.path.getsize(path + "-wal")
        store.begin(0, 0)
        try:
            store.write(Changes(entries=entries))
            assert os.path.getsize(path + "-wal") == wal_before  # nothing written before the commit
        finally:
            store.rollback()
        assert ledger.balance("user:1").posted == 0


def test_a_ledger_that_keeps_writing_moves_its_pages_into_the_file_and_its_wal_stays_bounded(
    sqlite_url: str,
) -> None:
    # 30 batches of 1,000 among 200 accounts append about 31,000 frames to the
    # WAL (measured with checkpoints turned off): three checkpoints' worth.
    path = sqlite_url[len("sqlite:///") :]
    users = [f"user:{n}" for n in range(200)]
    rng = random.Random(6)
    rounds, largest = 30, 0
    with tally.open(sqlite_url) as ledger:
        ledger.create_account("@world", currency="USD", min_balance=None)
        for user in users:
            ledger.create_account(user, currency="USD")
        ledger.transfer_batch([{"source": "@world", "destination": user, "amount": 10**9} for user in users])
        database_before = os.path.getsize(path)
        for _ in range(rounds):
            pairs = [rng.sample(users, 2) for _ in range(1000)]
            ledger.transfer_batch([{"source": s, "destination": d, "amount": 1} for s, d in pairs])
            largest = max(largest, os.path.getsize(path + "-wal"))
        database_after = os.path.getsize(path)
        assert sum(ledger.balance(user).posted for user in users) == 200 * 10**9
    one_group = 2000  # pages one of these batches dirties, at most (about 1,000 measured)
    assert largest <= WAL_HEADER + (sqlite_store.WAL_CHECKPOINT_PAGES + one_group) * FRAME
    assert database_after > database_before  # checkpoints copied pages into the database file
    check = sqlite3.connect(path)
    try:
        assert check.execute("SELECT count(*) FROM transfers").fetchone()[0] == len(users) + 1000 * rounds
    finally:
        check.close()
