"""Settings of the HTTP service and the admin page, built once by the caller.

Nothing here runs at import time: `Settings()` holds defaults, `Settings.from_env()`
reads `TALLY_*` variables, and `resolved()` fills in what must be generated
(the admin page's session secret, kept under `state_dir` so that sessions survive
a restart).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///tally.sqlite3"
BODY_BYTES_MAX = 1024 * 1024
SECRET_FILE = "session-secret"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8000
    # Per API key: a token bucket refilled at this rate, holding at most `burst`.
    rate_limit_per_second: float = 200.0
    rate_limit_burst: int = 400
    body_bytes_max: int = BODY_BYTES_MAX
    # Signs the admin page's session cookies; generated and stored when not given.
    session_secret: str | None = None
    # The counter-account of the admin page's balance adjustments.
    adjustments_account: str = "@adjustments"
    # Where generated secrets and the `make run` admin token live.
    state_dir: str = ".tally"
    # Longest `wait` a long poll of GET /v1/events may hold a connection.
    events_wait_seconds_max: float = 30.0

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Defaults, then `TALLY_*` environment variables, then `overrides`."""
        env = os.environ
        values: dict[str, object] = {}
        if "TALLY_DATABASE_URL" in env:
            values["database_url"] = env["TALLY_DATABASE_URL"]
        if "TALLY_RATE_LIMIT_PER_SECOND" in env:
            values["rate_limit_per_second"] = float(env["TALLY_RATE_LIMIT_PER_SECOND"])
        if "TALLY_RATE_LIMIT_BURST" in env:
            values["rate_limit_burst"] = int(env["TALLY_RATE_LIMIT_BURST"])
        if "TALLY_SESSION_SECRET" in env:
            values["session_secret"] = env["TALLY_SESSION_SECRET"]
        if "TALLY_STATE_DIR" in env:
            values["state_dir"] = env["TALLY_STATE_DIR"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def resolved(self) -> Settings:
        """These settings with a session secret (read from, or created in, `state_dir`)."""
        if self.session_secret:
            return self
        return replace(self, session_secret=stored_secret(Path(self.state_dir) / SECRET_FILE))


def stored_secret(path: Path) -> str:
    """The secret kept in `path`, created (readable by its owner only) on first use."""
    if path.exists():
        text = path.read_text().strip()
        if text:
            return text
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(secret + "\n")
    return secret
