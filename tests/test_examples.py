"""Worked examples, as a user of a wallet would meet them; each ends with the books balancing."""

from __future__ import annotations

import pytest

import tally
from tests.support import FakeClock, assert_books_balance


@pytest.fixture
def shop(ledger: tally.Ledger) -> tally.Ledger:
    """A wallet app: the outside world, a customer, a seller, the platform's fees."""
    ledger.create_account("@world", currency="USD", min_balance=None)
    ledger.create_account("user:42", currency="USD")
    ledger.create_account("seller:7", currency="USD")
    ledger.create_account("platform:fees", currency="USD")
    return ledger


def posted(ledger: tally.Ledger, id: str) -> int:
    return ledger.balance(id).posted


def test_top_up_credits_the_user_from_the_outside_world(shop: tally.Ledger) -> None:
    topup = shop.transfer("@world", "user:42", 10_000, id="topup-1", reason="Card top-up")

    assert topup.status == "posted" and topup.posted_amount == 10_000
    assert shop.balance("user:42") == tally.Balance(posted=10_000, pending_in=0, pending_out=0, available=10_000)
    assert posted(shop, "@world") == -10_000
    [entry] = shop.entries("user:42")
    assert (entry.transfer_id, entry.amount, entry.balance_after, entry.reason) == (
        "topup-1",
        10_000,
        10_000,
        "Card top-up",
    )
    assert_books_balance(shop)


def test_purchase_moves_money_to_the_seller_and_a_second_one_cannot_overdraw(shop: tally.Ledger) -> None:
    shop.transfer("@world", "user:42", 3_000, id="topup-1")
    shop.transfer("user:42", "seller:7", 2_000, id="order-1", reason="Order #1")

    with pytest.raises(tally.InsufficientFunds) as rejected:
        shop.transfer("user:42", "seller:7", 1_001, id="order-2", reason="Order #2")

    assert rejected.value.transfer is not None and rejected.value.transfer.status == "rejected"
    assert posted(shop, "user:42") == 1_000
    assert posted(shop, "seller:7") == 2_000
    assert [e.balance_after for e in shop.entries("user:42")] == [3_000, 1_000]
    assert_books_balance(shop)


def test_refund_reverses_part_then_the_rest_and_never_more(shop: tally.Ledger) -> None:
    shop.transfer("@world", "user:42", 5_000, id="topup-1")
    shop.transfer("user:42", "seller:7", 4_000, id="order-1")

    partial = shop.reverse("order-1", id="refund-1", amount=1_500, reason="One item returned")
    rest = shop.reverse("order-1", id="refund-2", reason="Order cancelled")
    with pytest.raises(tally.ExceedsReversibleAmount):
        shop.reverse("order-1", id="refund-3", amount=1)

    assert (partial.source, partial.destination, partial.reverses) == ("seller:7", "user:42", "order-1")
    assert rest.amount == 2_500
    assert shop.transfer("order-1").reversed_amount == 4_000
    assert posted(shop, "user:42") == 5_000 and posted(shop, "seller:7") == 0
    assert_books_balance(shop)


def test_marketplace_split_is_one_atomic_batch(shop: tally.Ledger) -> None:
    shop.transfer("@world", "user:42", 10_000, id="topup-1")

    results = shop.transfer_batch(
        [
            {"source": "user:42", "destination": "seller:7", "amount": 9_500, "id": "order-9"},
            {"source": "user:42", "destination": "platform:fees", "amount": 500, "id": "order-9-fee"},
        ],
        atomic=True,
    )

    assert [(t.id, t.status) for t in results] == [("order-9", "posted"), ("order-9-fee", "posted")]
    assert (posted(shop, "user:42"), posted(shop, "seller:7"), posted(shop, "platform:fees")) == (0, 9_500, 500)
    assert_books_balance(shop)


def test_marketplace_split_that_cannot_be_paid_in_full_moves_nothing(shop: tally.Ledger) -> None:
    shop.transfer("@world", "user:42", 9_999, id="topup-1")
    head = shop.audit_head()

    results = shop.transfer_batch(
        [
            {"source": "user:42", "destination": "seller:7", "amount": 9_500, "id": "order-9"},
            {"source": "user:42", "destination": "platform:fees", "amount": 500, "id": "order-9-fee"},
        ],
        atomic=True,
    )

    assert [(t.status, t.code, t.seq) for t in results] == [
        ("rejected", "linked_transfer_failed", None),
        ("rejected", "insufficient_funds", None),
    ]
    assert shop.audit_head() == head
    with pytest.raises(tally.TransferNotFound):
        shop.transfer("order-9")
    assert posted(shop, "user:42") == 9_999
    assert_books_balance(shop)


def test_hotel_pre_authorisation_posted_for_less_than_the_hold(shop: tally.Ledger) -> None:
    shop.create_account("hotel:ritz", currency="USD")
    shop.transfer("@world", "user:42", 50_000, id="topup-1")

    hold = shop.transfer("user:42", "hotel:ritz", 30_000, id="stay-1", pending=True, expires_in=7 * 86_400)
    assert shop.balance("user:42") == tally.Balance(posted=50_000, pending_in=0, pending_out=30_000, available=20_000)
    assert shop.balance("hotel:ritz").pending_in == 30_000
    with pytest.raises(tally.InsufficientFunds):
        shop.transfer("user:42", "seller:7", 20_001, id="shopping")

    settled = shop.post(hold.id, amount=21_750)

    assert (settled.status, settled.posted_amount, settled.amount) == ("posted", 21_750, 30_000)
    assert shop.balance("user:42") == tally.Balance(posted=28_250, pending_in=0, pending_out=0, available=28_250)
    assert shop.balance("hotel:ritz") == tally.Balance(posted=21_750, pending_in=0, pending_out=0, available=21_750)
    assert [e.amount for e in shop.entries("user:42")] == [50_000, -21_750]
    assert_books_balance(shop)


def test_cheque_deposit_clears_after_its_clearing_period(shop: tally.Ledger, clock: FakeClock) -> None:
    shop.create_account("@cheques", currency="USD", min_balance=None)
    shop.create_account("saver:1", currency="USD", clearing_seconds=3 * 86_400)

    cheque = shop.transfer("@cheques", "saver:1", 25_000, id="cheque-1001", reason="Cheque #1001")

    assert (cheque.status, cheque.on_expiry, cheque.expires_in) == ("pending", "post", 3 * 86_400)
    assert shop.balance("saver:1") == tally.Balance(posted=0, pending_in=25_000, pending_out=0, available=0)
    with pytest.raises(tally.InsufficientFunds):
        shop.transfer("saver:1", "seller:7", 1, id="too-early")

    clock.advance(3 * 86_400)

    assert shop.balance("saver:1") == tally.Balance(posted=25_000, pending_in=0, pending_out=0, available=25_000)
    assert shop.transfer("cheque-1001").status == "posted"
    shop.transfer("saver:1", "seller:7", 1_000, id="spend-it")
    assert posted(shop, "saver:1") == 24_000
    assert_books_balance(shop)


def test_cheque_that_bounces_inside_its_clearing_period_is_voided(shop: tally.Ledger, clock: FakeClock) -> None:
    shop.create_account("@cheques", currency="USD", min_balance=None)
    shop.create_account("saver:1", currency="USD", clearing_seconds=3 * 86_400)
    shop.transfer("@cheques", "saver:1", 25_000, id="cheque-1002")

    clock.advance(2 * 86_400)
    bounced = shop.void("cheque-1002")
    clock.advance(2 * 86_400)

    assert bounced.status == "voided"
    assert shop.transfer("cheque-1002").status == "voided"
    assert shop.balance("saver:1") == tally.Balance(posted=0, pending_in=0, pending_out=0, available=0)
    assert list(shop.entries("saver:1")) == []
    assert_books_balance(shop)
