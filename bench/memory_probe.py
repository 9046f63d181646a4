"""Run workload 2 against one existing Tally ledger in this process; print its peak memory as JSON.

`python -m bench.memory_probe URL SECONDS CLIENTS`. A process of its own, so
that its peak resident memory is Tally's alone (the library, as a service
would embed it), not the benchmark's.
"""

from __future__ import annotations

import json
import random
import resource
import sys

import tally
from bench.measure import Operation, run_clients
from bench.tally_system import TallyClient


def main(url: str, seconds: float, clients: int) -> dict[str, float | str]:
    ledger = tally.open(url)
    users = [account.id for account in ledger.accounts("user:", limit=1000).accounts]
    client = TallyClient(ledger)

    def make(index: int) -> Operation:
        def operation(rng: random.Random) -> tuple[int, int]:
            source, destination = rng.sample(users, 2)
            return (1, 0) if client.transfer(source, destination, rng.randint(1, 100)) else (0, 1)

        return operation

    run = run_clients(clients, make, seconds=seconds)
    ledger.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"peak_mb": peak_mb, "per_second": run.per_second, "who": "a process embedding the library"}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))))
