"""Workload 2 over HTTP against a real `tally serve`; the server's own peak memory.

The server (bench.http_system.Server) is a process of its own; its resident
memory is sampled from /proc while 16 HTTP clients make transfers, round after
round, until it stops growing. A short run would understate it: on SQLite the
write connection's page cache fills as the ledger is written, about 1 MB a
second under workload 2 on a 2-core machine, up to its bound
(`tally.store.sqlite.WRITER_CACHE_KIB`).
"""

from __future__ import annotations

import time
from typing import Any

from bench.http_system import Server, TallyHTTPClient
from bench.measure import PeakMemory, Run, run_clients
from bench.workloads import _pair, _single

# Memory has settled once its peak grew by less than this over the last SETTLED_SECONDS.
SETTLED_MB = 1.0
SETTLED_SECONDS = 10.0


def serve_workload(url: str, users: list[str], seconds: float, clients: int, max_seconds: float) -> dict[str, Any]:
    """Rounds of `seconds` until the server's peak RSS has settled, or `max_seconds` have run."""
    server = Server(url)
    handles = [TallyHTTPClient(server.session()) for _ in range(clients)]
    total = Run()
    peaks: list[tuple[float, float]] = []  # (seconds run, peak RSS so far) after each round
    settled = False
    try:
        pick = _pair(users)
        with PeakMemory(server.process.pid) as memory:
            began = time.perf_counter()
            while not settled:
                run = run_clients(clients, lambda index: _single(handles[index], pick), seconds=seconds)
                total.add(run)
                elapsed = time.perf_counter() - began
                peaks.append((elapsed, memory.peak_mb))
                settled = _settled(peaks)
                if elapsed >= max_seconds:
                    break
    finally:
        for handle in handles:
            handle.close()
        server.close()
    return {
        "peak_mb": memory.peak_mb,
        "seconds": total.seconds,
        "settled": settled,
        "per_second": total.per_second,
        "p50_ms": total.percentile_ms(0.5),
        "p99_ms": total.percentile_ms(0.99),
        "errors": total.errors,
        "who": "a `tally serve` process (HTTP clients, one keep-alive connection each)",
    }


def _settled(peaks: list[tuple[float, float]]) -> bool:
    """Whether the peak now is within SETTLED_MB of the peak at least SETTLED_SECONDS ago."""
    now, peak = peaks[-1]
    return any(at <= now - SETTLED_SECONDS and peak - then < SETTLED_MB for at, then in peaks)
