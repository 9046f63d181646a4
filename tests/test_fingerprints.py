"""A transfer request's fingerprint: what makes a retry a replay, across versions.

A retry with the same id and the same fields is answered with the original
transfer; the same id with other fields is `id_conflict`. The fingerprint
stored with the transfer decides which, so its text must never change
silently: the values below are pinned. Tally 0.1.0 fingerprinted a request
as the canonical JSON of its fields; later versions join the fields' reprs
(cheaper, cd48452). Its ledgers open unchanged, so a transfer it recorded
must still answer its retries as replays: tests/data/ledger-0.1.0.sqlite3 was
written by the code of 0.1.0 (commit 54b0439), by tests/data/make_ledger_0_1_0.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import tally
from tally.core import commands as cmd
from tests.concurrency.harness import RawDatabase
from tests.support import assert_books_balance

# Written by the code of Tally 0.1.0: tests/data/make_ledger_0_1_0.py says how and what.
_FIXTURE = Path(__file__).parent / "data" / "ledger-0.1.0.sqlite3"

EVERY_FIELD = {"currency": "USD", "reason": "rent ✓ 'quoted'", "metadata": {"b": [1, 2], "a": "x"}}

# (request, its fingerprint now, the one Tally 0.1.0 stored): the second
# column was computed by the code of 0.1.0 itself.
PINNED = [
    (cmd.create_transfer("user:1", "user:2", 500, id="t-1"),
     "858827ba35d2eccf12304adc2b6fb00b", "4d3fd0780eeb5b25735f4f494d3775f6"),
    (cmd.create_transfer("user:1", "user:2", 500, id="t-2", currency="USD", reason="rent ✓ 'quoted'",
                         metadata={"b": [1, 2], "a": "x"}, pending=True, expires_in=60, on_expiry="post"),
     "520c4ef53236a098ab66f17770ed3986", "08e10fd7fb1d9c64b60a546de12143e8"),
    (cmd.reverse_transfer("t-1", id="r-1"),
     "77fcece7bd6f29574b5efd7f9cea1c0b", "751b07c25b70fddc8717b39c059b2720"),
    (cmd.reverse_transfer("t-1", id="r-2", amount=7, reason="refund", metadata={"k": 1}),
     "784a6a7dd59aa5aff11f20ba0606d83d", "58c788c6714398c9c4d0fc2a40d8fa98"),
]  # fmt: skip


@pytest.mark.parametrize(("command", "now", "then"), PINNED)
def test_a_requests_fingerprint_is_pinned_in_both_forms(
    command: cmd.CreateTransfer | cmd.ReverseTransfer, now: str, then: str
) -> None:
    assert (command.fingerprint, cmd.fingerprint_0_1_0(command)) == (now, then)
    assert cmd.matches(command, now) and cmd.matches(command, then)
    assert not cmd.matches(command, "0" * 32)


def test_a_ledger_written_by_0_1_0_verifies_and_answers_its_retries_as_replays(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    shutil.copyfile(_FIXTURE, path)
    with tally.open(f"sqlite:///{path}") as ledger:
        report = ledger.verify()
        assert report.ok, report.problems
        assert (report.head_seq, report.transfers) == (19, 9)
        recorded = {id: ledger.transfer(id) for id in ("fund-1", "t-1", "t-2", "r-1", "too-much", "h-1", "b-1")}
        before = (ledger.balance("user:1"), ledger.balance("user:2"), ledger.audit_head())
        assert (before[0].posted, before[1].posted) == (380, 618)
        retries = {
            "fund-1": cmd.create_transfer("@bank", "user:1", 1000, id="fund-1"),
            "t-1": cmd.create_transfer("user:1", "user:2", 500, id="t-1"),
            "t-2": cmd.create_transfer("user:1", "user:2", 100, id="t-2", **EVERY_FIELD),
            "r-1": cmd.reverse_transfer("t-1", id="r-1", amount=7, reason="refund", metadata={"k": 1}),
            "h-1": cmd.create_transfer("user:1", "user:2", 40, id="h-1", pending=True),
        }
        for id, command in retries.items():
            written = ledger.write(command)
            assert (written.created, written.result) == (False, recorded[id])
        # A recorded rejection replays as the same rejection, with its transfer.
        with pytest.raises(tally.InsufficientFunds) as rejected:
            ledger.transfer("user:2", "user:1", 10_000, id="too-much")
        assert rejected.value.transfer == recorded["too-much"]
        batch = [
            {"id": "b-1", "source": "user:2", "destination": "user:1", "amount": 3},
            {"id": "b-2", "source": "user:2", "destination": "@bank", "amount": 2},
        ]
        assert ledger.transfer_batch(batch, atomic=True)[0] == recorded["b-1"]
        assert ledger.post("h-1", amount=30) == recorded["h-1"]
        # The same id with other fields is still a conflict.
        with pytest.raises(tally.IdConflict):
            ledger.transfer("user:1", "user:2", 501, id="t-1")
        with pytest.raises(tally.IdConflict):
            ledger.transfer("user:1", "user:2", 100, id="t-2", **{**EVERY_FIELD, "reason": "rent"})
        with pytest.raises(tally.IdConflict):
            ledger.reverse("t-1", id="r-1", amount=8, reason="refund", metadata={"k": 1})
        assert (ledger.balance("user:1"), ledger.balance("user:2"), ledger.audit_head()) == before
        account = ledger.account("user:2")
        assert (account.metadata, account.max_balance, account.status) == ({"note": "vip"}, 100_000, "open")
        assert ledger.currency("PTS").scale == 0
        # And it goes on: a new transfer, then its own retry.
        ledger.transfer("user:2", "user:1", 118, id="t-3")
        assert ledger.write(cmd.create_transfer("user:2", "user:1", 118, id="t-3")).created is False
        assert (ledger.balance("user:1").posted, ledger.balance("user:2").posted) == (498, 500)
        assert_books_balance(ledger)
        # Its schema was migrated to the indexes of revision 0002: each account
        # still lists every transfer that names it, the hold and the rejection too.
        everything = ledger.transfers(limit=1000).items
        for account in ("@bank", "user:1", "user:2"):
            touching = [t.id for t in everything if account in (t.source, t.destination)]
            assert [t.id for t in ledger.transfers(account=account, limit=1000).items] == touching
        assert {"h-1", "too-much", "t-3"} <= {t.id for t in ledger.transfers(account="user:2").items}


def test_a_transfer_stored_with_a_0_1_0_fingerprint_is_replayed_on_either_store(ledger_url: str) -> None:
    # PostgreSQL has no file to keep from 0.1.0: its transfers' fingerprints
    # are set back to 0.1.0's form, as an upgraded ledger holds them.
    with tally.open(ledger_url) as ledger:
        ledger.create_account("@bank", currency="USD", min_balance=None)
        ledger.create_account("user:1", currency="USD")
        ledger.transfer("@bank", "user:1", 100, id="old-1", reason="then", metadata={"n": 1})
        ledger.reverse("old-1", id="old-r", amount=10)
    raw = RawDatabase(ledger_url)
    try:
        for command in (
            cmd.create_transfer("@bank", "user:1", 100, id="old-1", reason="then", metadata={"n": 1}),
            cmd.reverse_transfer("old-1", id="old-r", amount=10),
        ):
            old = cmd.fingerprint_0_1_0(command)
            raw.execute(f"UPDATE transfers SET fingerprint = '{old}' WHERE id = '{command.id}'")
    finally:
        raw.close()
    with tally.open(ledger_url) as ledger:
        head = ledger.audit_head()
        again = ledger.write(cmd.create_transfer("@bank", "user:1", 100, id="old-1", reason="then", metadata={"n": 1}))
        assert (again.created, again.result.id, again.result.amount) == (False, "old-1", 100)
        assert ledger.write(cmd.reverse_transfer("old-1", id="old-r", amount=10)).created is False
        with pytest.raises(tally.IdConflict):
            ledger.transfer("@bank", "user:1", 100, id="old-1", reason="then", metadata={"n": 2})
        assert ledger.audit_head() == head
        assert ledger.balance("user:1").posted == 90
