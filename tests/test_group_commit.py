"""Group commit with many callers: every caller gets its own answer, writes share commits.

A leader wakes only the callers whose writes it committed and hands its role
to the next caller queued; a caller that were never woken would hang here
(the timeout fails the test), and one woken with another's answer would see
the wrong transfer.
"""

from __future__ import annotations

import threading
import time

import tally

THREADS = 32
TRANSFERS_PER_THREAD = 40


WAIT_SECONDS_MAX = 60


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
