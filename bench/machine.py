"""What the numbers were measured on: cores, memory, versions."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
from typing import Any

import tally
from bench.databases import POSTGRES_URL


def _memory_gib() -> str:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    return "unknown"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _postgres_version() -> str:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as connection:
            row: Any = connection.execute("SHOW server_version").fetchone()
            return f"{row[0]} (psycopg {psycopg.__version__})"
    except Exception as error:  # noqa: BLE001 - reported, not fatal
        return f"not available ({type(error).__name__})"


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def describe() -> list[tuple[str, str]]:
    return [
        ("CPU", f"{os.cpu_count()} cores, {_cpu_model()}"),
        ("memory", _memory_gib()),
        ("OS", platform.platform()),
        ("Python", sys.version.split()[0]),
        ("SQLite", sqlite3.sqlite_version),
        ("PostgreSQL", _postgres_version()),
        ("Tally", f"{tally.__version__} (commit {_commit()})"),
    ]
