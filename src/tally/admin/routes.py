"""The /admin routes: sign in, find an account, read it, act on it.

Handlers are plain `def`s: the ledger blocks (a write waits for its commit), so
FastAPI runs them in its thread pool, off the event loop. Every POST carries
the session's CSRF token; one without it, or with another, is refused with 403
before anything is read from the ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Query
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import Response

from tally.admin import actions, views
from tally.admin.actions import AdjustForm
from tally.admin.auth import Session, Sessions, SignOuts, csrf_ok, current_key, sign_in, signed_in, with_notice
from tally.admin.money import format_money
from tally.admin.pages import Renderer, Visit, account_url, transfer_url
from tally.admin.words import in_words
from tally.core.account import Account
from tally.core.errors import AccountNotFound, LedgerError, TransferNotFound, ValidationError
from tally.core.transfer import Transfer
from tally.ledger import Ledger
from tally.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"
FormText = Annotated[str, Form(max_length=2000)]


class NotVisible(Exception):
    """An account or transfer that does not exist, or is outside the key's scope."""


class Admin:
    def __init__(self, ledger: Ledger, settings: Settings) -> None:
        secret = settings.session_secret or settings.resolved().session_secret
        assert secret, "Settings.resolved() always provides a session secret"
        self.ledger = ledger
        self.adjustments = settings.adjustments_account
        self.sessions = Sessions(secret)
        self.signed_out = SignOuts()
        self.render = Renderer(self.sessions)

    # --- the request's session and key ----------------------------------------------
    def visit(self, request: Request) -> Visit:
        session = self.sessions.load(request)
        if session is None:
            return Visit(request, Session.new(), None, changed=True)
        return Visit(request, session, current_key(self.ledger, session, self.signed_out), changed=False)

    def guard(self, request: Request, csrf_token: str | None = None) -> Visit | Response:
        """The signed-in visit, or the response that refuses it (403 for a bad CSRF token)."""
        visit = self.visit(request)
        if csrf_token is not None and not csrf_ok(None if visit.changed else visit.session, csrf_token):
            return self.forbidden(visit)
        if visit.key is None:
            return self.render.redirect(visit, "/admin/login")
        return visit

    def forbidden(self, visit: Visit) -> Response:
        message = "This form did not come from this admin session (or the session ended). Reload the page."
        return self.render.page(visit, "error.html", 403, title="Refused", message=message)

    def not_found(self, visit: Visit, what: str) -> Response:
        return self.render.page(visit, "error.html", 404, title="Not found", message=f"There is no {what}.")

    def account(self, visit: Visit, account_id: str) -> Account:
        assert visit.key is not None
        try:
            account = self.ledger.account(account_id)
        except (AccountNotFound, ValidationError):  # a malformed id names no account either
            raise NotVisible(f"account {account_id}") from None
        if not visit.key.in_scope(account.id):
            raise NotVisible(f"account {account_id}")
        return account

    def transfer(self, visit: Visit, transfer_id: str) -> Transfer:
        assert visit.key is not None
        try:
            transfer = self.ledger.get_transfer(transfer_id)
        except (TransferNotFound, ValidationError):
            raise NotVisible(f"transfer {transfer_id}") from None
        if not (visit.key.in_scope(transfer.source) or visit.key.in_scope(transfer.destination)):
            raise NotVisible(f"transfer {transfer_id}")
        return transfer

    # --- pages --------------------------------------------------------------------------
    def account_page(
        self,
        visit: Visit,
        account: Account,
        *,
        after: str | None = None,
        status: int = 200,
        adjust_form: AdjustForm | None = None,
        adjust_error: str | None = None,
        page_error: str | None = None,
    ) -> Response:
        try:
            lines, older = views.statement(self.ledger, account, after)
        except LedgerError:  # a cursor that was not ours: show the newest page
            lines, older = views.statement(self.ledger, account, None)
            after = None
        return self.render.page(
            visit,
            "account.html",
            status,
            url=account_url(account.id),
            account=account,
            balances=views.balances(account),
            limits=views.limits(account),
            metadata=views.metadata_text(account.metadata),
            lines=lines,
            older=older,
            first_page=after is None,
            holds=views.holds(self.ledger, account),
            adjust=adjust_form or AdjustForm.blank(),
            adjust_error=adjust_error,
            page_error=page_error,
        )

    def transfer_page(
        self,
        visit: Visit,
        transfer: Transfer,
        account: Account,
        *,
        status: int = 200,
        typed: dict[str, str] | None = None,
        error: str | None = None,
    ) -> Response:
        # Always a fresh id: a rejected reversal is recorded and keeps its id for good.
        reverse_form = {"amount": "", "reason": "", **(typed or {}), "id": actions.new_form_id("rev")}
        return self.render.page(
            visit,
            "transfer.html",
            status,
            url=f"{transfer_url(transfer.id)}?account={quote(account.id, safe='')}",
            transfer=transfer,
            account=account,
            amount=format_money(transfer.amount, account.currency, account.scale),
            metadata=views.metadata_text(transfer.metadata),
            created_at=views.when(transfer.created_us),
            expires_at=views.when(transfer.expires_us),
            remaining=format_money(views.remaining(transfer), account.currency, account.scale),
            reversible=transfer.status == "posted" and views.remaining(transfer) > 0,
            form=reverse_form,
            error=error,
        )


def mount_admin(app: FastAPI, ledger: Ledger, settings: Settings) -> None:
    """Serve the admin page at /admin, over `ledger`, with its static files."""
    admin = Admin(ledger, settings)
    app.mount("/admin/static", StaticFiles(directory=STATIC_DIR), name="admin-static")
    router = APIRouter(prefix="/admin", include_in_schema=False)
    _session_routes(router, admin)
    _account_routes(router, admin)
    _transfer_routes(router, admin)
    app.include_router(router)


def _session_routes(router: APIRouter, admin: Admin) -> None:
    @router.get("")
    @router.get("/")
    def home(request: Request) -> Response:
        visit = admin.visit(request)
        return admin.render.redirect(visit, "/admin/accounts" if visit.key else "/admin/login")

    @router.get("/login")
    def login_page(request: Request) -> Response:
        visit = admin.visit(request)
        if visit.key is not None:
            return admin.render.redirect(visit, "/admin/accounts")
        return admin.render.page(visit, "login.html", error=None)

    @router.post("/login")
    def login(request: Request, csrf_token: FormText = "", token: FormText = "") -> Response:
        visit = admin.visit(request)
        if not csrf_ok(None if visit.changed else visit.session, csrf_token):
            return admin.forbidden(visit)
        key, error = sign_in(admin.ledger, token)
        if key is None:
            return admin.render.page(visit, "login.html", 403, url="/admin/login", error=error)
        visit.session = with_notice(signed_in(visit.session, key), f"Signed in as {key.name or key.id} ({key.role}).")
        visit.changed = True
        return admin.render.redirect(visit, "/admin/accounts")

    @router.post("/logout")
    def logout(request: Request, csrf_token: FormText = "") -> Response:
        visit = admin.visit(request)
        if not csrf_ok(None if visit.changed else visit.session, csrf_token):
            return admin.forbidden(visit)
        admin.signed_out.add(visit.session)
        visit.session = with_notice(Session.new(), "Signed out.")
        visit.key, visit.changed = None, True
        return admin.render.redirect(visit, "/admin/login")


def _account_routes(router: APIRouter, admin: Admin) -> None:
    @router.get("/accounts")
    def search(
        request: Request,
        q: Annotated[str, Query(max_length=128)] = "",
        after: Annotated[str | None, Query(max_length=128)] = None,
    ) -> Response:
        visit = admin.guard(request)
        if isinstance(visit, Response):
            return visit
        assert visit.key is not None
        found, more, error = views.search(admin.ledger, visit.key, q.strip(), after)
        partial = request.headers.get("hx-target") == "results"
        template = "_results.html" if partial else "accounts.html"
        return admin.render.page(visit, template, q=q.strip(), found=found, more=more, error=error)

    @router.get("/accounts/{account_id}")
    def account(
        request: Request, account_id: str, after: Annotated[str | None, Query(max_length=32)] = None
    ) -> Response:
        visit = admin.guard(request)
        if isinstance(visit, Response):
            return visit
        try:
            return admin.account_page(visit, admin.account(visit, account_id), after=after)
        except NotVisible as missing:
            return admin.not_found(visit, str(missing))

    @router.post("/accounts/{account_id}/adjust")
    def adjust(
        request: Request,
        account_id: str,
        csrf_token: FormText = "",
        id: FormText = "",  # the form field is the transfer id
        direction: FormText = "",
        amount: FormText = "",
        reason: FormText = "",
    ) -> Response:
        visit = admin.guard(request, csrf_token)
        if isinstance(visit, Response):
            return visit
        assert visit.key is not None
        form = AdjustForm(id, direction, amount, reason)
        try:
            target = admin.account(visit, account_id)
        except NotVisible as missing:
            return admin.not_found(visit, str(missing))
        try:
            transfer = actions.adjust(admin.ledger, target, form, visit.key, admin.adjustments)
        except LedgerError as error:
            # A fresh id: a recorded rejection keeps its id for good, so a corrected
            # form must be a new request.
            refilled = AdjustForm(actions.new_form_id("adj"), direction, amount, reason)
            status = 422 if error.code == "validation_error" else 409
            now = admin.account(visit, account_id)
            words = in_words(error)
            if error.code == "insufficient_funds" and direction == "debit":
                words += f" {now.id} has {format_money(now.available, now.currency, now.scale)} available."
            return admin.account_page(visit, now, status=status, adjust_form=refilled, adjust_error=words)
        shown = format_money(transfer.amount, target.currency, target.scale)
        verb = "Credited" if form.direction == "credit" else "Debited"
        notify(visit, f"{verb} {shown} ({transfer.id}).")
        return admin.render.redirect(visit, account_url(target.id))

    for action in ("freeze", "unfreeze"):
        _status_route(router, admin, action)


def _status_route(router: APIRouter, admin: Admin, action: str) -> None:
    @router.post(f"/accounts/{{account_id}}/{action}", name=f"admin_{action}")
    def change_status(request: Request, account_id: str, csrf_token: FormText = "", reason: FormText = "") -> Response:
        visit = admin.guard(request, csrf_token)
        if isinstance(visit, Response):
            return visit
        try:
            target = admin.account(visit, account_id)
        except NotVisible as missing:
            return admin.not_found(visit, str(missing))
        change = admin.ledger.freeze if action == "freeze" else admin.ledger.unfreeze
        done = "Frozen" if action == "freeze" else "Unfrozen"
        return _act(admin, visit, target.id, lambda: change(target.id, reason=reason.strip() or None),
                    f"{done}: {target.id}.")  # fmt: skip


def _transfer_routes(router: APIRouter, admin: Admin) -> None:
    @router.get("/transfers/{transfer_id}")
    def transfer(request: Request, transfer_id: str, account: Annotated[str, Query(max_length=128)] = "") -> Response:
        visit = admin.guard(request)
        if isinstance(visit, Response):
            return visit
        try:
            found = admin.transfer(visit, transfer_id)
            return admin.transfer_page(visit, found, admin.account(visit, _side(visit, found, account)))
        except NotVisible as missing:
            return admin.not_found(visit, str(missing))

    @router.post("/transfers/{transfer_id}/reverse")
    def reverse(
        request: Request,
        transfer_id: str,
        csrf_token: FormText = "",
        account: FormText = "",
        id: FormText = "",  # the form field is the new transfer's id
        amount: FormText = "",
        reason: FormText = "",
    ) -> Response:
        visit = admin.guard(request, csrf_token)
        if isinstance(visit, Response):
            return visit
        assert visit.key is not None
        try:
            original = admin.transfer(visit, transfer_id)
            side = admin.account(visit, _side(visit, original, account))
        except NotVisible as missing:
            return admin.not_found(visit, str(missing))
        form = {"id": id, "amount": amount, "reason": reason}
        try:
            made = actions.reverse(admin.ledger, original, form, visit.key, side)
        except LedgerError as error:
            status = 422 if error.code == "validation_error" else 409
            typed = {"amount": amount, "reason": reason}
            again = admin.transfer(visit, transfer_id)
            return admin.transfer_page(visit, again, side, status=status, typed=typed, error=in_words(error))
        shown = format_money(made.amount, side.currency, side.scale)
        notify(visit, f"Reversed {shown} of {original.id} ({made.id}).")
        return admin.render.redirect(visit, account_url(side.id))

    for action in ("post", "void"):
        _hold_route(router, admin, action)


def _hold_route(router: APIRouter, admin: Admin, action: str) -> None:
    @router.post(f"/transfers/{{transfer_id}}/{action}", name=f"admin_{action}")
    def resolve(request: Request, transfer_id: str, csrf_token: FormText = "", account: FormText = "") -> Response:
        visit = admin.guard(request, csrf_token)
        if isinstance(visit, Response):
            return visit
        try:
            hold = admin.transfer(visit, transfer_id)
            side = admin.account(visit, _side(visit, hold, account))
        except NotVisible as missing:
            return admin.not_found(visit, str(missing))
        resolve = admin.ledger.post if action == "post" else admin.ledger.void
        shown = format_money(hold.amount, side.currency, side.scale)
        done = "Posted" if action == "post" else "Voided"
        return _act(admin, visit, side.id, lambda: resolve(hold.id), f"{done} the hold {hold.id} of {shown}.")


def _act(admin: Admin, visit: Visit, account_id: str, act: Callable[[], object], done: str) -> Response:
    """Do a one-click action on an account's page: on refusal the page again with the reason in
    words (409), on success a notice and back to the account."""
    try:
        act()
    except LedgerError as error:
        return admin.account_page(visit, admin.account(visit, account_id), status=409, page_error=in_words(error))
    notify(visit, done)
    return admin.render.redirect(visit, account_url(account_id))


def notify(visit: Visit, text: str) -> None:
    """Say `text` once, on the page the redirect leads to."""
    visit.session, visit.changed = with_notice(visit.session, text), True


def _side(visit: Visit, transfer: Transfer, wanted: str) -> str:
    """The account whose page an action on `transfer` returns to: the one asked for, if it is a party."""
    assert visit.key is not None
    if wanted in (transfer.source, transfer.destination) and visit.key.in_scope(wanted):
        return wanted
    return transfer.source if visit.key.in_scope(transfer.source) else transfer.destination
