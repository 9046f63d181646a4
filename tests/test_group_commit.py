"""Group commit with many callers: every caller gets its own answer, writes share commits.

A leader wakes only the callers whose writes it committed and hands its role
to the next caller queued; a caller that were never woken would hang here
(the timeout fails the test), and one woken with another's answer would see
the wrong transfer.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import tally
from tally.engine import WriteNeeded, writes_at_once
from tests.support import WAIT_SECONDS_MAX, another_writer_holds_the_lock, wait_until_writing

THREADS = 32
TRANSFERS_PER_THREAD = 40


def test_many_threads_each_get_their_own_answers_and_share_commits(ledger_url: str) -> None:
    ledger = tally.open(ledger_url)
    threads: list[threading.Thread] = []
    try:
        ledger.create_account("@world", currency="USD", min_balance=None)
        for index in range(THREADS):
            ledger.create_account(f"user:{index}", currency="USD")
        commits_before = ledger.engine.commits
        answers: dict[int, list[tuple[str, int]]] = {}
        failures: list[BaseException] = []
        start = threading.Barrier(THREADS)

        def client(index: int) -> None:
            mine: list[tuple[str, int]] = []
            try:
                start.wait()
                for n in range(TRANSFERS_PER_THREAD):
                    transfer = ledger.transfer("@world", f"user:{index}", n + 1, id=f"t{index}-{n}")
                    mine.append((transfer.id, transfer.amount))
            except BaseException as error:  # noqa: BLE001 - reported below
                failures.append(error)
            answers[index] = mine

        threads += [threading.Thread(target=client, args=(index,), daemon=True) for index in range(THREADS)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + WAIT_SECONDS_MAX
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        assert not [thread for thread in threads if thread.is_alive()], "callers never answered"

        assert not failures
        for index in range(THREADS):
            assert answers[index] == [(f"t{index}-{n}", n + 1) for n in range(TRANSFERS_PER_THREAD)]
            expected = sum(range(1, TRANSFERS_PER_THREAD + 1))
            assert ledger.balance(f"user:{index}").posted == expected
        total = THREADS * TRANSFERS_PER_THREAD
        commits = ledger.engine.commits - commits_before
        assert commits < total  # concurrent callers shared commits
        assert ledger.verify().ok
    finally:
        if not any(thread.is_alive() for thread in threads):
            ledger.close()  # (with a caller stuck, close() would wait for it forever)


def test_a_write_at_once_commits_alone_or_raises_write_needed_with_nothing_written(tmp_path: Path) -> None:
    """`writes_at_once()` (an event loop with no other write in flight, bench/ANALYSIS.md): the
    write commits in the caller's thread when nothing else writes. When another process holds
    the file's lock, or another thread is writing, it raises `WriteNeeded` without waiting and
    without writing; without the block, the same write waits its turn."""
    path = tmp_path / "ledger.sqlite3"
    with tally.open(f"sqlite:///{path}") as ledger:
        ledger.create_account("@world", currency="USD", min_balance=None)
        ledger.create_account("user:1", currency="USD")
        commits = ledger.engine.commits
        with writes_at_once():
            ledger.transfer("@world", "user:1", 1, id="alone")
        assert ledger.engine.commits == commits + 1

        waiting = threading.Thread(target=ledger.transfer, args=("@world", "user:1", 3), kwargs={"id": "waited"})
        with another_writer_holds_the_lock(str(path)) as released:
            with pytest.raises(WriteNeeded), writes_at_once():
                ledger.transfer("@world", "user:1", 2, id="locked-out")
            assert not released.is_set(), "the write waited for the lock"
            waiting.start()  # leads a group, waiting for the lock
            wait_until_writing(ledger)
            with pytest.raises(WriteNeeded), writes_at_once():
                ledger.transfer("@world", "user:1", 4, id="behind-a-thread")
            assert waiting.is_alive() and not released.is_set()
        waiting.join(WAIT_SECONDS_MAX)
        listed = ledger.transfers(account="user:1").transfers
        assert [(t.id, t.amount) for t in listed] == [("alone", 1), ("waited", 3)]
        assert ledger.balance("user:1").posted == 4
        assert ledger.verify().ok
