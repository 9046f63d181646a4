"""Rendering: Jinja2 templates, the session cookie, and the headers every page carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from tally.admin.auth import CSRF_FIELD, Session, Sessions
from tally.keys import ApiKey

# The pages load only their own script and stylesheet, and no other site may
# frame them or receive their forms.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Balances and statements must not linger in shared caches or the back-forward cache.
    "Cache-Control": "no-store",
}


def account_url(account_id: str, action: str = "") -> str:
    return f"/admin/accounts/{quote(account_id, safe=':@')}" + (f"/{action}" if action else "")


def transfer_url(transfer_id: str, action: str = "") -> str:
    return f"/admin/transfers/{quote(transfer_id, safe=':@')}" + (f"/{action}" if action else "")


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("tally.admin", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(account_url=account_url, transfer_url=transfer_url, csrf_field=CSRF_FIELD)
    return env


@dataclass(slots=True)
class Visit:
    """One request's session (loaded or new) and the key signed in, if any."""

    request: Request
    session: Session
    key: ApiKey | None
    changed: bool  # the cookie must be written back


class Renderer:
    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self.env = _environment()

    def page(
        self, visit: Visit, template: str, status: int = 200, *, url: str | None = None, **context: Any
    ) -> Response:
        """The page; `url` is where it lives, for a page that answers a POST (a form shown again)."""
        notice = visit.session.notice
        if notice is not None:  # shown once
            visit.session = Session(visit.session.csrf, visit.session.key_id, visit.session.since)
            visit.changed = True
        html = self.env.get_template(template).render(
            key=visit.key, csrf=visit.session.csrf, notice=notice, path=visit.request.url.path, **context
        )
        response = HTMLResponse(html, status_code=status)
        if visit.request.method == "POST":
            # htmx would put the POST's URL in the address bar, and reloading it would fail.
            response.headers["HX-Push-Url"] = url or "false"
        return self.finish(visit, response)

    def redirect(self, visit: Visit, url: str) -> Response:
        return self.finish(visit, RedirectResponse(url, status_code=303))

    def finish(self, visit: Visit, response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        if visit.changed:
            self.sessions.save(visit.request, response, visit.session)
        return response
