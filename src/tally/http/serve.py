"""`tally serve`: uvicorn in front of `create_app`, plus the thread that expires holds on time.

uvicorn handles SIGINT and SIGTERM: it stops accepting connections, lets the
requests in flight finish, runs the app's shutdown, and returns; the process
then exits 0.
"""

from __future__ import annotations

import logging
import sys
import threading
from types import FrameType

import structlog
import uvicorn

import tally
from tally.http.app import create_app
from tally.ledger import Ledger
from tally.settings import Settings

# Holds expire within about this long of their time even when nobody asks.
EXPIRY_SLEEP_SECONDS_MAX = 1.0
EXPIRY_SLEEP_SECONDS_MIN = 0.01
# A long poll or a slow client may delay a shutdown by at most this long.
GRACEFUL_SHUTDOWN_SECONDS = 30

log = structlog.get_logger("tally.serve")


class _Server(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # uvicorn re-raises the signal once it has shut down, so the process
        # would die of it; a stop by SIGINT/SIGTERM is a clean exit (status 0).
        self._captured_signals.clear()


def configure_logging() -> None:
    """JSON lines on stderr, one per event (a process-wide choice, so only `serve` makes it)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def expire_until(ledger: Ledger, stop: threading.Event) -> None:
    """Expire holds as they come due, sleeping until the next one (at most a second)."""
    while not stop.is_set():
        delay = EXPIRY_SLEEP_SECONDS_MAX
        try:
            ledger.expire_due()
            next_us = ledger.store.next_expiry()
            if next_us is not None:
                delay = (next_us - ledger.engine.now_us()) / 1_000_000
        except Exception:  # a database hiccup must not stop expiry for good
            log.exception("expiry_failed")
        stop.wait(min(EXPIRY_SLEEP_SECONDS_MAX, max(EXPIRY_SLEEP_SECONDS_MIN, delay)))


def serve(settings: Settings, ledger: Ledger | None = None) -> None:
    """Serve until SIGINT or SIGTERM; returns once in-flight requests are answered."""
    configure_logging()
    opened = ledger if ledger is not None else tally.open(settings.database_url)
    stop = threading.Event()
    expirer = threading.Thread(target=expire_until, args=(opened, stop), name="tally-expiry", daemon=True)
    try:
        app = create_app(settings, opened)
        expirer.start()
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            access_log=False,  # the app logs every request itself, with its request id
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            log_level="info",
        )
        _Server(config).run()
    finally:
        stop.set()
        if expirer.is_alive():
            expirer.join()
        opened.close()
