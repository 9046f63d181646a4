"""`make run`: serve the API on ./tally.sqlite3 and print the URL and an admin token.

The token is made on the first run and kept in ./.tally/admin-token (readable by
its owner only), so running again reuses it instead of making another key.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import tally
from tally.http.serve import serve
from tally.keys import authenticate, create_key
from tally.ledger import Ledger
from tally.settings import Settings

DATABASE_URL = "sqlite:///tally.sqlite3"
TOKEN_FILE = "admin-token"


def admin_token(ledger: Ledger, path: Path) -> str:
    """The stored admin token if it still works, else a new admin key's token (then stored)."""
    if path.exists():
        token = path.read_text().strip()
        if token and authenticate(ledger, token) is not None:
            return token
    _, token = create_key(ledger, "admin", name="make run")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(token + "\n")
    return token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    settings = Settings(database_url=DATABASE_URL, host=args.host, port=args.port)
    ledger = tally.open(settings.database_url)
    token = admin_token(ledger, Path(settings.state_dir) / TOKEN_FILE)
    url = f"http://{args.host}:{args.port}"
    print(f"Tally is serving {url}  (API docs: {url}/docs)", flush=True)
    print(f"admin token (kept in {Path(settings.state_dir) / TOKEN_FILE}):", flush=True)
    print(token, flush=True)
    serve(settings, ledger)


if __name__ == "__main__":
    main()
