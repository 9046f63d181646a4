"""Workload 2 over HTTP against a real `tally serve`; the server's own peak memory.

The server (bench.http_system.Server) is a process of its own; its resident
memory is sampled from /proc while 16 HTTP clients make transfers.
"""

from __future__ import annotations

import random
from typing import Any

from bench.http_system import Server
from bench.measure import Operation, PeakMemory, run_clients


def serve_workload(url: str, users: list[str], seconds: float, clients: int) -> dict[str, Any]:
    server = Server(url)
    sessions = [server.session() for _ in range(clients)]
    try:

        def make(index: int) -> Operation:
            session = sessions[index]

            def operation(rng: random.Random) -> tuple[int, int]:
                source, destination = rng.sample(users, 2)
                body = {"source": source, "destination": destination, "amount": rng.randint(1, 100)}
                response = session.post("/v1/transfers", json=body)
                if response.status_code != 201:
                    raise RuntimeError(f"HTTP {response.status_code}")
                return 1, 0

            return operation

        with PeakMemory(server.process.pid) as memory:
            run = run_clients(clients, make, seconds=seconds)
    finally:
        for session in sessions:
            session.close()
        server.close()
    return {
        "peak_mb": memory.peak_mb,
        "per_second": run.per_second,
        "p50_ms": run.percentile_ms(0.5),
        "p99_ms": run.percentile_ms(0.99),
        "errors": run.errors,
        "who": "a `tally serve` process (HTTP clients, one keep-alive connection each)",
    }
