"""Workload 2 over HTTP against a real `tally serve`; the server's own peak memory.

The server (bench.http_system.Server) is a process of its own; its resident
memory is sampled from /proc while 16 HTTP clients make transfers.
"""

from __future__ import annotations

from typing import Any

from bench.http_system import Server, TallyHTTPClient
from bench.measure import PeakMemory, run_clients
from bench.workloads import _pair, _single


def serve_workload(url: str, users: list[str], seconds: float, clients: int) -> dict[str, Any]:
    server = Server(url)
    handles = [TallyHTTPClient(server.session()) for _ in range(clients)]
    try:
        pick = _pair(users)
        with PeakMemory(server.process.pid) as memory:
            run = run_clients(clients, lambda index: _single(handles[index], pick), seconds=seconds)
    finally:
        for handle in handles:
            handle.close()
        server.close()
    return {
        "peak_mb": memory.peak_mb,
        "per_second": run.per_second,
        "p50_ms": run.percentile_ms(0.5),
        "p99_ms": run.percentile_ms(0.99),
        "errors": run.errors,
        "who": "a `tally serve` process (HTTP clients, one keep-alive connection each)",
    }
