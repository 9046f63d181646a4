"""Who is asking: bearer keys, roles, per-key scopes and rate limits.

A key made with `accounts=PREFIX` sees and moves only accounts whose id starts
with PREFIX. Anything outside answers exactly what a missing account or
transfer answers (404 with no data), so a scoped key cannot even learn that an
id exists.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from tally.core.codes import Code
from tally.core.errors import AccountNotFound, LedgerError, TransferNotFound, error_for
from tally.core.transfer import Transfer
from tally.keys import ApiKey, authenticate
from tally.ledger import Ledger

WRITE_ROLES = frozenset({"admin", "staff", "writer"})
RATE_LIMIT_KEYS_MAX = 100_000  # buckets kept in memory before the oldest are dropped


@dataclass(frozen=True, slots=True)
class Caller:
    key: ApiKey

    @property
    def scope(self) -> str | None:
        return self.key.accounts

    def in_scope(self, account_id: str) -> bool:
        return self.key.in_scope(account_id)

    def sees(self, transfer: Transfer) -> bool:
        return self.in_scope(transfer.source) or self.in_scope(transfer.destination)

    def require_write(self) -> None:
        if self.key.role not in WRITE_ROLES:
            raise error_for(Code.FORBIDDEN, f"a {self.key.role} key may only read")

    def require_admin(self) -> None:
        # A scoped admin could mint unscoped keys: admin-only endpoints need an unscoped admin.
        if self.key.role != "admin" or self.scope is not None:
            raise error_for(Code.FORBIDDEN, "this needs an admin key without an account scope")

    def require_unscoped(self, what: str, field: str | None = None) -> None:
        if self.scope is not None:
            raise error_for(Code.FORBIDDEN, f"a key limited to {self.scope} may not {what}", field=field)

    def account_in_scope(self, account_id: str, field: str | None = None) -> None:
        if not self.in_scope(account_id):
            raise AccountNotFound(f"no account {account_id}", field=field)

    def visible_transfer(self, transfer: Transfer | None, id: str) -> Transfer:
        if transfer is None or not self.sees(transfer):
            raise TransferNotFound(f"no transfer {id}")
        return transfer


class RateLimiter:
    """A token bucket per key: `rate` requests a second, bursts of up to `burst`."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key_id: str) -> float:
        """0 if the request may go ahead, else the seconds until it may."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1:
                if len(self._buckets) >= RATE_LIMIT_KEYS_MAX and key_id not in self._buckets:
                    self._buckets.pop(next(iter(self._buckets)))
                self._buckets[key_id] = (tokens - 1, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1 - tokens) / self.rate


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def identify(request: Request, ledger: Ledger, limiter: RateLimiter) -> Caller:
    return identify_by(request, lambda token: authenticate(ledger, token), limiter)


def identify_by(request: Request, lookup: Callable[[str], ApiKey | None], limiter: RateLimiter) -> Caller:
    """`identify`, with the token's key found by `lookup` (one key, or one of several read at once)."""
    token = bearer_token(request)
    if token is None:
        raise error_for(Code.UNAUTHENTICATED, "send Authorization: Bearer TOKEN")
    key = lookup(token)
    if key is None:
        raise error_for(Code.UNAUTHENTICATED, "the token is unknown or revoked")
    wait = limiter.take(key.id)
    if wait > 0:
        error: LedgerError = error_for(Code.RATE_LIMITED, "too many requests for this key", retry_after=wait)
        raise error
    request.state.key_id = key.id
    return Caller(key)
