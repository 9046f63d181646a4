"""API keys: roles and per-user scopes for the HTTP API and the admin page.

A key's token is shown once, when it is made; only its SHA-256 is stored
(tokens are 256 random bits, so a slow password hash would add nothing).
A key made with `accounts="user:42"` sees and moves only accounts whose id
starts with that prefix.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tally.core.clock import rfc3339
from tally.core.errors import ValidationError
from tally.core.text import check_id
from tally.ledger import Ledger

ROLES = ("admin", "staff", "writer", "reader")
TOKEN_PREFIX = "tly_"
NAME_LENGTH_MAX = 100


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    role: str
    accounts: str | None  # the account-id prefix this key is limited to
    name: str | None
    created_us: int
    revoked_us: int | None = None

    @property
    def active(self) -> bool:
        return self.revoked_us is None

    def in_scope(self, account_id: str) -> bool:
        return self.accounts is None or account_id.startswith(self.accounts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role,
            "accounts": self.accounts,
            "name": self.name,
            "created_at": rfc3339(self.created_us),
            "revoked_at": rfc3339(self.revoked_us),
        }


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _key(row: dict[str, Any]) -> ApiKey:
    return ApiKey(row["id"], row["role"], row["accounts"], row["name"], row["created_us"], row["revoked_us"])


def create_key(ledger: Ledger, role: str, accounts: str | None = None, name: str | None = None) -> tuple[ApiKey, str]:
    """A new key and its token (the only time the token exists in clear)."""
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}", field="role")
    if accounts is not None:
        check_id(accounts, "accounts")
    if name is not None and (type(name) is not str or not 1 <= len(name) <= NAME_LENGTH_MAX):
        raise ValidationError(f"name must be 1-{NAME_LENGTH_MAX} characters", field="name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey("key_" + secrets.token_hex(8), role, accounts, name, ledger.engine.now_us())
    ledger.store.insert_key({**key.to_dict(), "created_us": key.created_us, "revoked_us": None,
                             "token_hash": hash_token(token)})  # fmt: skip
    return key, token


def authenticate(ledger: Ledger, token: str) -> ApiKey | None:
    """The active key a token belongs to, or None."""
    return authenticate_all(ledger, (token,)).get(token)


def authenticate_all(ledger: Ledger, tokens: Iterable[str]) -> dict[str, ApiKey]:
    """The active keys of several tokens, by token, in one read (concurrent requests: bench/ANALYSIS.md)."""
    hashes = {token: hash_token(token) for token in tokens if token.startswith(TOKEN_PREFIX) and len(token) <= 200}
    if not hashes:
        return {}
    rows = {row["token_hash"]: row for row in ledger.store.keys_by_hashes(sorted(set(hashes.values())))}
    found = {token: rows.get(token_hash) for token, token_hash in hashes.items()}
    return {token: _key(row) for token, row in found.items() if row is not None and row["revoked_us"] is None}


def list_keys(ledger: Ledger) -> list[ApiKey]:
    return [_key(row) for row in ledger.store.keys()]  # noqa: SIM118 - a store method, not dict.keys()


def revoke_key(ledger: Ledger, id: str) -> bool:
    """Revoke a key; False if there is no such active key."""
    return ledger.store.revoke_key(id, ledger.engine.now_us())
