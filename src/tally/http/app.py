"""`create_app(settings)`: the HTTP API of API.md sections 5 and 6, over one `tally.Ledger`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import tally
from tally.admin import mount_admin
from tally.http import accounts, system, transfers
from tally.http.auth import RateLimiter
from tally.http.body import BodyLimitMiddleware
from tally.http.metrics import Metrics
from tally.http.observe import RequestContextMiddleware
from tally.http.openapi import install_openapi
from tally.http.problems import install_handlers
from tally.http.service import Service
from tally.ledger import Ledger
from tally.settings import Settings

DESCRIPTION = """A ledger for user balances. Every request but `GET /v1/health` carries
`Authorization: Bearer TOKEN`. Every error is `application/problem+json` (RFC 9457) with a
stable `code`, and `field` for a validation error.

Where the contract leaves a choice, this service:

- answers a dry run (`?dry_run=true`) with 200: nothing was created;
- answers 201 to the first copy of a create (account, transfer, reversal, currency) and 200 to
  replays; a recorded rejection replays as the same problem, with the transfer in `transfer`;
- refuses unknown body fields, unknown query parameters, duplicate JSON keys, NaN/Infinity and
  integers written as floats (`1.0`, `1e2`): 422 `validation_error` naming the field;
- limits a key made with `accounts=PREFIX` to accounts starting with PREFIX, as the contract
  says, and also keeps it from loosening its own limits: it may not open an account with a
  negative or absent `min_balance`, change `min_balance` or `clearing_seconds`, lift a freeze, or
  post or void a hold whose source is outside its scope (403 `forbidden` or 404);
- keeps keys, currencies and the audit head for admin keys without an account scope;
- lists keys as `{"keys": [...]}`; `GET /v1/accounts?prefix=` lists accounts (an extension);
- `/metrics` serves Prometheus metrics; `X-Request-Id` is echoed (or made) on every answer."""


def create_app(settings: Settings, ledger: Ledger | None = None) -> FastAPI:
    """The app, serving `ledger` (or one it opens at `settings.database_url` and closes on shutdown)."""
    settings = settings.resolved()
    owned = ledger is None
    opened = ledger if ledger is not None else tally.open(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if owned:
                opened.close()

    app = FastAPI(
        title="Tally",
        version=tally.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    metrics = Metrics()
    limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    app.state.tally = Service(opened, settings, metrics, limiter)
    install_handlers(app)
    for module in (accounts, transfers, system):
        app.include_router(module.router)
    # First: the plain forms of the hottest requests, before the documented routes.
    app.router.routes.insert(0, transfers.PlainTransferRoute())
    app.router.routes.insert(1, accounts.PlainBalanceRoute())
    app.router.routes.insert(2, transfers.PlainResolveRoute("post"))
    app.router.routes.insert(3, transfers.PlainResolveRoute("void"))
    mount_admin(app, opened, settings)
    # Only exact paths exist: `/v1/accounts/` is 404, not a redirect a POST would not follow.
    app.router.redirect_slashes = False
    install_openapi(app)
    # Added last, so outermost: every answer (413s included) carries a request id.
    app.add_middleware(BodyLimitMiddleware, limit=settings.body_bytes_max)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app
