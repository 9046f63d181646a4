"""Two-phase transfers: holds, post, void, expiry, clearing periods, balance as of a point.

Also the races (post, void and expiry of the same hold from many threads, each
with its own connection) and a crash between creating a hold and resolving it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

import tally
from tests.support import FakeClock, assert_books_balance

RESOLUTIONS = ("pending_posted", "pending_voided", "pending_expired")


@pytest.fixture
def wallet(ledger: tally.Ledger) -> tally.Ledger:
    ledger.create_account("@world", currency="USD", min_balance=None)
    ledger.create_account("user", currency="USD")
    ledger.create_account("shop", currency="USD")
    ledger.transfer("@world", "user", 5_000, id="topup")
    return ledger


def all_events(ledger: tally.Ledger) -> list[tally.Event]:
    events: list[tally.Event] = []
    while True:
        page = ledger.events(after=events[-1].seq if events else 0, limit=1000)
        if not page.items:
            return events
        events.extend(page.items)


def resolutions_by_transfer(ledger: tally.Ledger) -> Counter[str]:
    return Counter(e.data["id"] for e in all_events(ledger) if e.kind in RESOLUTIONS)


# --- holds and the overdraft rule ---------------------------------------------------


def test_six_holds_of_1000_on_5000_the_sixth_is_insufficient_funds(wallet: tally.Ledger) -> None:
    for n in range(5):
        hold = wallet.transfer("user", "shop", 1_000, id=f"hold-{n}", pending=True, expires_in=3600)
        assert hold.status == "pending"

    with pytest.raises(tally.InsufficientFunds):
        wallet.transfer("user", "shop", 1_000, id="hold-5", pending=True, expires_in=3600)

    assert wallet.balance("user") == tally.Balance(posted=5_000, pending_in=0, pending_out=5_000, available=0)
    assert wallet.balance("shop") == tally.Balance(posted=0, pending_in=5_000, pending_out=0, available=0)
    assert wallet.transfer("hold-5").status == "rejected"
    assert_books_balance(wallet)


def test_post_moves_the_held_money(wallet: tally.Ledger) -> None:
    wallet.transfer("user", "shop", 1_200, id="hold", pending=True)
    posted = wallet.post("hold")
    assert (posted.status, posted.posted_amount) == ("posted", 1_200)
    assert wallet.balance("user") == tally.Balance(posted=3_800, pending_in=0, pending_out=0, available=3_800)
    assert wallet.balance("shop").posted == 1_200
    assert_books_balance(wallet)


def test_partial_post_releases_the_rest(wallet: tally.Ledger) -> None:
    wallet.transfer("user", "shop", 1_200, id="hold", pending=True)
    posted = wallet.post("hold", amount=700)
    assert (posted.status, posted.amount, posted.posted_amount) == ("posted", 1_200, 700)
    assert wallet.balance("user") == tally.Balance(posted=4_300, pending_in=0, pending_out=0, available=4_300)
    assert wallet.balance("shop") == tally.Balance(posted=700, pending_in=0, pending_out=0, available=700)
    assert_books_balance(wallet)


def test_void_releases_the_hold_and_moves_nothing(wallet: tally.Ledger) -> None:
    wallet.transfer("user", "shop", 1_200, id="hold", pending=True)
    voided = wallet.void("hold")
    assert (voided.status, voided.posted_amount) == ("voided", 0)
    assert wallet.balance("user") == tally.Balance(posted=5_000, pending_in=0, pending_out=0, available=5_000)
    assert [e.transfer_id for e in wallet.entries("shop")] == []
    assert_books_balance(wallet)


@pytest.mark.parametrize(
    ("first", "replay"),
    [(("post", None), ("post", None)), (("post", 300), ("post", 300)), (("void", None), ("void", None))],
)
def test_exact_replay_of_a_resolution_answers_the_same_and_writes_nothing(
    wallet: tally.Ledger, first: tuple[str, int | None], replay: tuple[str, int | None]
) -> None:
    wallet.transfer("user", "shop", 1_000, id="hold", pending=True)
    resolve: dict[str, Callable[..., tally.Transfer]] = {"post": wallet.post, "void": wallet.void}
    args = [] if first[1] is None else [first[1]]
    answer = resolve[first[0]]("hold", *args)
    head = wallet.audit_head()
    again = resolve[replay[0]]("hold", *args)
    assert again == answer
    assert wallet.audit_head() == head


@pytest.mark.parametrize(
    ("first", "then"),
    [
        (("post", None), ("void", None)),
        (("void", None), ("post", None)),
        (("post", 300), ("post", None)),
        (("post", None), ("post", 300)),
        (("post", 300), ("post", 400)),
    ],
)
def test_other_post_or_void_of_a_resolved_hold_is_transfer_not_pending(
    wallet: tally.Ledger, first: tuple[str, int | None], then: tuple[str, int | None]
) -> None:
    wallet.transfer("user", "shop", 1_000, id="hold", pending=True)
    resolve: dict[str, Callable[..., tally.Transfer]] = {"post": wallet.post, "void": wallet.void}
    resolve[first[0]]("hold", *([] if first[1] is None else [first[1]]))
    head = wallet.audit_head()
    with pytest.raises(tally.TransferNotPending):
        resolve[then[0]]("hold", *([] if then[1] is None else [then[1]]))
    assert wallet.audit_head() == head


def test_post_after_expiry_is_pending_expired(wallet: tally.Ledger, clock: FakeClock) -> None:
    wallet.transfer("user", "shop", 1_000, id="hold", pending=True, expires_in=60)
    clock.advance(60)
    with pytest.raises(tally.PendingExpired):
        wallet.post("hold")
    with pytest.raises(tally.PendingExpired):
        wallet.void("hold")
    assert wallet.transfer("hold").status == "expired"


def test_post_for_more_than_the_hold_is_exceeds_pending_amount(wallet: tally.Ledger) -> None:
    wallet.transfer("user", "shop", 1_000, id="hold", pending=True)
    with pytest.raises(tally.ExceedsPendingAmount):
        wallet.post("hold", amount=1_001)
    assert wallet.transfer("hold").status == "pending"


def test_posting_a_hold_spends_what_it_reserved_even_when_the_rest_is_gone(wallet: tally.Ledger) -> None:
    wallet.transfer("user", "shop", 3_000, id="hold", pending=True)
    wallet.transfer("user", "@world", 2_000, id="spend-the-rest")
    assert wallet.post("hold").status == "posted"
    assert wallet.balance("user").posted == 0
    assert_books_balance(wallet)


# --- expiry: on time, lazily, before reads and writes ------------------------------------


def test_hold_is_pending_until_the_second_it_expires(wallet: tally.Ledger, clock: FakeClock) -> None:
    wallet.transfer("user", "shop", 1_000, id="hold", pending=True, expires_in=60)
    clock.advance(59)
    assert wallet.balance("user").pending_out == 1_000
    assert wallet.transfer("hold").status == "pending"
    clock.advance(1)
    assert wallet.balance("user") == tally.Balance(posted=5_000, pending_in=0, pending_out=0, available=5_000)


# Each read answers whether it still shows the hold as pending.
READS: dict[str, Callable[[tally.Ledger], bool]] = {
    "balance": lambda ledger: ledger.balance("shop").pending_in != 0,
    "account": lambda ledger: ledger.account("user").balance.pending_out != 0,
    "accounts": lambda ledger: any(a.pending_in or a.pending_out for a in ledger.accounts()),
    "transfer": lambda ledger: ledger.transfer("hold").status == "pending",
    "transfers of an account": lambda ledger: "pending" in [t.status for t in ledger.transfers(account="user")],
    "all transfers": lambda ledger: "pending" in [t.status for t in ledger.transfers()],
    "pending transfers": lambda ledger: len(ledger.transfers(status="pending")) > 0,
    "entries": lambda ledger: any(e.transfer_id == "hold" for e in ledger.entries("user")),
}


@pytest.mark.parametrize("read", list(READS.values()), ids=list(READS))
def test_a_read_never_shows_an_expired_hold_as_pending(
    wallet: tally.Ledger, clock: FakeClock, read: Callable[[tally.Ledger], bool]
) -> None:
    wallet.transfer("user", "shop", 1_000, id="hold", pending=True, expires_in=60)
    clock.advance(61)
    # The first read after the deadline, with nothing written in between:
    assert not read(wallet)
    assert wallet.store.account("user").pending_out == 0  # type: ignore[union-attr]
    assert wallet.store.account("shop").pending_in == 0  # type: ignore[union-attr]
    assert wallet.transfer("hold").status == "expired"
    assert resolutions_by_transfer(wallet) == {"hold": 1}


def test_any_write_first_expires_every_due_hold(wallet: tally.Ledger, clock: FakeClock) -> None:
    wallet.create_account("other", currency="USD", min_balance=None)
    wallet.transfer("user", "shop", 1_000, id="hold", pending=True, expires_in=60)
    clock.advance(60)
    wallet.transfer("other", "@world", 1, id="unrelated")
    # The stored row, read without the lazy expiry of reads:
    assert wallet.store.account("user").pending_out == 0  # type: ignore[union-attr]
    assert wallet.store.transfer("hold").status == "expired"  # type: ignore[union-attr]


def test_expiry_frees_the_money_for_a_transfer_in_the_same_write(wallet: tally.Ledger, clock: FakeClock) -> None:
    wallet.transfer("user", "shop", 5_000, id="hold", pending=True, expires_in=60)
    with pytest.raises(tally.InsufficientFunds):
        wallet.transfer("user", "shop", 1, id="too-soon")
    clock.advance(60)
    assert wallet.transfer("user", "shop", 5_000, id="after-expiry").status == "posted"


def test_expire_due_expires_holds_nobody_reads(wallet: tally.Ledger, clock: FakeClock) -> None:
    for n in range(5):
        wallet.transfer("user", "shop", 100, id=f"hold-{n}", pending=True, expires_in=10 + n)
    clock.advance(12)
    wallet.expire_due()
    statuses = {t.id: t.status for t in wallet.store.iter_transfers() if t.id.startswith("hold")}
    assert statuses == {
        "hold-0": "expired",
        "hold-1": "expired",
        "hold-2": "expired",
        "hold-3": "pending",
        "hold-4": "pending",
    }


def test_on_expiry_post_posts_by_itself(wallet: tally.Ledger, clock: FakeClock) -> None:
    wallet.transfer("user", "shop", 1_000, id="clearing", pending=True, expires_in=60, on_expiry="post")
    clock.advance(60)
    settled = wallet.transfer("clearing")
    assert (settled.status, settled.posted_amount) == ("posted", 1_000)
    assert wallet.balance("shop") == tally.Balance(posted=1_000, pending_in=0, pending_out=0, available=1_000)
    with pytest.raises(tally.TransferNotPending):
        wallet.void("clearing")
    assert_books_balance(wallet)


def test_on_expiry_post_can_be_voided_before_it_clears(wallet: tally.Ledger, clock: FakeClock) -> None:
    wallet.transfer("user", "shop", 1_000, id="clearing", pending=True, expires_in=60, on_expiry="post")
    clock.advance(30)
    assert wallet.void("clearing").status == "voided"
    clock.advance(60)
    assert wallet.balance("shop").posted == 0
    assert resolutions_by_transfer(wallet) == {"clearing": 1}


# --- clearing periods ------------------------------------------------------------------------


def test_deposit_to_a_clearing_account_shows_but_cannot_be_spent(wallet: tally.Ledger, clock: FakeClock) -> None:
    wallet.create_account("saver", currency="USD", clearing_seconds=100)
    deposit = wallet.transfer("user", "saver", 1_000, id="deposit")
    assert (deposit.status, deposit.pending, deposit.on_expiry, deposit.expires_in) == ("pending", False, "post", 100)
    assert wallet.balance("saver") == tally.Balance(posted=0, pending_in=1_000, pending_out=0, available=0)
    with pytest.raises(tally.InsufficientFunds):
        wallet.transfer("saver", "shop", 1, id="spend")
    clock.advance(100)
    assert wallet.balance("saver").available == 1_000


def test_clearing_seconds_changes_are_never_retroactive(wallet: tally.Ledger, clock: FakeClock) -> None:
    wallet.create_account("saver", currency="USD", clearing_seconds=100)
    wallet.transfer("user", "saver", 1_000, id="old-deposit")
    head_seq, _ = wallet.audit_head()

    updated = wallet.update_account("saver", clearing_seconds=10)
    assert updated.clearing_seconds == 10
    [event] = wallet.events(after=head_seq).items
    assert (event.kind, event.data["changes"]) == ("account_updated", {"clearing_seconds": 10})

    wallet.transfer("user", "saver", 200, id="new-deposit")
    clock.advance(10)
    assert wallet.transfer("new-deposit").status == "posted"
    assert wallet.transfer("old-deposit").status == "pending"  # still on its own 100 seconds
    wallet.update_account("saver", clearing_seconds=None)
    assert wallet.transfer("user", "saver", 300, id="instant").status == "posted"
    assert wallet.transfer("old-deposit").status == "pending"
    clock.advance(90)
    assert wallet.transfer("old-deposit").status == "posted"
    assert wallet.balance("saver").posted == 1_500
    assert_books_balance(wallet)


# --- one record per transfer, one event per state change ------------------------------------


def test_a_hold_is_one_record_and_each_state_change_its_own_event(wallet: tally.Ledger, clock: FakeClock) -> None:
    created = wallet.transfer("user", "shop", 1_000, id="hold", pending=True, expires_in=600, reason="Room 12")
    clock.advance(5)
    posted = wallet.post("hold", amount=800)

    assert created.seq == posted.seq, "the record keeps the seq it was created at"
    assert posted.resolved_seq is not None and posted.resolved_seq > created.seq  # type: ignore[operator]
    assert [t.id for t in wallet.transfers(account="shop")] == ["hold"]
    kinds = {e.seq: e.kind for e in all_events(wallet) if e.kind != "account_opened"}
    assert kinds[created.seq] == "transfer_pending"  # type: ignore[index]
    assert kinds[posted.resolved_seq] == "pending_posted"
    # The entries say when the money moved: at the post, for what was posted.
    shop_entries = list(wallet.entries("shop"))
    assert [(e.seq, e.amount, e.balance_after) for e in shop_entries] == [(posted.resolved_seq, 800, 800)]
    assert shop_entries[0].created_at > created.created_at


def test_balance_as_of_a_seq_or_a_time_is_the_posted_balance_then(wallet: tally.Ledger, clock: FakeClock) -> None:
    times: list[datetime] = []
    seqs: list[int] = []
    for amount in (100, 200, 300):
        clock.advance(10)
        seqs.append(wallet.transfer("user", "shop", amount, id=f"pay-{amount}").seq)  # type: ignore[arg-type]
        times.append(datetime.fromtimestamp(clock(), UTC))
    clock.advance(10)
    wallet.transfer("user", "shop", 1_000, id="hold", pending=True)

    assert [wallet.balance("shop", as_of=seq).posted for seq in seqs] == [100, 300, 600]
    assert wallet.balance("shop", as_of=seqs[0] - 1) == tally.BalanceAsOf(posted=0, as_of_seq=seqs[0] - 1)
    assert wallet.balance("shop", as_of=times[1]) == tally.BalanceAsOf(posted=300, as_of_seq=seqs[1])
    text = times[1].isoformat().replace("+00:00", "Z")
    assert wallet.balance("shop", as_of=text).posted == 300
    assert wallet.balance("shop", as_of=str(seqs[2])).posted == 600
    assert wallet.balance("shop", as_of=0).posted == 0
    head, _ = wallet.audit_head()
    assert wallet.balance("shop", as_of=head).posted == 600  # the hold is not posted money
    with pytest.raises(tally.ValidationError):
        wallet.balance("shop", as_of=head + 1)
    with pytest.raises(tally.ValidationError):
        wallet.balance("shop", as_of="yesterday")


# --- races: exactly one resolution each -------------------------------------------------------

HOLDS = 200
THREADS = 10


def _make_holds(ledger: tally.Ledger, *, staggered: bool = False) -> list[str]:
    """HOLDS pending transfers; staggered: hold n expires n+1 seconds from now."""
    ledger.create_account("@world", currency="USD", min_balance=None)
    ledger.create_account("payer", currency="USD")
    ledger.create_account("payee", currency="USD")
    ledger.transfer("@world", "payer", HOLDS * 10, id="fund")
    ids = [f"hold-{n}" for n in range(HOLDS)]
    items = [
        {"source": "payer", "destination": "payee", "amount": 10, "id": id, "pending": True}
        | ({"expires_in": n + 1} if staggered else {})
        for n, id in enumerate(ids)
    ]
    assert all(t.status == "pending" for t in ledger.transfer_batch(items, atomic=True))
    return ids


def _in_threads(url: str, clock: FakeClock, jobs: list[Callable[[tally.Ledger], list[Any]]]) -> list[list[Any]]:
    """Run each job in its own thread, each with its own Ledger (its own connections)."""
    results: list[list[Any]] = [[] for _ in jobs]
    errors: list[BaseException] = []
    start = threading.Barrier(len(jobs))

    def run(index: int) -> None:
        try:
            with tally.open(url, clock=clock) as mine:
                start.wait()
                results[index] = jobs[index](mine)
        except BaseException as error:  # noqa: BLE001 - re-raised in the test thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def _each(ids: list[str], call: Callable[[str], tally.Transfer]) -> list[Any]:
    answers: list[Any] = []
    for id in ids:
        try:
            answers.append(call(id))
        except tally.LedgerError as error:
            answers.append(error)
    return answers


@pytest.mark.parametrize("action", ["post", "void"])
def test_ten_concurrent_posts_or_voids_of_each_hold_resolve_it_once(
    ledger: tally.Ledger, ledger_url: str, clock: FakeClock, action: str
) -> None:
    ids = _make_holds(ledger)
    jobs = [lambda mine: _each(ids, getattr(mine, action)) for _ in range(THREADS)]
    results = _in_threads(ledger_url, clock, jobs)

    status = "posted" if action == "post" else "voided"
    for answers in results:
        # The first call resolves it; every other one is an exact replay with the same answer.
        assert all(isinstance(a, tally.Transfer) and a.status == status for a in answers), answers
    for n in range(len(ids)):
        assert all(answers[n] == results[0][n] for answers in results)
    assert resolutions_by_transfer(ledger) == {id: 1 for id in ids}
    moved = HOLDS * 10 if action == "post" else 0
    assert ledger.balance("payee") == tally.Balance(posted=moved, pending_in=0, pending_out=0, available=moved)
    assert_books_balance(ledger)


def test_post_racing_void_racing_expiry_resolves_each_hold_once(
    ledger: tally.Ledger, ledger_url: str, clock: FakeClock
) -> None:
    ids = _make_holds(ledger, staggered=True)

    def expire(mine: tally.Ledger) -> list[Any]:
        # Time moves a second at a time: a front of expiries sweeps through the
        # holds while posts and voids race it from both ends.
        for _ in ids:
            clock.advance(1)
            mine.expire_due()
        return []

    jobs: list[Callable[[tally.Ledger], list[Any]]] = [
        lambda mine: _each(ids, mine.post),
        lambda mine: _each(list(reversed(ids)), mine.void),
        lambda mine: _each(ids[::2], mine.post),
        lambda mine: _each(ids[1::2], mine.void),
        expire,
    ]
    results = _in_threads(ledger_url, clock, jobs)

    assert resolutions_by_transfer(ledger) == {id: 1 for id in ids}
    final = {id: ledger.transfer(id).status for id in ids}
    assert set(final.values()) <= {"posted", "voided", "expired"}
    post_answers = dict(zip(ids, results[0], strict=True))
    void_answers = dict(zip(reversed(ids), results[1], strict=True))
    for id in ids:
        won_post = isinstance(post_answers[id], tally.Transfer)
        won_void = isinstance(void_answers[id], tally.Transfer)
        assert not (won_post and won_void), id
        if won_post:
            assert final[id] == "posted"
        if won_void:
            assert final[id] == "voided"
        for answer in (post_answers[id], void_answers[id]):
            if isinstance(answer, tally.LedgerError):  # a loser: the code says who won
                want = "pending_expired" if final[id] == "expired" else "transfer_not_pending"
                assert answer.code == want, (id, final[id], answer)
    payee = sum(10 for status in final.values() if status == "posted")
    assert ledger.balance("payee").posted == payee
    assert_books_balance(ledger)


# --- a crash between creating a hold and resolving it -------------------------------------------

CHILD = """
import sys, tally
ledger = tally.open(sys.argv[1])
n = 0
while True:
    ledger.transfer("payer", "payee", 10, id=f"crash-hold-{n}", pending=True, expires_in=3600)
    print(n, flush=True)
    n += 1
"""


def _holds_until_killed(url: str, at_least: int) -> int:
    """A child process creates holds until it is killed with SIGKILL; the last one it acknowledged."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, url], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    last = -1
    try:
        for line in child.stdout:
            last = int(line)
            if last + 1 >= at_least:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
    return last


@pytest.fixture
def crash_books(ledger_url: str) -> Iterator[str]:
    with tally.open(ledger_url) as ledger:
        ledger.create_account("@world", currency="USD", min_balance=None)
        ledger.create_account("payer", currency="USD")
        ledger.create_account("payee", currency="USD")
        ledger.transfer("@world", "payer", 1_000_000, id="fund")
    yield ledger_url


def test_holds_survive_a_crash_and_can_be_posted_after_reopening(crash_books: str) -> None:
    last = _holds_until_killed(crash_books, at_least=20)

    with tally.open(crash_books) as reopened:
        holds = [t for t in reopened.store.iter_transfers() if t.id.startswith("crash-hold-")]
        assert len(holds) >= last + 1  # every acknowledged hold survived (one more may have committed)
        assert all(t.status == "pending" for t in holds)
        assert reopened.balance("payer").pending_out == 10 * len(holds)
        assert reopened.post("crash-hold-0").status == "posted"
        assert reopened.void(f"crash-hold-{last}").status == "voided"
        assert_books_balance(reopened)


def test_holds_expire_exactly_once_after_a_crash_across_their_expiry(crash_books: str) -> None:
    last = _holds_until_killed(crash_books, at_least=10)
    after_expiry = FakeClock(time.time() + 3_601)

    # Several processes' worth of ledgers reopen after the deadline and read at once.
    results = _in_threads(
        crash_books,
        after_expiry,
        [lambda mine: [mine.balance("payer"), mine.expire_due()] for _ in range(4)],
    )
    with tally.open(crash_books, clock=after_expiry) as reopened:
        expired = resolutions_by_transfer(reopened)
        holds = [t for t in reopened.store.iter_transfers() if t.id.startswith("crash-hold-")]
        assert len(holds) >= last + 1
        assert expired == {t.id: 1 for t in holds}
        assert all(t.status == "expired" for t in holds)
        assert all(balance.pending_out == 0 for balance, _ in results)
        with pytest.raises(tally.PendingExpired):
            reopened.post("crash-hold-0")
        assert_books_balance(reopened)


def test_a_crash_leaves_no_half_written_hold(crash_books: str) -> None:
    _holds_until_killed(crash_books, at_least=5)
    with tally.open(crash_books) as reopened:
        report = reopened.verify()
        assert report.ok, report.problems
        seqs = [e.seq for e in all_events(reopened)]
        assert seqs == list(range(1, len(seqs) + 1))


def test_money_pending_in_can_always_post_even_near_the_64_bit_limit(wallet: tally.Ledger, clock: FakeClock) -> None:
    max_amount = 2**63 - 1
    wallet.create_account("@mint", currency="USD", min_balance=None)
    wallet.create_account("@mint-2", currency="USD", min_balance=None)
    wallet.create_account("vault", currency="USD")
    wallet.transfer("@mint", "vault", max_amount - 10, id="fill")
    wallet.transfer("@mint-2", "vault", 10, id="clearing", pending=True, expires_in=60, on_expiry="post")
    # Posted 2**63-11 and 10 on its way in: one more cent could never post.
    with pytest.raises(tally.Overflow):
        wallet.transfer("@mint-2", "vault", 1, id="one-more")
    clock.advance(60)
    assert wallet.balance("vault").posted == max_amount
    assert_books_balance(wallet)


def test_a_write_sees_its_accounts_holds_expired_even_when_more_fell_due_than_one_sweep_takes(
    wallet: tally.Ledger, clock: FakeClock
) -> None:
    from tally.core.limits import EXPIRY_BATCH_MAX

    wallet.create_account("spender", currency="USD")
    wallet.transfer("@world", "spender", 10, id="fund-spender")
    # Other holds that fall due first fill the bounded sweep...
    holds = [
        {"source": "user", "destination": "shop", "amount": 1, "id": f"early-{n}", "pending": True, "expires_in": 5}
        for n in range(EXPIRY_BATCH_MAX)
    ]
    wallet.transfer_batch(holds, atomic=True)
    # ...so this one is not in it, yet the transfer below must see it expired.
    wallet.transfer("spender", "shop", 10, id="late-hold", pending=True, expires_in=10)
    clock.advance(60)

    spent = wallet.transfer("spender", "shop", 10, id="spend")

    assert spent.status == "posted"
    assert wallet.transfer("late-hold").status == "expired"
    wallet.expire_due()
    assert_books_balance(wallet)


def test_a_reversal_sees_its_accounts_holds_expired_even_when_more_fell_due_than_one_sweep_takes(
    wallet: tally.Ledger, clock: FakeClock
) -> None:
    from tally.core.limits import EXPIRY_BATCH_MAX

    wallet.create_account("seller", currency="USD")
    wallet.transfer("user", "seller", 10, id="sale")
    holds = [
        {"source": "user", "destination": "shop", "amount": 1, "id": f"early-{n}", "pending": True, "expires_in": 5}
        for n in range(EXPIRY_BATCH_MAX)
    ]
    wallet.transfer_batch(holds, atomic=True)
    wallet.transfer("seller", "shop", 10, id="late-hold", pending=True, expires_in=10)
    clock.advance(60)

    refund = wallet.reverse("sale", id="refund")  # the seller pays back what the lapsed hold reserved

    assert refund.status == "posted"
    assert wallet.transfer("late-hold").status == "expired"
    wallet.expire_due()
    assert_books_balance(wallet)
