"""Timing, latency percentiles and peak memory, measured inside one run.

Every number comes from `time.perf_counter` around the call the user would
make; a run is repeated and the median of each figure is reported, so that one
unlucky run on a shared 2-core machine does not decide a ratio.
"""

from __future__ import annotations

import os
import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process now, in MiB (Linux /proc)."""
    with open(f"/proc/{pid or 'self'}/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE_MB


class PeakMemory:
    """Samples a process's resident memory in the background; keeps the peak."""

    def __init__(self, pid: int | None = None, every_seconds: float = 0.01) -> None:
        self.pid = pid
        self.every_seconds = every_seconds
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            try:
                self.peak_mb = max(self.peak_mb, rss_mb(self.pid))
            except (FileNotFoundError, ProcessLookupError):
                return
            if self._stop.wait(self.every_seconds):
                return

    def __enter__(self) -> PeakMemory:
        self.peak_mb = rss_mb(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Run:
    """One measured run: how many transfers, how long, each call's latency."""

    transfers: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    rejected: int = 0
    peak_mb: float = 0.0
    error_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.transfers / self.seconds if self.seconds else 0.0

    def add(self, other: Run) -> None:
        """Count `other` as more of this run (the same clients, measured again)."""
        self.transfers += other.transfers
        self.seconds += other.seconds
        self.latencies.extend(other.latencies)
        self.errors += other.errors
        self.rejected += other.rejected
        self.peak_mb = max(self.peak_mb, other.peak_mb)
        for kind, count in other.error_kinds.items():
            self.error_kinds[kind] = self.error_kinds.get(kind, 0) + count

    def percentile_ms(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


@dataclass
class Summary:
    """The median of each figure over repeated runs."""

    per_second: float
    p50_ms: float
    p99_ms: float
    peak_mb: float
    errors: int
    rejected: int
    runs: int
    error_kinds: dict[str, int]

    @classmethod
    def of(cls, runs: list[Run]) -> Summary:
        kinds: dict[str, int] = {}
        for run in runs:
            for kind, count in run.error_kinds.items():
                kinds[kind] = kinds.get(kind, 0) + count
        return cls(
            per_second=statistics.median(r.per_second for r in runs),
            p50_ms=statistics.median(r.percentile_ms(0.50) for r in runs),
            p99_ms=statistics.median(r.percentile_ms(0.99) for r in runs),
            peak_mb=max(r.peak_mb for r in runs),
            errors=sum(r.errors for r in runs),
            rejected=sum(r.rejected for r in runs),
            runs=len(runs),
            error_kinds=kinds,
        )


# One call of a workload: returns (transfers done, transfers rejected).
Operation = Callable[[random.Random], tuple[int, int]]


def run_clients(clients: int, make_operation: Callable[[int], Operation], *, seconds: float, calls: int = 0) -> Run:
    """Run `clients` threads, each calling its operation until time (or `calls`) runs out.

    With `calls`, each client makes exactly that many calls (used where the
    outcome, not the rate, is measured); otherwise each runs for `seconds`.
    """
    run = Run()
    lock = threading.Lock()
    operations = [make_operation(index) for index in range(clients)]
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(index: int) -> None:
        operation, rng = operations[index], random.Random(index)
        latencies: list[float] = []
        done = rejected = errors = 0
        kinds: dict[str, int] = {}
        start.wait()
        while (len(latencies) < calls) if calls else (time.perf_counter() < deadline[0]):
            began = time.perf_counter()
            try:
                moved, refused = operation(rng)
                done, rejected = done + moved, rejected + refused
            except Exception as error:  # noqa: BLE001 - every failure is counted, by kind
                errors += 1
                kinds[type(error).__name__] = kinds.get(type(error).__name__, 0) + 1
            latencies.append(time.perf_counter() - began)
        with lock:
            run.latencies.extend(latencies)
            run.transfers += done
            run.rejected += rejected
            run.errors += errors
            for kind, count in kinds.items():
                run.error_kinds[kind] = run.error_kinds.get(kind, 0) + count

    threads = [threading.Thread(target=client, args=(index,), daemon=True) for index in range(clients)]
    for thread in threads:
        thread.start()
    with PeakMemory() as memory:
        began = time.perf_counter()
        deadline[0] = began + seconds
        start.wait()
        for thread in threads:
            thread.join()
        run.seconds = time.perf_counter() - began
    run.peak_mb = memory.peak_mb
    return run
