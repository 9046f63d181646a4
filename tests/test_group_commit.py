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
from tally.core import commands as cmd
from tally.core.limits import BATCH_TRANSFERS_MAX, GROUP_TRANSFERS_MAX
from tally.engine import WriteNeeded, Written, writes_at_once
from tally.store.base import Changes
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


def test_write_all_answers_each_command_in_its_place_beside_other_callers(ledger: tally.Ledger) -> None:
    """`Ledger.write_all` (concurrent HTTP requests handed to one thread): each command gets its
    own answer or its own error, in order, while other threads write too; a batch as heavy as a
    whole group splits the commands over several groups, which the caller waits for in turn."""
    ledger.create_account("@world", currency="USD", min_balance=None)
    for account in ("user:a", "user:b", "user:c"):
        ledger.create_account(account, currency="USD")
    hold = ledger.transfer("@world", "user:c", 9, pending=True)
    commands = [
        cmd.create_transfer("@world", "user:a", 5, id="first"),
        cmd.create_transfer("user:b", "user:a", 10, id="overdraws"),  # rejected, and recorded
        cmd.create_transfer("@world", "nobody", 1, id="to-nobody"),  # refused
        cmd.resolve_pending("no-such-hold", "post"),
        *_heavy("user:b"),  # the last of them goes to a second group
        cmd.resolve_pending(hold.id, "post"),
        cmd.create_transfer("user:a", "user:b", 2, id="last"),
    ]
    others: list[str] = []
    failures: list[BaseException] = []

    def other(name: str) -> None:
        try:
            for n in range(20):
                others.append(ledger.transfer("@world", "user:c", 1, id=f"{name}-{n}").id)
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=other, args=(name,), daemon=True) for name in ("x", "y")]
    for thread in threads:
        thread.start()
    answers = ledger.write_all(commands)
    for thread in threads:
        thread.join(WAIT_SECONDS_MAX)
    assert not failures and not any(thread.is_alive() for thread in threads)

    assert len(answers) == len(commands)
    first, overdraws, to_nobody, no_hold, *batches, posted, last = answers
    assert isinstance(first, Written) and first.created and first.result.id == "first"  # type: ignore[union-attr]
    assert isinstance(overdraws, tally.InsufficientFunds) and overdraws.transfer is not None
    assert overdraws.transfer.id == "overdraws" and overdraws.transfer.status == "rejected"
    assert isinstance(to_nobody, tally.AccountNotFound)
    assert isinstance(no_hold, tally.TransferNotFound)
    for batch in batches:
        assert isinstance(batch, Written) and [t.status for t in batch.result] == ["posted"] * BATCH_TRANSFERS_MAX  # type: ignore[union-attr]
    assert isinstance(posted, Written) and posted.result.status == "posted"  # type: ignore[union-attr]
    assert isinstance(last, Written) and last.result.amount == 2  # type: ignore[union-attr]
    assert ledger.get_transfer("overdraws").status == "rejected"
    assert sorted(others) == sorted(f"{name}-{n}" for name in ("x", "y") for n in range(20))
    assert ledger.balance("user:a").posted == 3
    assert ledger.balance("user:b").posted == GROUP_TRANSFERS_MAX + 2
    assert ledger.balance("user:c").posted == 9 + 40
    assert ledger.verify().ok


def test_write_all_of_nothing_answers_nothing_and_the_ledger_goes_on(tmp_path: Path) -> None:
    ledger = tally.open(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    ledger.create_account("@world", currency="USD", min_balance=None)
    ledger.create_account("user:a", currency="USD")
    assert ledger.write_all([]) == []
    done: list[tally.Transfer] = []
    writer = threading.Thread(target=lambda: done.append(ledger.transfer("@world", "user:a", 1)), daemon=True)
    writer.start()
    writer.join(WAIT_SECONDS_MAX)
    assert [t.status for t in done] == ["posted"], "an empty write_all left the engine waiting for a leader"
    ledger.close()  # (with the writer stuck, close() would wait for it forever)


def test_an_interrupted_write_all_hands_the_role_on_and_nobody_hangs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupt (a BaseException) in the thread of `write_all` while it leads: the leader's
    role, handed to that thread's next command, goes on to the next caller, whose write commits;
    the commands the interrupt left answer nothing and write nothing."""
    ledger = tally.open(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    ledger.create_account("@world", currency="USD", min_balance=None)
    ledger.create_account("user:a", currency="USD")
    write = ledger.store.write
    behind: list[tally.Transfer] = []
    caller = threading.Thread(
        target=lambda: behind.append(ledger.transfer("@world", "user:a", 7, id="behind")), daemon=True
    )

    def interrupted(changes: Changes) -> None:
        if any(transfer.id == "heavy-0" for transfer in changes.new_transfers):
            caller.start()  # queued behind this thread's next commands
            deadline = time.monotonic() + WAIT_SECONDS_MAX
            while len(ledger.engine._queue) < 3 and time.monotonic() < deadline:
                time.sleep(0.001)
            raise KeyboardInterrupt
        write(changes)

    monkeypatch.setattr(ledger.store, "write", interrupted)
    commands = [
        *_heavy("user:a"),  # a whole group
        cmd.create_transfer("@world", "user:a", 2, id="second"),
        cmd.create_transfer("@world", "user:a", 3, id="third"),
    ]
    with pytest.raises(KeyboardInterrupt):
        ledger.write_all(commands)
    caller.join(WAIT_SECONDS_MAX)
    assert not caller.is_alive(), "the caller behind the interrupted thread was never woken"
    try:
        assert [t.id for t in behind] == ["behind"]
        assert ledger.balance("user:a").posted == 7
        assert [t.id for t in ledger.transfers(account="user:a").transfers] == ["behind"]
        assert ledger.transfer("@world", "user:a", 1).status == "posted"  # the ledger goes on
        assert ledger.verify().ok
    finally:
        ledger.close()  # (with the caller stuck, close() would wait for it forever)


def _heavy(destination: str) -> list[cmd.TransferBatch]:
    """Batches that fill one group (`GROUP_TRANSFERS_MAX` transfers), the first transfer `heavy-0`."""
    return [
        cmd.transfer_batch(
            tuple(
                cmd.create_transfer("@world", destination, 1, id=f"heavy-{start + n}")
                for n in range(BATCH_TRANSFERS_MAX)
            ),
            False,
        )
        for start in range(0, GROUP_TRANSFERS_MAX, BATCH_TRANSFERS_MAX)
    ]
