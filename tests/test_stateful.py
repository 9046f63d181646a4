"""The ledger against a plain-Python model, driven by Hypothesis.

Random accounts (bounded, unbounded, capped, with a clearing period),
transfers, atomic and non-atomic batches, reversals, replays of old ids,
holds, posts (full and partial), voids and time passing: after every step the
balances equal the model's, per currency posted sums to 0 and pending_in equals
pending_out, and no bounded account's available is below its minimum.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, settings, target
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import tally
from tests import strategies as s
from tests.model import US, Model, Outcome
from tests.services import POSTGRES_URL, missing
from tests.support import FakeClock, assert_books_balance

START = 1_700_000_000.0
POOL = ("@world", "@bank", "user:1", "user:2", "user:3", "shop:1", "eur:1")
account_ids = st.sampled_from(POOL)


def _sqlite_url() -> tuple[str, Callable[[], None]]:
    directory = tempfile.mkdtemp(prefix="tally-stateful-")
    return f"sqlite:///{directory}/ledger.sqlite3", lambda: shutil.rmtree(directory, ignore_errors=True)


def _postgres_url() -> tuple[str, Callable[[], None]]:
    try:
        import psycopg

        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except Exception as error:  # any failure means "not available"
        missing("PostgreSQL", str(error))
        raise
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin.execute(f'CREATE SCHEMA "{schema}"')  # type: ignore[arg-type]

    def drop() -> None:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')  # type: ignore[arg-type]
        admin.close()

    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}", drop


def _call(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except tally.LedgerError as error:
        return error


class LedgerMachine(RuleBasedStateMachine):
    make_url: Callable[[], tuple[str, Callable[[], None]]] = staticmethod(_sqlite_url)

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(START)
        self.url, self.cleanup = self.make_url()
        self.ledger = tally.open(self.url, clock=self.clock)
        self.model = Model(int(START) * US)
        self.requests: dict[str, dict[str, Any]] = {}  # transfer id -> the call that made it
        self.resolutions: list[tuple[str, str, int | None]] = []
        self.counter = 0
        self.nearest_to_limit = 0.0
        self._open("@world", "USD", None, None, None)

    def teardown(self) -> None:
        try:
            # Steer the search towards accounts near the 64-bit limit, where
            # `overflow` lives and chance alone rarely goes.
            target(self.nearest_to_limit, label="log2 of how near an account came to 2**63")
            assert_books_balance(self.ledger)
        finally:
            self.ledger.close()
            self.cleanup()

    def _new_id(self) -> str:
        self.counter += 1
        return f"t{self.counter}"

    # --- comparing answers ----------------------------------------------------------
    def _expect(self, expected: Outcome, got: Any) -> None:
        if expected.code is None:
            assert isinstance(got, tally.Transfer), (expected, got)
            assert expected.transfer is not None
            self._same_transfer(expected, got)
            return
        assert isinstance(got, tally.LedgerError), (expected, got)
        assert got.code == expected.code, (expected, got)
        if expected.recorded:
            assert got.transfer is not None and got.transfer.seq is not None, got
            assert got.transfer.status == "rejected" and got.transfer.code == expected.code
        else:
            assert got.transfer is None or got.transfer.seq is None, got

    @staticmethod
    def _same_transfer(expected: Outcome, got: tally.Transfer) -> None:
        want = expected.transfer
        assert want is not None
        assert (got.id, got.status, got.code, got.amount) == (want.id, want.status, want.code, want.amount), (
            want,
            got,
        )
        assert got.posted_amount == want.posted_amount, (want, got)
        assert got.expires_us == want.expires_us, (want, got)
        assert got.seq is not None

    # --- accounts -------------------------------------------------------------------------
    def _open(self, id: str, currency: str, low: int | None, high: int | None, clearing: int | None) -> None:
        if low is not None and high is not None and low > high:
            return
        expected = self.model.create_account(id, currency, low, high, clearing)
        got = _call(
            lambda: self.ledger.create_account(
                id, currency=currency, min_balance=low, max_balance=high, clearing_seconds=clearing
            )
        )
        if expected.code is None:
            assert isinstance(got, tally.Account), got
        else:
            assert isinstance(got, tally.LedgerError) and got.code == expected.code, (expected, got)

    @rule(
        id=account_ids,
        currency=s.currencies,
        low=s.min_balances,
        high=s.max_balances,
        clearing=s.clearing_seconds,
    )
    def create_account(self, id: str, currency: str, low: int | None, high: int | None, clearing: int | None) -> None:
        if id.startswith("@"):
            low = None  # the outside world goes negative
        if id.startswith("eur"):
            currency = "EUR"
        self._open(id, currency, low, high, clearing)

    @rule(id=account_ids, freeze=st.booleans())
    def freeze_or_unfreeze(self, id: str, freeze: bool) -> None:
        expected = self.model.set_status(id, "frozen" if freeze else "open")
        got = _call(lambda: self.ledger.freeze(id) if freeze else self.ledger.unfreeze(id))
        if expected.code is None:
            assert isinstance(got, tally.Account) and got.status == ("frozen" if freeze else "open"), got
        else:
            assert isinstance(got, tally.LedgerError) and got.code == expected.code, (expected, got)

    @rule(id=account_ids, seconds=s.clearing_seconds)
    def change_clearing_period(self, id: str, seconds: int | None) -> None:
        expected = self.model.set_clearing_seconds(id, seconds)
        got = _call(lambda: self.ledger.update_account(id, clearing_seconds=seconds))
        if expected.code is None:
            assert isinstance(got, tally.Account) and got.clearing_seconds == seconds, got
        else:
            assert isinstance(got, tally.LedgerError) and got.code == expected.code, (expected, got)

    # --- transfers ----------------------------------------------------------------------------
    @rule(
        source=account_ids,
        destination=account_ids,
        amount=s.amounts_with_edges,
        pending=st.booleans(),
        expires_in=s.expires_in,
        on_expiry=s.on_expiry,
        reason=s.reasons,
    )
    def transfer(
        self,
        source: str,
        destination: str,
        amount: int,
        pending: bool,
        expires_in: int | None,
        on_expiry: str | None,
        reason: str | None,
    ) -> None:
        request: dict[str, Any] = {"id": self._new_id(), "reason": reason}
        if pending:
            request.update(pending=True, expires_in=expires_in, on_expiry=on_expiry)
        self._transfer(source, destination, amount, request)

    def _transfer(self, source: str, destination: str, amount: int, request: dict[str, Any]) -> None:
        expected = self.model.transfer(source, destination, amount, **request)
        got = _call(lambda: self.ledger.transfer(source, destination, amount, **request))
        self._expect(expected, got)
        if expected.code != "validation_error":
            self.requests[request["id"]] = {"source": source, "destination": destination, "amount": amount, **request}

    @precondition(lambda self: self.requests)
    @rule(data=st.data())
    def replay_same_request(self, data: st.DataObject) -> None:
        id = data.draw(st.sampled_from(sorted(self.requests)))
        request = dict(self.requests[id])
        if "reverses" in request:
            reverses = request.pop("reverses")
            expected = self.model.reverse(reverses, **request)
            got = _call(lambda: self.ledger.reverse(reverses, **request))
        else:
            source, destination, amount = request.pop("source"), request.pop("destination"), request.pop("amount")
            expected = self.model.transfer(source, destination, amount, **request)
            got = _call(lambda: self.ledger.transfer(source, destination, amount, **request))
        self._expect(expected, got)

    @precondition(lambda self: any("reverses" not in r for r in self.requests.values()))
    @rule(data=st.data(), change=st.sampled_from(["amount", "reason", "destination"]))
    def replay_with_other_fields_is_id_conflict(self, data: st.DataObject, change: str) -> None:
        ids = sorted(id for id, r in self.requests.items() if "reverses" not in r)
        request = dict(self.requests[data.draw(st.sampled_from(ids))])
        if change == "amount":
            request["amount"] = request["amount"] - 1 if request["amount"] > 1 else 2
        elif change == "reason":
            request["reason"] = f"{request.get('reason')}, again"
        else:
            request["destination"] = "user:1" if request["destination"] != "user:1" else "user:2"
        source, destination, amount = request.pop("source"), request.pop("destination"), request.pop("amount")
        expected = self.model.transfer(source, destination, amount, **request)
        assert expected.code == "id_conflict"
        self._expect(expected, _call(lambda: self.ledger.transfer(source, destination, amount, **request)))

    @rule(
        atomic=st.booleans(),
        legs=st.lists(st.tuples(account_ids, account_ids, s.amounts, st.booleans()), min_size=1, max_size=4),
        data=st.data(),
    )
    def batch(self, atomic: bool, legs: list[tuple[str, str, int, bool]], data: st.DataObject) -> None:
        items: list[dict[str, Any]] = [
            {"source": a, "destination": b, "amount": n, "id": self._new_id(), **({"pending": True} if p else {})}
            for a, b, n, p in legs
        ]
        old = sorted(id for id, r in self.requests.items() if "reverses" not in r)
        if old and data.draw(st.booleans()):
            # An item that replays an earlier request, exactly or not.
            replayed = dict(self.requests[data.draw(st.sampled_from(old))])
            if data.draw(st.booleans()):
                replayed["amount"] = replayed["amount"] % 1000 + 1
            items.insert(data.draw(st.integers(0, len(items))), replayed)
        if data.draw(st.booleans()):
            # A reversal, perhaps of a transfer made earlier in this same batch.
            targets = [*old, *(item["id"] for item in items)]
            reverses = data.draw(st.sampled_from(targets))
            items.append({"reverses": reverses, "id": self._new_id(), "amount": data.draw(s.part_amounts)})
        expected = self.model.batch(items, atomic=atomic)
        got = _call(lambda: self.ledger.transfer_batch(items, atomic=atomic))
        if expected.code is not None:
            assert isinstance(got, tally.LedgerError) and got.code == expected.code, (expected, got)
            return
        assert isinstance(got, list), got
        assert [(t.status, t.code) for t in got] == expected.results, (items, expected.results, got)
        for item in items:
            if item["id"] in self.model.transfers and item["id"] not in self.requests:
                self.requests[item["id"]] = item

    # --- reversals ---------------------------------------------------------------------------
    @precondition(lambda self: self.requests)
    @rule(data=st.data(), amount=s.part_amounts)
    def reverse(self, data: st.DataObject, amount: int | None) -> None:
        original = data.draw(st.sampled_from(sorted(self.requests)))
        request: dict[str, Any] = {"id": self._new_id(), "amount": amount, "reason": "refund"}
        expected = self.model.reverse(original, **request)
        got = _call(lambda: self.ledger.reverse(original, **request))
        self._expect(expected, got)
        if expected.code != "transfer_not_found":
            self.requests[request["id"]] = {"reverses": original, **request}

    # --- two-phase ------------------------------------------------------------------------------
    @precondition(lambda self: self.requests)
    @rule(data=st.data(), action=st.sampled_from(["post", "void"]), amount=s.part_amounts)
    def resolve(self, data: st.DataObject, action: str, amount: int | None) -> None:
        pending = sorted(id for id, t in self.model.transfers.items() if t.status == "pending")
        candidates = pending if pending and data.draw(st.integers(0, 3)) else sorted(self.requests)
        id = data.draw(st.sampled_from(candidates))
        self._resolve(id, action, amount if action == "post" else None)

    def _resolve(self, id: str, action: str, amount: int | None) -> None:
        if action == "post":
            expected = self.model.post(id, amount)
            got = _call(lambda: self.ledger.post(id, amount))
        else:
            expected = self.model.void(id)
            got = _call(lambda: self.ledger.void(id))
        self._expect(expected, got)
        self.resolutions.append((id, action, amount))

    @precondition(lambda self: self.resolutions)
    @rule(data=st.data())
    def replay_resolution(self, data: st.DataObject) -> None:
        self._resolve(*data.draw(st.sampled_from(self.resolutions)))

    @rule(seconds=s.seconds)
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)
        self.model.advance(seconds)

    # --- after every step -----------------------------------------------------------------------------
    @invariant()
    def balances_equal_the_model(self) -> None:
        self.model.expire_due()
        for id in POOL:
            account = self.model.accounts.get(id)
            got = _call(lambda: self.ledger.balance(id))  # noqa: B023 - called at once
            if account is None:
                assert isinstance(got, tally.AccountNotFound), got
                continue
            assert isinstance(got, tally.Balance), got
            assert (got.posted, got.pending_in, got.pending_out, got.available) == account.balance(), (id, got)
            headroom = max(1, 2**63 - (account.posted + account.pending_in))
            self.nearest_to_limit = max(self.nearest_to_limit, 63 - math.log2(headroom))

    @invariant()
    def transfers_read_back_as_the_model_says(self) -> None:
        self.model.expire_due()
        for id, want in self.model.transfers.items():
            got = self.ledger.transfer(id)
            assert (got.status, got.code, got.posted_amount, got.reversed_amount) == (
                want.status,
                want.code,
                want.posted_amount,
                want.reversed_amount,
            ), (id, want, got)

    @invariant()
    def the_books_balance(self) -> None:
        self.model.check_invariants()
        totals: dict[str, list[int]] = {}
        for account in self.ledger.store.iter_accounts():
            total = totals.setdefault(account.currency, [0, 0, 0])
            total[0] += account.posted
            total[1] += account.pending_in
            total[2] += account.pending_out
            if account.min_balance is not None:
                assert account.available >= account.min_balance, account
        for currency, (posted, pending_in, pending_out) in totals.items():
            assert posted == 0, (currency, posted)
            assert pending_in == pending_out, currency


class PostgresLedgerMachine(LedgerMachine):
    make_url = staticmethod(_postgres_url)


# Modest by default (the suite runs on 2 cores); raise it to hunt for bugs.
EXAMPLES = int(os.environ.get("TALLY_STATEFUL_EXAMPLES", "60"))

LedgerMachine.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
PostgresLedgerMachine.TestCase.settings = settings(
    LedgerMachine.TestCase.settings, max_examples=max(1, EXAMPLES * 2 // 3)
)

TestLedgerOnSQLite = LedgerMachine.TestCase
TestLedgerOnPostgres = pytest.mark.postgres(PostgresLedgerMachine.TestCase)
