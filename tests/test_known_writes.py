"""Writes decided from the accounts the engine remembers from its own last commit.

While the journal's head is where this engine's last commit left it, nobody
else has written, so a group of new transfers among accounts it remembers is
decided without loading them and written in one store call
(`Store.write_on_head`), which refuses if the head moved or a hold is due;
so are posts and voids of the holds it remembers as pending. These tests
hold that path to the answers the usual one gives: another writer's
spending or resolving, a replayed id, a hold that came due in between.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import tally
from tally import engine as engine_module
from tally.core import commands as cmd
from tally.core.codes import Code
from tests.concurrency.harness import RawDatabase
from tests.support import FakeClock, assert_books_balance


def _open_funded(url: str, clock: FakeClock | None = None, amount: int = 100) -> tally.Ledger:
    ledger = tally.open(url, clock=clock)
    ledger.create_account("@bank", currency="USD", min_balance=None)
    for id in ("user:a", "user:b", "user:c"):
        ledger.create_account(id, currency="USD")
    ledger.transfer("@bank", "user:a", amount)
    return ledger


def test_transfers_among_remembered_accounts_commit_in_one_store_call(ledger_url: str) -> None:
    with _open_funded(ledger_url) as ledger:
        ledger.transfer("user:a", "user:b", 1)  # loads user:b the usual way
        before = ledger.engine.known_commits
        for _ in range(5):
            ledger.transfer("user:a", "user:b", 10)
        ledger.transfer_batch([{"source": "user:b", "destination": "user:a", "amount": 5}] * 3)
        assert ledger.engine.known_commits == before + 6
        with pytest.raises(tally.InsufficientFunds):
            ledger.transfer("user:a", "user:b", 1_000)
        assert ledger.balance("user:a").posted == 100 - 1 - 50 + 15
        assert ledger.balance("user:b").posted == 1 + 50 - 15
        statement = ledger.entries("user:b")
        assert [e.balance_after for e in statement.entries][-4:] == [51, 46, 41, 36]
        assert_books_balance(ledger)


def test_a_write_by_another_ledger_in_between_is_seen(ledger_url: str) -> None:
    with _open_funded(ledger_url) as mine, tally.open(ledger_url) as other:
        mine.transfer("user:a", "user:b", 10)
        mine.transfer("user:a", "user:b", 10)  # remembered: user:a has 80
        assert mine.engine.known_commits >= 1
        other.transfer("user:a", "user:c", 70)  # user:a has 10 now
        known = mine.engine.known_commits
        with pytest.raises(tally.InsufficientFunds):
            mine.transfer("user:a", "user:b", 50)
        assert mine.engine.known_commits == known  # refused by the store, decided again after loading
        accepted = mine.transfer("user:a", "user:b", 10)
        assert accepted.status == "posted"
        assert mine.balance("user:a").posted == 0
        assert mine.balance("user:c").posted == 70
        assert_books_balance(mine)


def test_an_id_that_exists_is_answered_as_a_replay_or_a_conflict(ledger_url: str) -> None:
    with _open_funded(ledger_url) as ledger:
        first = ledger.transfer("user:a", "user:b", 10, id="t-1")
        ledger.transfer("user:a", "user:b", 10, id="t-2")
        assert ledger.engine.known_commits >= 1
        again = ledger.transfer("user:a", "user:b", 10, id="t-1")
        assert (again.id, again.seq, again.status) == (first.id, first.seq, "posted")
        with pytest.raises(tally.LedgerError) as refused:
            ledger.transfer("user:a", "user:b", 11, id="t-1")
        assert refused.value.code == Code.ID_CONFLICT.value
        ledger.transfer("user:a", "user:b", 10, id="t-3")
        assert ledger.balance("user:a").posted == 70
        assert_books_balance(ledger)


def test_a_hold_that_came_due_expires_before_the_next_write(ledger_url: str) -> None:
    clock = FakeClock()
    with _open_funded(ledger_url, clock) as ledger:
        hold = ledger.transfer("user:a", "user:b", 80, pending=True, expires_in=60)
        ledger.transfer("user:a", "user:b", 10)
        ledger.transfer("user:a", "user:b", 5)  # remembered: user:a has 5 available
        assert ledger.engine.known_commits >= 1
        clock.advance(61)
        # Only with the hold expired first does user:a have the 50.
        after = ledger.transfer("user:a", "user:b", 50)
        assert after.status == "posted"
        stored = ledger.store.transfer(hold.id)  # as stored, not expired on reading
        assert stored is not None and stored.status == "expired"
        assert stored.resolved_seq is not None and after.seq is not None and stored.resolved_seq < after.seq
        assert ledger.balance("user:a").available == 100 - 10 - 5 - 50
        assert_books_balance(ledger)


def test_a_dry_run_between_writes_leaves_the_remembered_accounts(ledger_url: str) -> None:
    with _open_funded(ledger_url) as ledger:
        ledger.transfer("user:a", "user:b", 10)
        ledger.transfer("user:a", "user:b", 10, dry_run=True)
        known = ledger.engine.known_commits
        ledger.transfer("user:a", "user:b", 10)
        assert ledger.engine.known_commits == known + 1
        assert ledger.balance("user:a").posted == 80


def test_an_atomic_batch_refused_on_remembered_accounts_is_decided_again_after_loading(ledger_url: str) -> None:
    with _open_funded(ledger_url) as mine, tally.open(ledger_url) as other:
        mine.transfer("user:a", "user:b", 10)
        mine.transfer("user:a", "user:b", 10)  # remembered: user:a has 80
        other.transfer("@bank", "user:a", 100)  # user:a has 180
        items = [{"source": "user:a", "destination": "user:c", "amount": 60}] * 2
        results = mine.transfer_batch(items, atomic=True)  # 120: too much for 80, not for 180
        assert [t.status for t in results] == ["posted", "posted"]
        assert mine.balance("user:a").posted == 60
        assert_books_balance(mine)


def test_posts_and_voids_of_remembered_holds_commit_in_one_store_call(ledger_url: str) -> None:
    with _open_funded(ledger_url) as ledger:
        ledger.transfer("user:a", "user:b", 1)  # loads user:b the usual way
        before = ledger.engine.known_commits
        posted = ledger.transfer("user:a", "user:b", 30, pending=True)
        partly = ledger.transfer("user:a", "user:b", 20, pending=True)
        voided = ledger.transfer("user:a", "user:b", 40, pending=True)
        assert ledger.balance("user:a").available == 100 - 1 - 90
        assert ledger.post(posted.id).status == "posted"
        settled = ledger.post(partly.id, amount=15)
        assert (settled.status, settled.posted_amount) == ("posted", 15)
        assert ledger.void(voided.id).status == "voided"
        assert ledger.engine.known_commits == before + 6
        a, b = ledger.balance("user:a"), ledger.balance("user:b")
        assert (a.posted, a.pending_out, a.available) == (100 - 1 - 45, 0, 100 - 1 - 45)
        assert (b.posted, b.pending_in) == (1 + 45, 0)
        assert [e.balance_after for e in ledger.entries("user:b").entries] == [1, 31, 46]
        assert ledger.verify().ok
        assert_books_balance(ledger)


def test_a_hold_resolved_by_another_ledger_in_between_is_seen(ledger_url: str) -> None:
    with _open_funded(ledger_url) as mine, tally.open(ledger_url) as other:
        mine.transfer("user:a", "user:b", 1)
        hold = mine.transfer("user:a", "user:b", 30, pending=True)  # remembered as pending
        other.void(hold.id)
        known = mine.engine.known_commits
        with pytest.raises(tally.LedgerError) as refused:
            mine.post(hold.id)
        assert refused.value.code == Code.TRANSFER_NOT_PENDING.value
        assert mine.engine.known_commits == known  # refused by the store, decided again after loading
        assert mine.balance("user:b").posted == 1
        assert_books_balance(mine)


def test_a_replayed_post_and_an_unknown_id_are_answered_the_usual_way(ledger_url: str) -> None:
    with _open_funded(ledger_url) as ledger:
        ledger.transfer("user:a", "user:b", 1)
        hold = ledger.transfer("user:a", "user:b", 30, pending=True)
        ledger.transfer("user:a", "user:b", 30, pending=True)  # another hold, so that no CHECK catches a second post
        first = ledger.post(hold.id)
        head = ledger.audit_head()
        again = ledger.post(hold.id)  # no longer remembered as pending: loaded, and a replay
        assert (again.id, again.status, again.resolved_seq) == (first.id, "posted", first.resolved_seq)
        assert ledger.audit_head() == head
        with pytest.raises(tally.LedgerError) as missing:
            ledger.void("no-such-hold")
        assert missing.value.code == Code.TRANSFER_NOT_FOUND.value
        assert (ledger.balance("user:b").posted, ledger.balance("user:a").pending_out) == (31, 30)
        assert_books_balance(ledger)


def test_a_post_of_a_remembered_hold_that_came_due_finds_it_expired(ledger_url: str) -> None:
    clock = FakeClock()
    with _open_funded(ledger_url, clock) as ledger:
        ledger.transfer("user:a", "user:b", 1)
        hold = ledger.transfer("user:a", "user:b", 80, pending=True, expires_in=60)
        ledger.transfer("user:a", "user:b", 1)  # remembered: the hold, pending
        clock.advance(61)
        known = ledger.engine.known_commits
        with pytest.raises(tally.LedgerError) as refused:
            ledger.post(hold.id)
        assert refused.value.code == Code.PENDING_EXPIRED.value
        assert ledger.engine.known_commits == known  # the store refused: a hold was due
        stored = ledger.store.transfer(hold.id)
        assert stored is not None and stored.status == "expired"
        assert ledger.balance("user:a").available == 100 - 2
        assert_books_balance(ledger)


def test_a_long_batch_among_remembered_accounts_is_streamed_without_loading(ledger_url: str) -> None:
    with _open_funded(ledger_url, amount=1_000) as ledger:
        ledger.transfer("user:a", "user:b", 1)
        known = ledger.engine.known_commits
        items = [{"source": "user:a", "destination": "user:b" if n % 2 else "user:c", "amount": 2} for n in range(250)]
        results = ledger.transfer_batch(items)  # in parts of STREAM_EVENTS on PostgreSQL
        assert [t.status for t in results] == ["posted"] * 250
        assert ledger.engine.known_commits == known + 1
        assert [ledger.balance(id).posted for id in ("user:a", "user:b", "user:c")] == [499, 251, 250]
        assert ledger.verify().ok
        assert_books_balance(ledger)


def test_a_long_batch_decided_on_stale_accounts_is_refused_and_decided_again(ledger_url: str) -> None:
    with _open_funded(ledger_url, amount=1_000) as mine, tally.open(ledger_url) as other:
        mine.transfer("user:a", "user:b", 1)
        mine.transfer("user:a", "user:b", 1)  # remembered: user:a has 998
        other.transfer("user:a", "user:c", 848)  # user:a has 150
        known = mine.engine.known_commits
        results = mine.transfer_batch([{"source": "user:a", "destination": "user:b", "amount": 1}] * 200)
        assert [t.status for t in results] == ["posted"] * 150 + ["rejected"] * 50
        assert mine.engine.known_commits == known
        assert mine.balance("user:a").posted == 0
        listed = mine.transfers(account="user:b", limit=500).transfers  # each recorded once, rejections too
        assert sorted(t.status for t in listed) == ["posted"] * 152 + ["rejected"] * 50
        assert mine.verify().ok
        assert_books_balance(mine)


def test_a_group_that_meets_a_hold_it_does_not_remember_after_a_part_was_sent_is_decided_again(
    ledger_url: str,
) -> None:
    with _open_funded(ledger_url, amount=1_000) as ledger:
        ledger.transfer("user:a", "user:b", 1)
        hold = ledger.transfer("user:a", "user:c", 5, pending=True)
        engine: Any = ledger.engine
        engine._known.pending.clear()  # as if more holds than it keeps had come since
        batch = cmd.transfer_batch(
            tuple(cmd.create_transfer("user:a", "user:b", 1, id=f"part-{n}") for n in range(150)), False
        )
        known, commits = engine.known_commits, engine.commits
        # One group, as the engine takes concurrent callers' commands: a part
        # of the batch goes to the store before the post needs the hold.
        written = engine._run([batch, cmd.resolve_pending(hold.id, "post")], False)
        assert [t.status for t in written[0].result] == ["posted"] * 150
        assert written[1].result.status == "posted"
        assert (engine.known_commits, engine.commits) == (known, commits + 1)
        assert ledger.balance("user:b").posted == 151
        assert ledger.balance("user:c").posted == 5
        assert ledger.verify().ok
        assert_books_balance(ledger)


def test_remembered_holds_posted_while_another_ledger_voids_them_are_each_resolved_once(ledger_url: str) -> None:
    with _open_funded(ledger_url, amount=10_000) as mine, tally.open(ledger_url) as other:
        mine.transfer("user:a", "user:b", 1)
        holds = [mine.transfer("user:a", "user:b", 10, pending=True).id for _ in range(60)]
        start = threading.Barrier(2)
        answers: dict[str, dict[str, Any]] = {}
        errors: list[BaseException] = []

        def resolve(name: str, ledger: tally.Ledger, ids: list[str]) -> None:
            mine_answers: dict[str, Any] = {}
            try:
                start.wait()
                for id in ids:
                    try:
                        mine_answers[id] = getattr(ledger, name)(id)
                    except tally.LedgerError as error:
                        mine_answers[id] = error
            except BaseException as error:  # noqa: BLE001 - re-raised below
                errors.append(error)
            answers[name] = mine_answers

        # This ledger posts from the holds it remembers; the other voids from the far end.
        threads = [
            threading.Thread(target=resolve, args=("post", mine, holds)),
            threading.Thread(target=resolve, args=("void", other, holds[::-1])),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        posted = 0
        for id in holds:
            post, void = answers["post"][id], answers["void"][id]
            assert isinstance(post, tally.Transfer) != isinstance(void, tally.Transfer), (id, post, void)
            winner, loser = (post, void) if isinstance(post, tally.Transfer) else (void, post)
            assert loser.code == Code.TRANSFER_NOT_PENDING.value
            assert mine.transfer(id).status == winner.status
            posted += winner.status == "posted"
        assert (mine.balance("user:b").posted, mine.balance("user:a").pending_out) == (1 + 10 * posted, 0)
        assert mine.verify().ok
        assert_books_balance(mine)


def test_past_its_bound_on_holds_the_engine_forgets_them_and_loads_again(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "KNOWN_PENDING_MAX", 3)
    with _open_funded(ledger_url) as ledger:
        ledger.transfer("user:a", "user:b", 1)
        known = ledger.engine.known_commits
        items = [{"source": "user:a", "destination": "user:b", "amount": 10, "pending": True}] * 4
        holds = ledger.transfer_batch(items)  # four holds left pending: more than 3, all forgotten
        assert ledger.engine.known_commits == known + 1
        assert ledger.post(holds[0].id).status == "posted"  # loads the hold again
        assert ledger.engine.known_commits == known + 1
        assert [ledger.void(hold.id).status for hold in holds[1:]] == ["voided"] * 3
        assert ledger.balance("user:a").available == 100 - 1 - 10
        assert_books_balance(ledger)


@pytest.mark.postgres
def test_a_connection_lost_between_remembered_writes_is_replaced_and_the_write_lands_once(postgres_url: str) -> None:
    with _open_funded(postgres_url) as ledger:
        ledger.transfer("user:a", "user:b", 10)
        ledger.transfer("user:a", "user:b", 10)
        store: Any = ledger.store
        writer_pid = store._writer.info.backend_pid
        admin = RawDatabase(postgres_url)
        try:
            admin.execute(f"SELECT pg_terminate_backend({writer_pid})")
        finally:
            admin.close()
        known = ledger.engine.known_commits
        after = ledger.transfer("user:a", "user:b", 10, id="after-cut")  # refused by the dead connection: loads
        assert after.status == "posted"
        assert ledger.engine.known_commits == known
        assert store._writer.info.backend_pid != writer_pid
        ledger.transfer("user:a", "user:b", 10)  # remembered again: the head was where it was left
        assert ledger.engine.known_commits == known + 1
        assert ledger.balance("user:a").posted == 60
        assert_books_balance(ledger)
