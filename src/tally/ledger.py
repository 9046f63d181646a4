"""The public Python API: `tally.open(url)` returns a `Ledger`."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, overload

from tally.core import commands as cmd
from tally.core.account import Account, Balance, BalanceAsOf
from tally.core.clock import from_datetime, parse_rfc3339
from tally.core.commands import Command
from tally.core.currency import Currency, check_currency_code
from tally.core.errors import (
    AccountNotFound,
    LedgerError,
    TransferNotFound,
    ValidationError,
    error_for,
)
from tally.core.limits import BALANCE_MAX as SEQ_MAX
from tally.core.limits import EVENTS_WAIT_SECONDS_MAX, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, WRITE_RETRY_SECONDS_MAX
from tally.core.text import check_id
from tally.core.transfer import Transfer
from tally.currencies import iso_scale
from tally.engine import Clock, Engine, Written
from tally.ids import new_id
from tally.pages import AccountPage, EntryPage, EventPage, TransferPage
from tally.store import Store, open_store
from tally.verify import VerifyReport, verify

_TRANSFER_KEYWORDS = frozenset(
    {"source", "destination", "amount", "id", "currency", "reason", "metadata", "pending", "expires_in", "on_expiry"}
)
_REQUIRED = frozenset({"source", "destination", "amount"})


def open(
    url: str = "sqlite:///tally.sqlite3",
    *,
    clock: Clock | None = None,
    write_timeout: float = WRITE_RETRY_SECONDS_MAX,
) -> Ledger:
    """Open (creating or migrating if needed) the ledger stored at `url`.

    `clock` returns the current time in seconds since the epoch (tests pass a
    controllable one to make holds expire). `write_timeout` bounds how long a
    write waits for the database's locks, retries included, before it raises
    `Unavailable` (nothing written; the same id may be sent again).
    """
    if isinstance(write_timeout, bool) or not isinstance(write_timeout, (int, float)) or not write_timeout > 0:
        raise ValidationError("write_timeout must be a positive number of seconds", field="write_timeout")
    store = open_store(url, write_timeout=write_timeout)
    return Ledger(store, clock=clock or time.time, write_timeout=write_timeout)


def _limit(value: Any) -> int:
    if type(value) is not int or not 1 <= value <= PAGE_SIZE_MAX:
        raise ValidationError(f"limit must be an integer from 1 to {PAGE_SIZE_MAX}", field="limit")
    return value


def _cursor(value: Any) -> int | None:
    if value is None:
        return None
    # isdigit() alone admits "²", which int() refuses: ASCII digits only.
    if type(value) is str and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    # A seq is a signed 64-bit integer in both stores: a larger one cannot be a cursor.
    if type(value) is int and 0 <= value <= SEQ_MAX:
        return value
    raise ValidationError("after must be a cursor from a previous page", field="after")


class Ledger:
    """A ledger: accounts, transfers, and the journal they derive from.

    Thread-safe: share one `Ledger` between the threads of a process. Several
    processes may open the same database at once.
    """

    def __init__(
        self, store: Store, *, clock: Clock = time.time, write_timeout: float = WRITE_RETRY_SECONDS_MAX
    ) -> None:
        self.store = store
        self.engine = Engine(store, clock, write_timeout)

    # --- lifecycle ---------------------------------------------------------------
    def close(self) -> None:
        self.engine.close()
        self.store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, command: Command, *, dry_run: bool = False) -> Any:
        return self.write(command, dry_run=dry_run).result

    def write(self, command: Command, *, dry_run: bool = False) -> Written:
        """Run one command of `tally.core.commands`; say whether it recorded anything.

        For services that must tell a first request from a replay (HTTP's 201
        and 200): `created` is decided by the journal, so it holds across
        processes. Raises what the named methods raise: a refusal, or a new
        transfer or reversal that was rejected (recorded, and on `.transfer`).
        """
        return _answered(self.engine.submit(command, dry_run=dry_run))

    def write_all(self, commands: Sequence[Command]) -> list[Written | Exception]:
        """`write` for several callers' commands at once, from one thread.

        Each command is answered on its own, in its place: its `Written`, or
        the exception `write` would raise for it. They commit as concurrent
        `write` calls would, in groups, with the waiting done once per group.
        """
        answers: list[Written | Exception] = []
        for answer in self.engine.submit_all(commands):
            if isinstance(answer, Exception):
                answers.append(answer)
                continue
            try:
                answers.append(_answered(answer))
            except LedgerError as error:
                answers.append(error)
        return answers

    # --- currencies ---------------------------------------------------------------
    def register_currency(self, code: str, scale: int) -> Currency:
        """Register a currency that is not in ISO 4217 (points, credits …)."""
        command = cmd.register_currency(code, scale)
        if iso_scale(command.code) is not None:
            if iso_scale(command.code) != command.scale:
                raise error_for("id_conflict", f"{command.code} is ISO 4217 with scale {iso_scale(command.code)}")
            return Currency(command.code, command.scale)
        result: Currency = self._write(command)
        return result

    def currency(self, code: str) -> Currency:
        check_currency_code(code)
        scale = iso_scale(code)
        if scale is None:
            scale = self.store.currencies().get(code)
        if scale is None:
            raise error_for("unknown_currency", f"unknown currency {code}", field="currency")
        return Currency(code, scale)

    # --- accounts -------------------------------------------------------------------
    def create_account(
        self,
        id: str,
        *,
        currency: str,
        min_balance: int | None = 0,
        max_balance: int | None = None,
        clearing_seconds: int | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Account:
        """Open an account. The same call again returns it; other fields: `IdConflict`."""
        command = cmd.open_account(id, currency, min_balance, max_balance, clearing_seconds, metadata)
        account: Account = self._write(command)
        return account

    def account(self, id: str) -> Account:
        check_id(id)
        account, due = self.store.account_due(id, self.engine.now_us())
        if due:
            self.engine.expire(due)
            account = self.store.account(id)
        if account is None:
            raise AccountNotFound(f"no account {id}")
        return account

    def accounts(
        self, prefix: str | None = None, *, after: str | None = None, limit: int = PAGE_SIZE_DEFAULT
    ) -> AccountPage:
        """Accounts in id order, optionally those whose id starts with `prefix`."""
        if prefix is not None and (type(prefix) is not str or len(prefix) > 128):
            raise ValidationError("prefix must be a string of at most 128 characters", field="prefix")
        if after is not None:
            check_id(after, "after")
        limit = _limit(limit)
        self._expire_before_a_wide_read()
        rows = self.store.accounts(prefix, after, limit + 1)
        page = rows[:limit]
        return AccountPage(tuple(page), page[-1].id if len(rows) > limit else None)

    def update_account(self, id: str, **changes: Any) -> Account:
        """Change `min_balance`, `max_balance`, `clearing_seconds` or `metadata`; never retroactive."""
        account: Account = self._write(cmd.update_account(id, changes))
        return account

    def freeze(self, id: str, *, reason: str | None = None) -> Account:
        account: Account = self._write(cmd.set_account_status(id, "freeze", reason))
        return account

    def unfreeze(self, id: str, *, reason: str | None = None) -> Account:
        account: Account = self._write(cmd.set_account_status(id, "unfreeze", reason))
        return account

    def close_account(self, id: str, *, reason: str | None = None) -> Account:
        """Close an account for good: it needs zero balances and nothing pending."""
        account: Account = self._write(cmd.set_account_status(id, "close", reason))
        return account

    # --- balances and history ------------------------------------------------------
    @overload
    def balance(self, id: str) -> Balance: ...
    @overload
    def balance(self, id: str, as_of: int | str | datetime) -> BalanceAsOf: ...
    def balance(self, id: str, as_of: int | str | datetime | None = None) -> Balance | BalanceAsOf:
        """The balance now, or the posted balance as of a seq or a time."""
        account = self.account(id)
        if as_of is None:
            return account.balance
        seq = self._as_of_seq(as_of)
        return BalanceAsOf(self.store.posted_as_of(id, seq), seq)

    def _as_of_seq(self, as_of: int | str | datetime) -> int:
        head = self.store.head().seq
        if isinstance(as_of, datetime):
            return self.store.seq_at(from_datetime(as_of))
        if type(as_of) is int or (type(as_of) is str and as_of.isascii() and as_of.isdigit()):
            seq = int(as_of)
            if not 0 <= seq <= head:
                raise ValidationError(f"as_of must be a seq from 0 to {head}, or a time", field="as_of")
            return seq
        return self.store.seq_at(parse_rfc3339(as_of))

    def entries(
        self, id: str, *, after: str | int | None = None, limit: int = PAGE_SIZE_DEFAULT, order: str = "asc"
    ) -> EntryPage:
        """The account's statement: one entry per posted movement, with `balance_after`."""
        self.account(id)
        if order not in ("asc", "desc"):
            raise ValidationError('order must be "asc" or "desc"', field="order")
        limit = _limit(limit)
        rows = self.store.entries(id, _cursor(after), limit + 1, order == "desc")
        page = rows[:limit]
        return EntryPage(tuple(page), str(page[-1].seq) if len(rows) > limit else None)

    # --- transfers ----------------------------------------------------------------------
    @overload
    def transfer(self, id: str, /) -> Transfer: ...
    @overload
    def transfer(self, source: str, destination: str, amount: int, **options: Any) -> Transfer: ...
    def transfer(self, *args: Any, dry_run: bool = False, **options: Any) -> Transfer:
        """Move `amount` from `source` to `destination`, or read a transfer by id.

        `ledger.transfer(source, destination, amount, id=…, reason=…, pending=…)`
        returns the transfer (`posted` or `pending`) and raises the rejection's
        `LedgerError` (which is recorded, and carries `.transfer`).
        `ledger.transfer(id)` returns the transfer with that id as it is now.
        """
        if len(args) == 1 and not options:
            return self.get_transfer(args[0])
        command = self._transfer_command(args, options)
        transfer: Transfer = self._write(command, dry_run=dry_run)
        return transfer

    def _transfer_command(self, args: tuple[Any, ...], options: dict[str, Any]) -> cmd.CreateTransfer:
        names = ("source", "destination", "amount")
        if len(args) > 3:
            raise ValidationError("transfer() takes source, destination and amount, then keywords")
        for name, value in zip(names, args, strict=False):
            if name in options:
                raise ValidationError(f"{name} given twice", field=name)
            options[name] = value
        if not options.keys() <= _TRANSFER_KEYWORDS:
            unknown = sorted(set(options) - _TRANSFER_KEYWORDS)
            raise ValidationError(f"unknown field: {unknown[0]}", field=unknown[0])
        if not options.keys() >= _REQUIRED:
            missing = next(name for name in names if name not in options)
            raise ValidationError(f"{missing} is required", field=missing)
        if options.get("id") is None:
            options["id"] = new_id()
        source, destination, amount = options.pop("source"), options.pop("destination"), options.pop("amount")
        return cmd.create_transfer(source, destination, amount, **options)

    def get_transfer(self, id: str) -> Transfer:
        check_id(id)
        transfer = self.store.transfer(id)
        if transfer is None:
            raise TransferNotFound(f"no transfer {id}")
        if (
            transfer.status == "pending"
            and transfer.expires_us is not None
            and transfer.expires_us <= self.engine.now_us()
        ):
            self.engine.expire_for([transfer.source])
            transfer = self.store.transfer(id)
            assert transfer is not None
        return transfer

    def transfer_batch(
        self, transfers: Iterable[Mapping[str, Any]], *, atomic: bool = False, dry_run: bool = False
    ) -> list[Transfer]:
        """Several transfers in one call; results in request order.

        Atomic: all accepted, or none recorded (every result `rejected`, the
        failing one with its code, the others `linked_transfer_failed`).
        Not atomic: each is accepted or rejected (and recorded) on its own.
        """
        try:
            items = list(transfers)
        except TypeError:
            raise ValidationError("transfers must be a list of transfer requests", field="transfers") from None
        commands = []
        for index, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise ValidationError(f"transfers[{index}] must be a mapping", field=f"transfers[{index}]")
            try:
                commands.append(self._batch_item(item))
            except ValidationError as error:
                raise ValidationError(
                    f"transfers[{index}]: {error.message}", field=f"transfers[{index}].{error.field or ''}".rstrip(".")
                ) from None
        result: list[Transfer] = self._write(cmd.transfer_batch(tuple(commands), atomic), dry_run=dry_run)
        return result

    def _batch_item(self, item: Mapping[str, Any]) -> cmd.CreateTransfer | cmd.ReverseTransfer:
        if "reverses" in item:
            options = dict(item)
            unknown = sorted(set(options) - {"reverses", "id", "amount", "reason", "metadata"})
            if unknown:
                raise ValidationError(f"unknown field: {unknown[0]}", field=unknown[0])
            reverses = options.pop("reverses")
            options["id"] = options.get("id") or new_id()
            return cmd.reverse_transfer(reverses, **options)
        return self._transfer_command((), dict(item))

    def post(self, transfer_id: str, /, amount: int | None = None) -> Transfer:
        """Settle a pending transfer, for all of it or for `amount` (the rest is released)."""
        result: Transfer = self._write(cmd.resolve_pending(transfer_id, "post", amount))
        return result

    def void(self, transfer_id: str, /) -> Transfer:
        """Release a pending transfer: no money moves."""
        result: Transfer = self._write(cmd.resolve_pending(transfer_id, "void"))
        return result

    def reverse(
        self,
        transfer_id: str,
        /,
        *,
        id: str | None = None,
        amount: int | None = None,
        reason: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Transfer:
        """A new transfer that gives back `amount` (default: all that remains) of a posted one."""
        command = cmd.reverse_transfer(transfer_id, id=id or new_id(), amount=amount, reason=reason, metadata=metadata)
        transfer: Transfer = self._write(command)
        return transfer

    def transfers(
        self,
        *,
        account: str | None = None,
        status: str | None = None,
        after: str | int | None = None,
        limit: int = PAGE_SIZE_DEFAULT,
        prefix: str | None = None,
    ) -> TransferPage:
        """Transfers in seq order, optionally those touching `account` or with `status`."""
        if account is not None:
            check_id(account, "account")
        if status is not None and status not in ("posted", "pending", "voided", "expired", "rejected"):
            raise ValidationError("status must be posted, pending, voided, expired or rejected", field="status")
        limit = _limit(limit)
        if account is not None:
            self.engine.expire_for([account])
        else:
            self._expire_before_a_wide_read()
        rows = self.store.transfers(account, status, _cursor(after), limit + 1, prefix)
        page = rows[:limit]
        return TransferPage(tuple(page), str(page[-1].seq) if len(rows) > limit else None)

    def _expire_before_a_wide_read(self) -> None:
        """A read across accounts must not show an expired hold as pending either.

        Cheap when nothing is due (one lookup of the earliest deadline), which is
        nearly always; otherwise expire everything due, as a write would.
        """
        next_us = self.store.next_expiry()
        if next_us is not None and next_us <= self.engine.now_us():
            self.engine.expire_due()

    def expire_due(self) -> int:
        """Expire every hold whose time has come (`tally serve` runs this for you)."""
        return self.engine.expire_due()

    # --- the journal ----------------------------------------------------------------------
    def events(self, *, after: int = 0, limit: int = PAGE_SIZE_DEFAULT, wait: float = 0) -> EventPage:
        """Journal events after seq `after`; with `wait`, long-poll up to that many seconds."""
        start = _cursor(after) or 0
        limit = _limit(limit)
        if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait <= EVENTS_WAIT_SECONDS_MAX:
            raise ValidationError(f"wait must be from 0 to {EVENTS_WAIT_SECONDS_MAX} seconds", field="wait")
        deadline = time.monotonic() + wait
        while True:
            rows = self.store.events(start, limit)
            if rows or time.monotonic() >= deadline:
                break
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        return EventPage(tuple(rows), str(rows[-1].seq if rows else start))

    def audit_head(self) -> tuple[int, str]:
        """The head of the audit hash chain: the last seq and its hash."""
        head = self.store.head()
        return head.seq, head.hash

    def verify(self) -> VerifyReport:
        """Replay the journal from seq 1: the chain, every decision, every derived row."""
        return verify(self.store)


def _answered(written: Written) -> Written:
    """`written`, or the error it stands for: a refusal, or a rejected transfer (recorded)."""
    result = written.result
    if isinstance(result, LedgerError):
        raise result
    if isinstance(result, Transfer) and result.is_rejected:
        assert result.code is not None
        raise error_for(result.code, f"transfer {result.id} rejected: {result.code}", transfer=result)
    return written
