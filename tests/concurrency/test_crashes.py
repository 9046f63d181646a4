"""Crashes: writer processes killed with SIGKILL, connections cut by the database.

Whatever the moment, no transfer is half written, no acknowledged transfer is
lost, and a retry with the same id after the crash is applied at most once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

import tally
from tally.store.postgres import conninfo
from tests.concurrency.harness import SPAWN, Ack, RawDatabase, check_acks, transfer_events
from tests.concurrency.proxy import CommitCuttingProxy
from tests.concurrency.workers import endless_writer
from tests.support import assert_books_balance

ACCOUNTS = tuple(f"crash:{n}" for n in range(10))
KILLED_WRITERS = 3
PROGRESS_EVENTS = 150  # journal events to wait for between two kills
WAIT_SECONDS_MAX = 120.0


def _wait_for(condition: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS_MAX
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


def _read_log(path: Path) -> tuple[list[Ack], list[list[str]]]:
    """The acknowledgements and the intents a killed writer logged (complete lines only)."""
    acks, intents = [], []
    text = path.read_text() if path.exists() else ""
    for line in text.split("\n")[:-1]:
        word, *rest = line.split(" ")
        if word == "intent":
            intents.append(rest)
        else:
            id, status, code, seq = rest
            acks.append(
                Ack(path.stem, id, status, None if code == "None" else code, None if seq == "None" else int(seq))
            )
    return acks, intents


def _open_accounts(ledger: tally.Ledger) -> None:
    ledger.create_account("@world", currency="USD", min_balance=None)
    for id in ACCOUNTS:
        ledger.create_account(id, currency="USD")
        ledger.transfer("@world", id, 1_000, id=f"open.{id}")


@pytest.mark.timeout(240)
def test_kill_9_of_writer_processes_mid_run_loses_nothing_acknowledged(ledger_url: str, tmp_path: Path) -> None:
    with tally.open(ledger_url) as ledger:
        _open_accounts(ledger)
        logs = [tmp_path / f"w{n}.log" for n in range(KILLED_WRITERS)]
        writers = [
            SPAWN.Process(target=endless_writer, args=(ledger_url, str(log), ACCOUNTS, n)) for n, log in enumerate(logs)
        ]
        for writer in writers:
            writer.start()
        try:
            for writer in writers:
                # Kill one at a time while the others keep writing: each dies
                # wherever it happens to be, in or out of a transaction.
                target = ledger.audit_head()[0] + PROGRESS_EVENTS
                _wait_for(lambda t=target: ledger.audit_head()[0] >= t, "the writers to make progress")
                assert writer.pid is not None
                os.kill(writer.pid, signal.SIGKILL)
                writer.join(timeout=30)
                assert writer.exitcode == -signal.SIGKILL
        finally:
            for writer in writers:
                writer.kill()
                writer.join(timeout=30)

        assert_books_balance(ledger)
        acks: list[Ack] = []
        in_doubt: list[list[str]] = []
        for log in logs:
            logged_acks, intents = _read_log(log)
            acks += logged_acks
            answered = {ack.id for ack in logged_acks}
            in_doubt += [intent for intent in intents if intent[0] not in answered]
        assert len(acks) >= KILLED_WRITERS * 10, "the writers were killed mid-run, not before it"
        check_acks(ledger, acks)

        # The last transfer of each killed writer may or may not have been
        # committed: a retry with the same id is applied at most once.
        assert len(in_doubt) <= KILLED_WRITERS
        for id, source, destination, amount in in_doubt:
            with contextlib.suppress(tally.InsufficientFunds):
                ledger.transfer(source, destination, int(amount), id=id)
            assert transfer_events(ledger)[id] == 1
        # And a retry of an acknowledged one changes nothing.
        head = ledger.audit_head()
        for ack in acks[-3:]:
            retried = ledger.transfer(ack.id)
            assert (retried.status, retried.code, retried.seq) == (ack.status, ack.code, ack.seq)
        assert ledger.audit_head() == head
        assert_books_balance(ledger)


def _waiting_on(admin: RawDatabase, table: str) -> int | None:
    rows = admin.execute(f"SELECT pid FROM pg_locks WHERE relation = '{table}'::regclass AND NOT granted")
    return int(rows[0][0]) if rows else None


@pytest.mark.postgres
@pytest.mark.timeout(120)
def test_connection_cut_by_the_database_mid_transaction_leaves_nothing_and_the_retry_succeeds(
    postgres_url: str,
) -> None:
    with tally.open(postgres_url) as ledger:
        _open_accounts(ledger)
        head = ledger.audit_head()
        blocker, admin = RawDatabase(postgres_url), RawDatabase(postgres_url)
        try:
            # Hold the writer up halfway through its writes: the journal row and
            # the transfer are inserted, the entries wait for this lock.
            blocker.execute("BEGIN")
            blocker.execute("LOCK TABLE entries IN SHARE MODE")
            outcome: dict[str, Any] = {}
            writer = threading.Thread(
                target=lambda: outcome.update(t=ledger.transfer("crash:0", "crash:1", 100, id="cut"))
            )
            writer.start()
            pid = _wait_for(lambda: _waiting_on(admin, "entries"), "the writer to wait on entries")
            assert admin.execute(f"SELECT pg_terminate_backend({pid})") == [(True,)]
            _wait_for(lambda: not admin.execute(f"SELECT 1 FROM pg_stat_activity WHERE pid = {pid}"), "the cut")
            # Cut mid-transaction: nothing of it is there.
            assert admin.execute("SELECT count(*) FROM transfers WHERE id = 'cut'") == [(0,)]
            assert admin.execute("SELECT seq, hash FROM ledger_head") == [head]
            blocker.execute("ROLLBACK")  # let the retry through
            writer.join(timeout=60)
        finally:
            blocker.close()
            admin.close()

        assert outcome["t"].status == "posted"
        assert transfer_events(ledger)["cut"] == 1
        assert ledger.balance("crash:0").posted == 900
        assert ledger.balance("crash:1").posted == 1_100
        assert_books_balance(ledger)


@pytest.mark.postgres
@pytest.mark.timeout(120)
def test_connection_lost_after_the_database_committed_is_applied_once(postgres_url: str) -> None:
    target = conninfo_to_dict(conninfo(postgres_url))
    proxy = CommitCuttingProxy(str(target.get("host", "127.0.0.1")), int(target.get("port", 5432)))
    try:
        with tally.open(proxy.url_for(postgres_url)) as ledger:
            _open_accounts(ledger)
            head_seq = ledger.audit_head()[0]
            proxy.arm()
            t = ledger.transfer("crash:0", "crash:1", 100, id="lost-ack")
            assert proxy.cuts == 1, "the answer to the COMMIT was lost"
            # The retry found the transfer committed and answered with it.
            assert (t.status, t.seq) == ("posted", head_seq + 1)
            assert ledger.audit_head()[0] == head_seq + 1
            assert transfer_events(ledger)["lost-ack"] == 1
            assert ledger.balance("crash:0").posted == 900
            assert_books_balance(ledger)
    finally:
        proxy.close()


@pytest.mark.postgres
@pytest.mark.timeout(120)
def test_writer_that_times_out_waiting_for_the_head_lock_retries_until_it_is_free(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    short_wait = postgres_url.replace("options=-csearch_path%3D", "options=-clock_timeout%3D50%20-csearch_path%3D")
    assert short_wait != postgres_url
    caplog.set_level(logging.INFO, logger="tally.engine")
    with tally.open(short_wait) as ledger:
        _open_accounts(ledger)
        holder = RawDatabase(postgres_url)
        try:
            holder.execute("BEGIN")
            holder.execute("SELECT seq FROM ledger_head WHERE id = 1 FOR UPDATE")
            outcome: dict[str, Any] = {}
            writer = threading.Thread(
                target=lambda: outcome.update(t=ledger.transfer("crash:0", "crash:1", 5, id="late"))
            )
            writer.start()
            _wait_for(lambda: "lock timeout" in caplog.text, "the writer to time out and retry")
            holder.execute("ROLLBACK")
            writer.join(timeout=60)
        finally:
            holder.close()
        assert outcome["t"].status == "posted"
        assert transfer_events(ledger)["late"] == 1
        assert_books_balance(ledger)
