"""Find the services tests need; skip without them, but fail under CI=true.

A silent skip in CI hides a broken feature, so when `CI=true` a missing service
is a test failure with the reason, not a skip.
"""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES_URL = os.environ.get("TALLY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(service: str, reason: str) -> None:
    """Skip the test (or fail it, in CI) because `service` is not reachable."""
    message = f"{service} is not available: {reason}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: required services must run)", pytrace=False)
    pytest.skip(message)


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
