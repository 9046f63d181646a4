"""8 processes moving money at random among 10 accounts of one SQLite file (and 8 threads on one Ledger).

No caller ever sees "database is locked" (nor `unavailable`): every call ends
accepted or with a business code. Afterwards the balances are exactly what the
acknowledged transfers say (no lost update), no bounded account is overdrawn,
the books balance and verify() replays the whole journal.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import tally
from tests.support import assert_books_balance

PROCESSES = 8
TRANSFERS_PER_PROCESS = 100
USERS = [f"user:{n}" for n in range(9)]
ACCOUNTS = ["@world", *USERS]
EXPECTED_CODES = {"insufficient_funds", "same_account"}


def worker(url: str, number: int, report: str) -> None:
    """One process: random transfers, some as holds then posted or voided; what it was told, to a file."""
    rng = random.Random(number)
    acknowledged: list[dict[str, Any]] = []
    unexpected: list[str] = []
    with tally.open(url) as ledger:
        for n in range(TRANSFERS_PER_PROCESS):
            source, destination = rng.choice(ACCOUNTS), rng.choice(ACCOUNTS)
            amount = rng.choice([1, 10, 100, 250, 1_000])
            id = f"p{number}-{n}"
            try:
                transfer = ledger.transfer(source, destination, amount, id=id, pending=rng.random() < 0.25)
                if transfer.status == "pending":
                    transfer = ledger.post(id) if rng.random() < 0.5 else ledger.void(id)
                acknowledged.append({"id": id, "status": transfer.status, "amount": transfer.posted_amount or 0,
                                     "source": source, "destination": destination})  # fmt: skip
            except tally.LedgerError as error:
                if error.code not in EXPECTED_CODES:
                    unexpected.append(f"{id}: {error.code}: {error}")
            except Exception as error:  # noqa: BLE001 - "database is locked" must never reach a caller
                unexpected.append(f"{id}: {type(error).__name__}: {error}")
    Path(report).write_text(json.dumps({"acknowledged": acknowledged, "unexpected": unexpected}))


def test_eight_processes_of_random_transfers_lose_nothing_and_never_see_a_lock(sqlite_url: str, tmp_path: Path) -> None:
    with tally.open(sqlite_url) as ledger:
        ledger.create_account("@world", currency="USD", min_balance=None)
        for user in USERS:
            ledger.create_account(user, currency="USD")
            ledger.transfer("@world", user, 2_000, id=f"fund-{user}")

    context = multiprocessing.get_context("spawn")
    reports = [tmp_path / f"worker-{n}.json" for n in range(PROCESSES)]
    processes = [context.Process(target=worker, args=(sqlite_url, n, str(reports[n]))) for n in range(PROCESSES)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=240)
        assert process.exitcode == 0, process.exitcode

    expected: dict[str, int] = defaultdict(int)
    for user in USERS:
        expected[user] += 2_000
        expected["@world"] -= 2_000
    acknowledged = 0
    for report in reports:
        result = json.loads(report.read_text())
        assert result["unexpected"] == []
        for transfer in result["acknowledged"]:
            acknowledged += 1
            expected[transfer["source"]] -= transfer["amount"]
            expected[transfer["destination"]] += transfer["amount"]
    assert acknowledged > PROCESSES * TRANSFERS_PER_PROCESS // 4, "the test should move money, not only refuse"

    with tally.open(sqlite_url) as ledger:
        for id in ACCOUNTS:
            balance = ledger.balance(id)
            assert (balance.posted, balance.pending_out, balance.pending_in) == (expected[id], 0, 0), id
        assert_books_balance(ledger)


def test_threads_sharing_one_ledger_racing_on_the_same_ids_keep_one_outcome_per_id(sqlite_url: str) -> None:
    """Group commit puts racing requests in one write: the same id twice in a group still means one transfer."""
    with tally.open(sqlite_url) as ledger:
        ledger.create_account("@world", currency="USD", min_balance=None)
        for user in USERS:
            ledger.create_account(user, currency="USD")
            ledger.transfer("@world", user, 2_000, id=f"fund-{user}")
        answers: list[list[tuple[str, Any]]] = [[] for _ in range(PROCESSES)]

        def run(number: int) -> None:
            rng = random.Random(number // 2)  # pairs of threads send the very same requests
            for n in range(TRANSFERS_PER_PROCESS):
                source, destination = rng.choice(USERS), rng.choice(USERS)
                amount = rng.choice([1, 10, 100]) + (number % 2) * (n % 3 == 0)  # sometimes another amount
                try:
                    transfer = ledger.transfer(source, destination, amount, id=f"shared-{number // 2}-{n}")
                    answers[number].append((transfer.id, (transfer.status, transfer.amount, transfer.seq)))
                except tally.LedgerError as error:
                    answers[number].append((f"shared-{number // 2}-{n}", error.code))

        threads = [threading.Thread(target=run, args=(n,)) for n in range(PROCESSES)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        for pair in range(PROCESSES // 2):
            for (id, first), (_, second) in zip(answers[2 * pair], answers[2 * pair + 1], strict=True):
                stored = ledger.transfer(id)
                outcomes = {first, second}
                # Either both got the one transfer, or one got it and the other id_conflict.
                assert outcomes <= {(stored.status, stored.amount, stored.seq), stored.code, "id_conflict"}, (
                    id,
                    outcomes,
                )
                assert not outcomes <= {"id_conflict"}, id
        assert_books_balance(ledger)
