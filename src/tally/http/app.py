"""`create_app(settings)`: the HTTP API of API.md sections 5 and 6, over one `tally.Ledger`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

import tally
from tally.admin import mount_admin
from tally.http import accounts, system, transfers
from tally.http.auth import RateLimiter
from tally.http.body import BodyLimitMiddleware
from tally.http.metrics import Metrics
from tally.http.observe import RequestContextMiddleware
from tally.http.openapi import install_openapi
from tally.http.problems import install_handlers
from tally.http.service import Service, known_query
from tally.ledger import Ledger
from tally.settings import Settings

DESCRIPTION = """A ledger for user balances. Every request but `GET /v1/health` carries
`Authorization: Bearer TOKEN`. Every error is `application/problem+json` with a stable `code`."""


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
        dependencies=[Depends(known_query)],
    )
    metrics = Metrics()
    limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    app.state.tally = Service(opened, settings, metrics, limiter)
    install_handlers(app)
    for module in (accounts, transfers, system):
        app.include_router(module.router)
    mount_admin(app, opened, settings)
    install_openapi(app)
    # Added last, so outermost: every answer (413s included) carries a request id.
    app.add_middleware(BodyLimitMiddleware, limit=settings.body_bytes_max)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app
