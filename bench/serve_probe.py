"""Workload 2 over HTTP against a real `tally serve`; the server's own peak memory.

The server runs as its own process (`tally --db URL serve`), with a writer key
made by `tally keys create`, the rate limit lifted (it would cap the clients,
not measure the server) and a throwaway state directory. Its resident memory
is sampled from /proc while 16 HTTP clients make transfers.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.measure import Operation, PeakMemory, run_clients

STARTUP_SECONDS_MAX = 60


def _tally() -> list[str]:
    script = Path(sys.executable).with_name("tally")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from tally.cli import main; main()"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _environment(state_dir: str) -> dict[str, str]:
    return {
        **os.environ,
        "TALLY_RATE_LIMIT_PER_SECOND": "1000000000",
        "TALLY_RATE_LIMIT_BURST": "1000000000",
        "TALLY_STATE_DIR": state_dir,
    }


def _wait_healthy(client: Any, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS_MAX
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"tally serve exited with {server.returncode}")
        try:
            if client.get("/v1/health").status_code == 200:
                return
        except Exception:  # noqa: BLE001 - not listening yet
            pass
        time.sleep(0.1)
    raise RuntimeError("tally serve did not become healthy")


def serve_workload(url: str, users: list[str], seconds: float, clients: int) -> dict[str, Any]:
    import httpx

    with tempfile.TemporaryDirectory(prefix="tally-serve-") as state_dir:
        environment = _environment(state_dir)
        made = subprocess.run(
            [*_tally(), "--db", url, "keys", "create", "--role", "writer"],
            capture_output=True, text=True, check=True, env=environment,
        )  # fmt: skip
        token = made.stdout.strip().splitlines()[-1]
        port = _free_port()
        server = subprocess.Popen(
            [*_tally(), "--db", url, "serve", "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        sessions = [httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) for _ in range(clients)]
        try:
            _wait_healthy(sessions[0], server)

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

            with PeakMemory(server.pid) as memory:
                run = run_clients(clients, make, seconds=seconds)
        finally:
            for session in sessions:
                session.close()
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return {
        "peak_mb": memory.peak_mb,
        "per_second": run.per_second,
        "p50_ms": run.percentile_ms(0.5),
        "p99_ms": run.percentile_ms(0.99),
        "errors": run.errors,
        "who": "a `tally serve` process (HTTP clients, one keep-alive connection each)",
    }
