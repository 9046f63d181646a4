"""One test per error code of API.md section 6 that the library produces, in precedence order.

Each request breaks the rule under test and a later one too, so each test also
proves the precedence: the earlier code is the one reported. Each asserts the
exception class, `.code`, and whether the rejection was recorded (a business
rejection of a transfer reads back `rejected` with a seq) or not (nothing
written: the audit head does not move).

`unavailable` is not here: it needs a database that stays busy past every
retry, which no honest test of this size can produce.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

import tally
from tests.model import PRECEDENCE
from tests.support import FakeClock

MAX = 2**63 - 1


@pytest.fixture
def books(ledger: tally.Ledger) -> tally.Ledger:
    ledger.create_account("@world", currency="USD", min_balance=None)
    ledger.create_account("@world-eur", currency="EUR", min_balance=None)
    ledger.create_account("alice", currency="USD")
    ledger.create_account("bob", currency="USD", max_balance=1_000)
    ledger.create_account("eve", currency="EUR")
    ledger.transfer("@world", "alice", 500, id="seed-alice")
    return ledger


def refused_without_a_trace(
    ledger: tally.Ledger, error: type[tally.LedgerError], call: Callable[[], Any]
) -> tally.LedgerError:
    head = ledger.audit_head()
    with pytest.raises(error) as raised:
        call()
    assert raised.value.code == error.code
    assert ledger.audit_head() == head, "a refused request must write nothing"
    return raised.value


def recorded_rejection(
    ledger: tally.Ledger, error: type[tally.LedgerError], id: str, call: Callable[[], Any]
) -> tally.Transfer:
    head_seq, _ = ledger.audit_head()
    with pytest.raises(error) as raised:
        call()
    assert raised.value.code == error.code
    stored = ledger.transfer(id)
    assert (stored.status, stored.code) == ("rejected", error.code)
    assert stored.seq == head_seq + 1, "a rejection is recorded with its own seq"
    assert raised.value.transfer == stored
    return stored


def test_the_codes_are_in_the_documented_precedence_order() -> None:
    from tally.core.codes import Code

    library_order = [code.value for code in Code if code.value in PRECEDENCE]
    assert library_order == list(PRECEDENCE)


# --- validation_error: before anything else, nothing written ---------------------------

BAD_AMOUNTS = [True, False, 1.0, 100.5, Decimal("100"), "100", 0, -1, 2**63, None, [100]]


@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=repr)
def test_amount_that_is_not_a_positive_64_bit_int_is_validation_error(books: tally.Ledger, amount: Any) -> None:
    # "nobody" does not exist either: the malformed amount is reported first.
    error = refused_without_a_trace(
        books, tally.ValidationError, lambda: books.transfer("alice", "nobody", amount, id="bad-amount")
    )
    assert error.field == "amount"
    with pytest.raises(tally.TransferNotFound):
        books.transfer("bad-amount")


def test_largest_amount_is_valid_and_smallest_is_one(books: tally.Ledger) -> None:
    assert books.transfer("@world", "alice", 1, id="one").amount == 1
    with pytest.raises(tally.Overflow):  # valid, but it would take @world below -2**63
        books.transfer("@world", "alice", MAX, id="max")


BAD_IDS = ["", "x" * 129, "has space", "slash/id", "café", "semi;colon", "new\nline", 42]


@pytest.mark.parametrize("bad_id", BAD_IDS, ids=repr)
def test_malformed_transfer_id_is_validation_error(books: tally.Ledger, bad_id: Any) -> None:
    error = refused_without_a_trace(books, tally.ValidationError, lambda: books.transfer("alice", "bob", 1, id=bad_id))
    assert error.field == "id"


@pytest.mark.parametrize("bad_id", [*BAD_IDS, None], ids=repr)
def test_malformed_account_id_is_validation_error(books: tally.Ledger, bad_id: Any) -> None:
    refused_without_a_trace(books, tally.ValidationError, lambda: books.create_account(bad_id, currency="USD"))
    refused_without_a_trace(books, tally.ValidationError, lambda: books.transfer(bad_id, "bob", 1, id="t"))


def test_id_of_128_allowed_characters_is_accepted(books: tally.Ledger) -> None:
    id = ("Az09_.:@-" * 15)[:128]
    books.create_account(id, currency="USD")
    assert books.transfer("alice", id, 1, id=id).id == id


@pytest.mark.parametrize("code", ["usd", "U", "", "U$D", "1SD", "A" * 17, 840, None])
def test_malformed_currency_code_is_validation_error(books: tally.Ledger, code: Any) -> None:
    refused_without_a_trace(books, tally.ValidationError, lambda: books.create_account("carol", currency=code))
    if code is not None:
        refused_without_a_trace(
            books, tally.ValidationError, lambda: books.transfer("alice", "bob", 1, id="c", currency=code)
        )


def _nested(levels: int) -> list[Any]:
    """`levels` arrays, each inside the next."""
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


def test_metadata_nests_up_to_64_levels(books: tally.Ledger) -> None:
    transfer = books.transfer("alice", "bob", 1, id="deep", metadata={"x": _nested(63)})
    assert transfer.metadata == {"x": _nested(63)}
    assert books.transfer("deep").metadata == transfer.metadata


@pytest.mark.parametrize(
    "extra",
    [
        {"colour": "red"},
        {"pending": "yes"},
        {"pending": True, "expires_in": 0},
        {"pending": True, "expires_in": 31_536_001},
        {"pending": True, "expires_in": 1.5},
        {"pending": True, "on_expiry": "later"},
        {"expires_in": 60},
        {"reason": "r" * 501},
        {"reason": 7},
        {"metadata": ["not", "an", "object"]},
        {"metadata": {"big": "x" * 4097}},
        pytest.param({"metadata": {"x": _nested(64)}}, id="metadata 65 levels with the object"),
        # Past the JSON encoders' recursion: it raised a RecursionError.
        pytest.param({"metadata": {"x": _nested(1500)}}, id="metadata 1501 levels"),
    ],
    ids=repr,
)
def test_malformed_or_unknown_transfer_field_is_validation_error(books: tally.Ledger, extra: dict[str, Any]) -> None:
    refused_without_a_trace(books, tally.ValidationError, lambda: books.transfer("alice", "bob", 1, id="x", **extra))


def test_unknown_field_in_a_batch_item_is_validation_error_naming_it(books: tally.Ledger) -> None:
    items = [
        {"source": "alice", "destination": "bob", "amount": 1, "id": "b1"},
        {"source": "alice", "destination": "bob", "amount": 1, "id": "b2", "colour": "red"},
    ]
    error = refused_without_a_trace(books, tally.ValidationError, lambda: books.transfer_batch(items, atomic=False))
    assert error.field is not None and "transfers[1]" in error.field and "colour" in error.message


@pytest.mark.parametrize(
    "items",
    [
        [],
        [{"source": "alice", "destination": "bob", "amount": 1}] * 1001,
        ["not a mapping"],
        [
            {"source": "alice", "destination": "bob", "amount": 1, "id": "twice"},
            {"source": "alice", "destination": "bob", "amount": 2, "id": "twice"},
        ],
        [{"source": "alice", "destination": "bob", "amount": 1}, {"source": "alice", "amount": 1}],
    ],
    ids=["empty", "1001 items", "not a mapping", "an id twice", "missing destination"],
)
def test_malformed_batch_is_validation_error_and_writes_nothing(books: tally.Ledger, items: list[Any]) -> None:
    for atomic in (True, False):
        refused_without_a_trace(books, tally.ValidationError, lambda a=atomic: books.transfer_batch(items, atomic=a))


def test_unknown_account_field_is_validation_error(books: tally.Ledger) -> None:
    refused_without_a_trace(books, tally.ValidationError, lambda: books.update_account("alice", colour="red"))


# --- id_conflict: the same id for another request, nothing written ------------------------


def test_same_id_with_other_fields_is_id_conflict(books: tally.Ledger) -> None:
    books.transfer("alice", "bob", 100, id="pay-1")
    # Also to an account that does not exist: the conflict is reported first.
    refused_without_a_trace(books, tally.IdConflict, lambda: books.transfer("alice", "nobody", 100, id="pay-1"))
    refused_without_a_trace(
        books, tally.IdConflict, lambda: books.transfer("alice", "bob", 100, id="pay-1", reason="x")
    )
    assert books.transfer("pay-1").destination == "bob"


def test_same_account_id_with_other_fields_is_id_conflict(books: tally.Ledger) -> None:
    refused_without_a_trace(books, tally.IdConflict, lambda: books.create_account("alice", currency="ZZZ"))
    refused_without_a_trace(
        books, tally.IdConflict, lambda: books.create_account("alice", currency="USD", min_balance=None)
    )
    assert books.create_account("alice", currency="USD").id == "alice"


# --- business rules of a transfer, in order ----------------------------------------------


def test_unknown_currency_is_reported_before_a_missing_account(books: tally.Ledger) -> None:
    recorded_rejection(
        books, tally.UnknownCurrency, "u1", lambda: books.transfer("nobody", "bob", 1, id="u1", currency="ZZZ")
    )
    refused_without_a_trace(books, tally.UnknownCurrency, lambda: books.create_account("carol", currency="ZZZ"))


def test_missing_account_is_reported_before_same_account(books: tally.Ledger) -> None:
    recorded_rejection(books, tally.AccountNotFound, "n1", lambda: books.transfer("nobody", "nobody", 1, id="n1"))
    refused_without_a_trace(books, tally.AccountNotFound, lambda: books.freeze("nobody"))
    with pytest.raises(tally.AccountNotFound):
        books.balance("nobody")


def test_missing_transfer_is_transfer_not_found_and_writes_nothing(books: tally.Ledger) -> None:
    refused_without_a_trace(books, tally.TransferNotFound, lambda: books.post("no-such-hold", amount=MAX))
    refused_without_a_trace(books, tally.TransferNotFound, lambda: books.void("no-such-hold"))
    refused_without_a_trace(books, tally.TransferNotFound, lambda: books.reverse("no-such-transfer", id="r"))
    with pytest.raises(tally.TransferNotFound):
        books.transfer("no-such-transfer")


def test_same_account_is_reported_before_a_currency_mismatch(books: tally.Ledger) -> None:
    recorded_rejection(
        books, tally.SameAccount, "s1", lambda: books.transfer("alice", "alice", 1_000, id="s1", currency="EUR")
    )


def test_currency_mismatch_is_reported_before_a_closed_account(books: tally.Ledger) -> None:
    books.freeze("eve")
    recorded_rejection(books, tally.CurrencyMismatch, "m1", lambda: books.transfer("alice", "eve", 1_000, id="m1"))
    recorded_rejection(
        books, tally.CurrencyMismatch, "m2", lambda: books.transfer("alice", "bob", 1, id="m2", currency="EUR")
    )


def test_frozen_account_is_account_not_open_before_insufficient_funds(books: tally.Ledger) -> None:
    books.freeze("alice")
    recorded_rejection(books, tally.AccountNotOpen, "f1", lambda: books.transfer("alice", "bob", 5_000, id="f1"))
    recorded_rejection(books, tally.AccountNotOpen, "f2", lambda: books.transfer("@world", "alice", 1, id="f2"))
    books.unfreeze("alice")
    assert books.transfer("alice", "bob", 1, id="f3").status == "posted"


def test_closed_account_is_account_not_open(books: tally.Ledger) -> None:
    books.create_account("carol", currency="USD")
    books.close_account("carol")
    recorded_rejection(books, tally.AccountNotOpen, "c1", lambda: books.transfer("alice", "carol", 1, id="c1"))
    refused_without_a_trace(books, tally.AccountNotOpen, lambda: books.unfreeze("carol"))


def test_resolving_a_posted_transfer_is_transfer_not_pending_before_exceeds_pending_amount(books: tally.Ledger) -> None:
    books.transfer("alice", "bob", 100, id="plain")
    refused_without_a_trace(books, tally.TransferNotPending, lambda: books.post("plain", amount=101))
    refused_without_a_trace(books, tally.TransferNotPending, lambda: books.void("plain"))
    books.transfer("alice", "bob", 100, id="hold", pending=True)
    books.void("hold")
    refused_without_a_trace(books, tally.TransferNotPending, lambda: books.post("hold", amount=101))


def test_posting_an_expired_hold_is_pending_expired_before_exceeds_pending_amount(
    books: tally.Ledger, clock: FakeClock
) -> None:
    books.transfer("alice", "bob", 100, id="hold", pending=True, expires_in=60)
    clock.advance(60)
    assert books.transfer("hold").status == "expired"  # expiry is lazy, and is itself an event
    refused_without_a_trace(books, tally.PendingExpired, lambda: books.post("hold", amount=101))
    refused_without_a_trace(books, tally.PendingExpired, lambda: books.void("hold"))
    assert books.transfer("hold").status == "expired"


def test_posting_more_than_the_hold_is_exceeds_pending_amount(books: tally.Ledger) -> None:
    books.transfer("alice", "bob", 100, id="hold", pending=True)
    refused_without_a_trace(books, tally.ExceedsPendingAmount, lambda: books.post("hold", amount=101))
    assert books.post("hold", amount=100).posted_amount == 100


def test_reversing_more_than_remains_is_exceeds_reversible_amount_before_insufficient_funds(
    books: tally.Ledger,
) -> None:
    books.transfer("alice", "bob", 300, id="pay")
    books.transfer("bob", "@world", 300, id="bob-spends")  # bob could not pay anything back now
    recorded_rejection(
        books, tally.ExceedsReversibleAmount, "rev1", lambda: books.reverse("pay", id="rev1", amount=301)
    )


def test_reversing_a_hold_or_a_rejection_is_exceeds_reversible_amount(books: tally.Ledger) -> None:
    books.transfer("alice", "bob", 100, id="hold", pending=True)
    recorded_rejection(books, tally.ExceedsReversibleAmount, "rev-hold", lambda: books.reverse("hold", id="rev-hold"))


def test_balance_beyond_64_bits_is_overflow_before_insufficient_funds(books: tally.Ledger) -> None:
    books.create_account("@mint", currency="USD", min_balance=None)
    books.create_account("whale", currency="USD")
    books.transfer("@mint", "whale", MAX, id="fill")
    # alice has 500: too little for 501, and whale cannot hold one more cent.
    recorded_rejection(books, tally.Overflow, "o1", lambda: books.transfer("alice", "whale", 501, id="o1"))
    # @mint is at -(2**63 - 1): one more cent out is the floor, two are below it.
    recorded_rejection(books, tally.Overflow, "o2", lambda: books.transfer("@mint", "alice", 2, id="o2"))


def test_overdraft_is_insufficient_funds_before_exceeds_max_balance(books: tally.Ledger) -> None:
    recorded_rejection(books, tally.InsufficientFunds, "i1", lambda: books.transfer("alice", "bob", 1_001, id="i1"))
    books.transfer("alice", "bob", 200, id="hold", pending=True)
    # available counts the hold: 500 - 200 = 300
    recorded_rejection(books, tally.InsufficientFunds, "i2", lambda: books.transfer("alice", "bob", 301, id="i2"))


def test_overdraft_allowed_down_to_a_negative_min_balance(books: tally.Ledger) -> None:
    books.create_account("credit-line", currency="USD", min_balance=-1_000)
    books.transfer("credit-line", "alice", 1_000, id="borrow")
    recorded_rejection(
        books, tally.InsufficientFunds, "more", lambda: books.transfer("credit-line", "alice", 1, id="more")
    )


def test_credit_beyond_max_balance_is_exceeds_max_balance(books: tally.Ledger) -> None:
    books.transfer("@world", "bob", 900, id="fill-bob")
    books.transfer("@world", "bob", 50, id="hold-bob", pending=True)
    # posted 900 + pending_in 50 + 51 > 1000
    recorded_rejection(books, tally.ExceedsMaxBalance, "x1", lambda: books.transfer("@world", "bob", 51, id="x1"))
    assert books.transfer("@world", "bob", 50, id="x2").status == "posted"


def test_closing_an_account_with_money_is_account_not_empty(books: tally.Ledger) -> None:
    refused_without_a_trace(books, tally.AccountNotEmpty, lambda: books.close_account("alice"))
    books.transfer("@world", "bob", 10, id="hold", pending=True)
    refused_without_a_trace(books, tally.AccountNotEmpty, lambda: books.close_account("bob"))


def test_atomic_batch_with_a_failing_item_is_linked_transfer_failed_and_writes_nothing(books: tally.Ledger) -> None:
    items = [
        {"source": "alice", "destination": "bob", "amount": 100, "id": "leg-1"},
        {"source": "alice", "destination": "eve", "amount": 100, "id": "leg-2"},
        {"source": "alice", "destination": "bob", "amount": 100, "id": "leg-3"},
    ]
    head = books.audit_head()
    results = books.transfer_batch(items, atomic=True)
    assert [(t.status, t.code, t.seq) for t in results] == [
        ("rejected", "linked_transfer_failed", None),
        ("rejected", "currency_mismatch", None),
        ("rejected", "linked_transfer_failed", None),
    ]
    assert books.audit_head() == head
    # Nothing remains of it: the same ids may be sent again.
    items[1]["destination"] = "bob"
    assert [t.status for t in books.transfer_batch(items, atomic=True)] == ["posted"] * 3


def test_non_atomic_batch_records_each_rejection_on_its_own(books: tally.Ledger) -> None:
    items = [
        {"source": "alice", "destination": "bob", "amount": 100, "id": "leg-1"},
        {"source": "alice", "destination": "eve", "amount": 100, "id": "leg-2"},
    ]
    results = books.transfer_batch(items, atomic=False)
    assert [(t.status, t.code) for t in results] == [("posted", None), ("rejected", "currency_mismatch")]
    assert books.transfer("leg-2").seq == results[1].seq is not None


def test_replay_of_a_rejection_is_the_same_rejection(books: tally.Ledger) -> None:
    first = recorded_rejection(
        books, tally.InsufficientFunds, "big", lambda: books.transfer("alice", "bob", 999, id="big")
    )
    books.transfer("@world", "alice", 10_000, id="rich-now")
    head = books.audit_head()
    with pytest.raises(tally.InsufficientFunds) as again:
        books.transfer("alice", "bob", 999, id="big")
    assert again.value.transfer == first
    assert books.audit_head() == head


def test_every_exception_is_a_ledger_error_with_its_code() -> None:
    from tally.core.codes import Code

    classes = [getattr(tally, name) for name in tally.__all__]
    errors = [
        c for c in classes if isinstance(c, type) and issubclass(c, tally.LedgerError) and c is not tally.LedgerError
    ]
    assert {c.code for c in errors} <= {code.value for code in Code}
    assert len({c.code for c in errors}) == len(errors)


@pytest.mark.parametrize(
    "read",
    [
        lambda ledger: ledger.entries("alice", after=2**63),
        lambda ledger: ledger.entries("alice", after="9" * 19),
        lambda ledger: ledger.entries("alice", after=2**70, order="desc"),
        lambda ledger: ledger.transfers(after=2**64),
        lambda ledger: ledger.events(after=2**64),
        lambda ledger: ledger.entries("alice", after="²"),
        lambda ledger: ledger.events(after="²"),
    ],
    ids=["entries int", "entries text", "entries desc", "transfers", "events", "entries ²", "events ²"],
)
def test_cursor_beyond_64_bits_or_not_ascii_digits_is_validation_error(
    books: tally.Ledger, read: Callable[[tally.Ledger], Any]
) -> None:
    with pytest.raises(tally.ValidationError) as raised:
        read(books)
    assert raised.value.field == "after"


def test_batch_that_is_not_a_list_is_validation_error(books: tally.Ledger) -> None:
    refused_without_a_trace(books, tally.ValidationError, lambda: books.transfer_batch(5, atomic=True))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [("reason", "half a pair \ud800"), ("metadata", {"note": "\udfff"}), ("metadata", {"\ud800": 1})],
    ids=["reason", "metadata value", "metadata key"],
)
def test_text_that_is_not_unicode_is_validation_error(books: tally.Ledger, field: str, value: Any) -> None:
    # A lone surrogate cannot be stored as UTF-8: a clear error, not a crash in the write path.
    error = refused_without_a_trace(
        books, tally.ValidationError, lambda: books.transfer("alice", "bob", 1, id="s", **{field: value})
    )
    assert error.field == field
    if field == "reason":
        refused_without_a_trace(books, tally.ValidationError, lambda: books.freeze("alice", reason=value))


@pytest.mark.parametrize("as_of", ["²", "-1", "1.5", "9" * 30, "yesterday", "2024-01-01T00:00:00"])
def test_as_of_that_is_neither_a_seq_nor_an_rfc3339_time_is_validation_error(books: tally.Ledger, as_of: str) -> None:
    with pytest.raises(tally.ValidationError) as raised:
        books.balance("alice", as_of=as_of)
    assert raised.value.field == "as_of"
