"""Staff sessions: a signed cookie, a CSRF token, and the key behind them.

The cookie holds no secret of its own: the key's id, a random CSRF token and a
one-shot notice, signed with itsdangerous so that it cannot be forged or
edited. The key is looked up on every request, so revoking it (or changing
nothing but its role) ends the session at once.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from tally.keys import ApiKey, authenticate, list_keys
from tally.ledger import Ledger

COOKIE_NAME = "tally_admin"
COOKIE_PATH = "/admin"
# A session ends this long after sign-in, whatever happens in between.
SESSION_SECONDS_MAX = 8 * 3600
ADMIN_ROLES = ("admin", "staff")
CSRF_FIELD = "csrf_token"
# Signed-out sessions remembered by this process (beyond that, the oldest are forgotten).
SIGNED_OUT_MAX = 10_000
_SALT = "tally.admin.session"


@dataclass(frozen=True, slots=True)
class Session:
    csrf: str
    key_id: str | None = None
    since: float = 0.0  # when its key signed in (seconds since the epoch)
    notice: str | None = None  # shown once, on the next page

    @staticmethod
    def new() -> Session:
        return Session(csrf=secrets.token_urlsafe(32))


class Sessions:
    """Reads and writes the session cookie."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=_SALT)

    def load(self, request: Request) -> Session | None:
        raw = request.cookies.get(COOKIE_NAME)
        if not raw:
            return None
        try:
            data: Any = self._serializer.loads(raw, max_age=SESSION_SECONDS_MAX)
        except BadSignature:  # also covers an expired signature
            return None
        if not isinstance(data, dict) or not isinstance(data.get("csrf"), str):
            return None
        return Session(data["csrf"], data.get("key"), float(data.get("since") or 0), data.get("notice"))

    def save(self, request: Request, response: Response, session: Session) -> None:
        value = self._serializer.dumps(
            {"csrf": session.csrf, "key": session.key_id, "since": session.since, "notice": session.notice}
        )
        response.set_cookie(
            COOKIE_NAME,
            value,
            max_age=SESSION_SECONDS_MAX,
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            # Behind TLS the cookie never travels in clear; plain http stays usable on 127.0.0.1.
            secure=request.url.scheme == "https",
        )


class SignOuts:
    """Sessions ended by "Sign out", so that a copy of their cookie no longer works.

    The cookie is self-contained, so without this a copied cookie would work
    until it expires. Kept in memory by the serving process: enough for one
    `tally serve`; several processes would each need to be told.
    """

    def __init__(self) -> None:
        self._ended: dict[tuple[str, float], float] = {}
        self._lock = threading.Lock()

    def add(self, session: Session) -> None:
        if session.key_id is None:
            return
        now = time.time()
        with self._lock:
            for ended, expires in list(self._ended.items()):
                if expires < now:
                    del self._ended[ended]
            while len(self._ended) >= SIGNED_OUT_MAX:
                del self._ended[next(iter(self._ended))]
            self._ended[(session.key_id, session.since)] = session.since + SESSION_SECONDS_MAX

    def __contains__(self, session: Session) -> bool:
        with self._lock:
            return (session.key_id or "", session.since) in self._ended


def csrf_ok(session: Session | None, form_token: object) -> bool:
    if session is None or not isinstance(form_token, str) or not form_token:
        return False
    return hmac.compare_digest(session.csrf.encode(), form_token.encode())


def sign_in(ledger: Ledger, token: str) -> tuple[ApiKey | None, str | None]:
    """The key a token belongs to if it may use the admin page, else a reason in words."""
    key = authenticate(ledger, token.strip())
    if key is None:
        return None, "This token is not valid (mistyped, or the key was revoked)."
    if key.role not in ADMIN_ROLES:
        return None, f"A {key.role} key cannot use the admin page: sign in with an admin or staff key."
    return key, None


def signed_in(session: Session, key: ApiKey) -> Session:
    # A fresh CSRF token at sign-in: one planted before it is worthless after.
    return Session(csrf=secrets.token_urlsafe(32), key_id=key.id, since=time.time())


def current_key(ledger: Ledger, session: Session | None, signed_out: SignOuts) -> ApiKey | None:
    """The session's key while it is active, may use the admin page, and the session is young and not ended."""
    if session is None or session.key_id is None or session in signed_out:
        return None
    if time.time() - session.since > SESSION_SECONDS_MAX:
        return None
    for key in list_keys(ledger):
        if key.id == session.key_id:
            return key if key.active and key.role in ADMIN_ROLES else None
    return None


def with_notice(session: Session, notice: str | None) -> Session:
    return replace(session, notice=notice)
