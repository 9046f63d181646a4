"""The `tally` command: operate a ledger from the shell.

The database comes from `--db URL`, else `TALLY_DATABASE_URL`, else the SQLite
file ./tally.sqlite3. Exit status: 0 success, 1 a business rejection, 2 invalid
input, 3 unavailable, 4 not found, 5 `verify` found a problem.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

import tally
from tally.core.codes import EXIT_STATUS, Code
from tally.core.errors import LedgerError

DEFAULT_URL = "sqlite:///tally.sqlite3"
VERIFY_FAILED_EXIT = 5

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Tally: a ledger for user balances.")
accounts_app = typer.Typer(no_args_is_help=True, help="Create and manage accounts.")
keys_app = typer.Typer(no_args_is_help=True, help="API keys for the HTTP API and the admin page.")
currencies_app = typer.Typer(no_args_is_help=True, help="Currencies outside ISO 4217.")
app.add_typer(accounts_app, name="accounts")
app.add_typer(keys_app, name="keys")
app.add_typer(currencies_app, name="currencies")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def database_url(ctx: typer.Context) -> str:
    url: str | None = ctx.obj.get("db") if ctx.obj else None
    return url or os.environ.get("TALLY_DATABASE_URL") or DEFAULT_URL


@app.callback()
def main_options(
    ctx: typer.Context,
    db: Annotated[
        str | None, typer.Option("--db", metavar="URL", help="Database URL (sqlite:///file or postgresql://…).")
    ] = None,
) -> None:
    ctx.obj = {"db": db}


@contextmanager
def opened(ctx: typer.Context) -> Iterator[tally.Ledger]:
    """The ledger, with every LedgerError turned into a message and an exit status."""
    try:
        ledger = tally.open(database_url(ctx))
    except LedgerError as error:
        fail(error)
    try:
        yield ledger
    except LedgerError as error:
        fail(error)
    finally:
        ledger.close()


def fail(error: LedgerError) -> NoReturn:
    err.print(f"[red]error[/red] {error.code}: {error.message}")
    known = error.code in {code.value for code in Code}
    raise typer.Exit(EXIT_STATUS[Code(error.code)] if known else 1)


def print_json(value: Any) -> None:
    out.print_json(json.dumps(value), highlight=False)


def print_record(title: str, record: dict[str, Any]) -> None:
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in record.items():
        shown = json.dumps(value) if isinstance(value, (dict, list)) else ("" if value is None else str(value))
        table.add_row(key, shown)
    out.print(table)


def show(as_json: bool, title: str, record: dict[str, Any]) -> None:
    print_json(record) if as_json else print_record(title, record)


def print_transfer(as_json: bool, transfer: tally.Transfer) -> None:
    show(as_json, f"transfer {transfer.id}", transfer.to_dict())


# --- accounts -----------------------------------------------------------------------


@accounts_app.command("create")
def accounts_create(
    ctx: typer.Context,
    id: Annotated[str, typer.Argument(help="Account id, e.g. user:42")],
    currency: Annotated[str, typer.Option(help="ISO 4217 code or a registered one.")],
    min_balance: Annotated[int, typer.Option(help="Lowest allowed available balance.")] = 0,
    no_min_balance: Annotated[bool, typer.Option("--no-min-balance", help="No lower bound (system accounts).")] = False,
    max_balance: Annotated[int | None, typer.Option(help="Highest allowed balance.")] = None,
    clearing_seconds: Annotated[int | None, typer.Option(help="Incoming money clears after this long.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an account."""
    with opened(ctx) as ledger:
        account = ledger.create_account(
            id,
            currency=currency,
            min_balance=None if no_min_balance else min_balance,
            max_balance=max_balance,
            clearing_seconds=clearing_seconds,
        )
        show(as_json, f"account {account.id}", account.to_dict())


def _account_action(name: str, action: Callable[[tally.Ledger, str, str | None], tally.Account]) -> None:
    @accounts_app.command(name)
    def command(
        ctx: typer.Context,
        id: Annotated[str, typer.Argument(help="Account id")],
        reason: Annotated[str | None, typer.Option(help="Why.")] = None,
        as_json: JsonOption = False,
    ) -> None:
        with opened(ctx) as ledger:
            account = action(ledger, id, reason)
            show(as_json, f"account {account.id}", account.to_dict())

    command.__doc__ = f"{name.capitalize()} an account."


_account_action("freeze", lambda ledger, id, reason: ledger.freeze(id, reason=reason))
_account_action("unfreeze", lambda ledger, id, reason: ledger.unfreeze(id, reason=reason))
_account_action("close", lambda ledger, id, reason: ledger.close_account(id, reason=reason))


@accounts_app.command("show")
def accounts_show(ctx: typer.Context, id: str, as_json: JsonOption = False) -> None:
    """Show an account with its balance."""
    with opened(ctx) as ledger:
        account = ledger.account(id)
        show(as_json, f"account {account.id}", account.to_dict())


@accounts_app.command("list")
def accounts_list(
    ctx: typer.Context,
    prefix: Annotated[str | None, typer.Option(help="Only ids starting with this.")] = None,
    limit: int = 100,
    as_json: JsonOption = False,
) -> None:
    """List accounts in id order."""
    with opened(ctx) as ledger:
        page = ledger.accounts(prefix, limit=limit)
        if as_json:
            print_json(page.to_dict())
            return
        table = Table("id", "currency", "status", "posted", "pending_in", "pending_out", "available")
        for a in page:
            table.add_row(
                a.id, a.currency, a.status, *(str(v) for v in (a.posted, a.pending_in, a.pending_out, a.available))
            )
        out.print(table)


# --- transfers ----------------------------------------------------------------------


@app.command("transfer")
def transfer(
    ctx: typer.Context,
    source: str,
    destination: str,
    amount: Annotated[str, typer.Argument(help="Amount in minor units (cents for USD).")],
    id: Annotated[str | None, typer.Option(help="Idempotency key; generated if omitted.")] = None,
    reason: Annotated[str | None, typer.Option(help="Why the money moves.")] = None,
    currency: Annotated[str | None, typer.Option(help="Assert the accounts' currency.")] = None,
    pending: Annotated[bool, typer.Option("--pending", help="Reserve now, post or void later.")] = False,
    expires_in: Annotated[int | None, typer.Option(help="Seconds until a pending transfer expires.")] = None,
    on_expiry: Annotated[str | None, typer.Option(help="void (default) or post, when it expires.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Move AMOUNT from SOURCE to DESTINATION."""
    with opened(ctx) as ledger:
        options: dict[str, Any] = {"id": id, "reason": reason, "currency": currency}
        if pending:
            options.update(pending=True, expires_in=expires_in, on_expiry=on_expiry)
        elif expires_in is not None or on_expiry is not None:
            raise tally.ValidationError("--expires-in and --on-expiry need --pending")
        result = ledger.transfer(source, destination, _amount(amount), **options)
        print_transfer(as_json, result)


def _amount(text: str) -> int:
    if not text.isdigit():
        raise tally.ValidationError(
            "amount must be a whole number of minor units (e.g. 1050 for $10.50)", field="amount"
        )
    return int(text)


@app.command("post")
def post(
    ctx: typer.Context,
    id: str,
    amount: Annotated[str | None, typer.Option(help="Post less than the hold; the rest is released.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Post (settle) a pending transfer."""
    with opened(ctx) as ledger:
        result = ledger.post(id, None if amount is None else _amount(amount))
        print_transfer(as_json, result)


@app.command("void")
def void(ctx: typer.Context, id: str, as_json: JsonOption = False) -> None:
    """Void (release) a pending transfer."""
    with opened(ctx) as ledger:
        result = ledger.void(id)
        print_transfer(as_json, result)


@app.command("reverse")
def reverse(
    ctx: typer.Context,
    transfer_id: str,
    id: Annotated[str | None, typer.Option(help="Id of the new transfer.")] = None,
    amount: Annotated[str | None, typer.Option(help="Default: all that remains.")] = None,
    reason: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOption = False,
) -> None:
    """Give back a posted transfer, all of it or AMOUNT, as a new transfer."""
    with opened(ctx) as ledger:
        result = ledger.reverse(transfer_id, id=id, amount=None if amount is None else _amount(amount), reason=reason)
        print_transfer(as_json, result)


@app.command("show-transfer")
def show_transfer(ctx: typer.Context, id: str, as_json: JsonOption = False) -> None:
    """Show one transfer as it is now."""
    with opened(ctx) as ledger:
        result = ledger.get_transfer(id)
        print_transfer(as_json, result)


@app.command("balance")
def balance(
    ctx: typer.Context,
    id: str,
    as_of: Annotated[str | None, typer.Option(help="A seq or an RFC 3339 time.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Show an account's balance (now, or the posted balance as of a point)."""
    with opened(ctx) as ledger:
        result = ledger.balance(id) if as_of is None else ledger.balance(id, as_of=as_of)
        show(as_json, f"balance of {id}", result.to_dict())


@app.command("history")
def history(
    ctx: typer.Context,
    id: str,
    limit: int = 100,
    after: Annotated[str | None, typer.Option(help="Cursor from a previous page.")] = None,
    order: Annotated[str, typer.Option(help="asc or desc")] = "asc",
    as_json: JsonOption = False,
) -> None:
    """Show an account's statement: every posted movement with the balance after it."""
    with opened(ctx) as ledger:
        page = ledger.entries(id, after=after, limit=limit, order=order)
        if as_json:
            print_json(page.to_dict())
            return
        table = Table("seq", "time", "transfer", "amount", "balance after", "reason", title=f"history of {id}")
        for e in page:
            table.add_row(str(e.seq), e.created_at.strftime("%Y-%m-%d %H:%M:%S"), e.transfer_id, f"{e.amount:+d}",
                          str(e.balance_after), e.reason or "")  # fmt: skip
        out.print(table)
        if page.next:
            out.print(f"more: --after {page.next}")


@app.command("verify")
def verify(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Recompute every balance from the journal; check the invariants and the audit chain."""
    with opened(ctx) as ledger:
        report = ledger.verify()
    if as_json:
        print_json(report.to_dict())
    elif report.ok:
        out.print(f"ok: {report.events} events, {report.accounts} accounts, {report.transfers} transfers, "
                  f"{report.entries} entries; head seq {report.head_seq}")  # fmt: skip
    else:
        where = (
            f"first bad seq {report.first_bad_seq}"
            if report.first_bad_seq is not None
            else "the journal holds; a table derived from it was changed"
        )
        err.print(f"[red]verify failed[/red]: {where}")
        for problem in report.problems:
            err.print(f"  {problem}")
    if not report.ok:
        raise typer.Exit(VERIFY_FAILED_EXIT)


@app.command("expire")
def expire(ctx: typer.Context) -> None:
    """Expire the holds whose time has come (`tally serve` does this by itself)."""
    with opened(ctx) as ledger:
        ledger.expire_due()


@app.command("migrate")
def migrate(ctx: typer.Context) -> None:
    """Create or upgrade the schema (opening the ledger does it too)."""
    from tally.store.schema import SCHEMA_REVISION

    with opened(ctx) as ledger:
        out.print(f"schema up to date (revision {SCHEMA_REVISION}) at {ledger.store.url.split('@')[-1]}")


@currencies_app.command("register")
def currencies_register(ctx: typer.Context, code: str, scale: int, as_json: JsonOption = False) -> None:
    """Register a currency outside ISO 4217 (e.g. POINTS with scale 0)."""
    with opened(ctx) as ledger:
        show(as_json, f"currency {code}", ledger.register_currency(code, scale).to_dict())


# --- keys -------------------------------------------------------------------------------


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    role: Annotated[str, typer.Option(help="admin, staff, writer or reader")],
    accounts: Annotated[str | None, typer.Option(help="Limit the key to account ids starting with this.")] = None,
    name: Annotated[str | None, typer.Option(help="Who or what holds the key.")] = None,
) -> None:
    """Create an API key; its token is printed once, alone, as the last line."""
    from tally.keys import create_key

    with opened(ctx) as ledger:
        key, token = create_key(ledger, role, accounts, name)
    err.print(f"created key {key.id} (role {key.role}{', accounts ' + key.accounts if key.accounts else ''})")
    sys.stdout.write(token + "\n")


@keys_app.command("list")
def keys_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List API keys (never their tokens)."""
    from tally.keys import list_keys

    with opened(ctx) as ledger:
        keys = list_keys(ledger)
    if as_json:
        print_json([k.to_dict() for k in keys])
        return
    table = Table("id", "role", "accounts", "name", "created", "revoked")
    for k in keys:
        d = k.to_dict()
        table.add_row(k.id, k.role, k.accounts or "", k.name or "", d["created_at"], d["revoked_at"] or "")
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, id: str) -> None:
    """Revoke an API key."""
    from tally.keys import revoke_key

    with opened(ctx) as ledger:
        if not revoke_key(ledger, id):
            err.print(f"[red]error[/red] not_found: no active key {id}")
            raise typer.Exit(4)
    out.print(f"revoked {id}")


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Run the HTTP API until stopped (SIGINT/SIGTERM finish in-flight requests, then exit 0)."""
    from tally.http.serve import serve as run_server
    from tally.settings import Settings

    try:
        run_server(Settings.from_env(database_url=database_url(ctx), host=host, port=port))
    except LedgerError as error:
        fail(error)


@app.command("demo")
def demo(ctx: typer.Context) -> None:
    """Run a worked example (a top-up, a purchase with a hold, a refund) and show the books."""
    from tally.demo import run_demo

    with opened(ctx) as ledger:
        run_demo(ledger, out)


def main() -> None:
    app()
