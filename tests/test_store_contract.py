"""Store-level behaviours, the same on SQLite and on PostgreSQL.

Migrations (twice, and by several processes opening a fresh database at
once), reads from many threads beside the writers, balances as of a past
point, pagination, API keys; and, on PostgreSQL, that lost connections are
taken again.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import sqlite3
import threading
import time
from datetime import timedelta
from typing import Any

import psycopg
import pytest

import tally
from tally.core import commands as cmd
from tally.core.account import Account
from tally.core.clock import to_datetime
from tally.core.events import KINDS
from tally.core.transfer import Transfer
from tally.keys import authenticate, authenticate_all, create_key, list_keys, revoke_key
from tally.store.base import STREAM_EVENTS, Changes, Head
from tally.store.migrate import alembic_config, head_revision, rewrite_sqlite_checks, run_alembic
from tally.store.schema import (
    SCHEMA_REVISION,
    SCHEMA_REVISIONS,
    SQLITE_0001,
    SQLITE_0003_TABLES,
    checks_without_in_lists,
)
from tally.store.sqlite import sqlite_path
from tests.concurrency.harness import RawDatabase, journal, run_threads, run_together
from tests.concurrency.workers import open_at_once
from tests.support import FakeClock, assert_books_balance


def _revisions(url: str) -> list[tuple[Any, ...]]:
    raw = RawDatabase(url)
    try:
        return raw.execute("SELECT version_num FROM alembic_version")
    finally:
        raw.close()


def _run_alembic_again(url: str, revision: str = "head") -> None:
    """Alembic itself, not the store's fast path: up to `revision`, on a schema at it or before it."""
    import psycopg
    from alembic import command
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from tally.store.postgres import conninfo
    from tally.store.sqlite import sqlite_path

    if url.startswith("sqlite"):
        engine = create_engine(f"sqlite:///{sqlite_path(url)[0]}", poolclass=NullPool)
    else:
        engine = create_engine(
            "postgresql+psycopg://", creator=lambda: psycopg.connect(conninfo(url)), poolclass=NullPool
        )
    try:
        with engine.begin() as connection:
            if revision == "head":
                run_alembic(connection)
            else:
                command.upgrade(alembic_config(connection), revision)
    finally:
        engine.dispose()


def _seed(ledger: tally.Ledger) -> None:
    ledger.create_account("@world", currency="USD", min_balance=None)
    ledger.create_account("user:1", currency="USD")
    ledger.transfer("@world", "user:1", 250, id="seed")


# --- migrations ---------------------------------------------------------------------


def test_migrating_twice_keeps_the_data_and_the_revision(ledger_url: str) -> None:
    with tally.open(ledger_url) as ledger:
        _seed(ledger)
    with tally.open(ledger_url) as ledger:
        assert ledger.balance("user:1").posted == 250
    _run_alembic_again(ledger_url)
    assert head_revision() == SCHEMA_REVISION
    assert _revisions(ledger_url) == [(SCHEMA_REVISION,)]
    with tally.open(ledger_url) as ledger:
        assert ledger.balance("user:1").posted == 250
        assert ledger.transfer("seed").seq == 3
        assert_books_balance(ledger)


def _indexes_of_transfers(url: str) -> set[str]:
    raw = RawDatabase(url)
    try:
        if raw.postgres:
            rows = raw.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'transfers'"
            )
        else:
            rows = raw.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'transfers'")
        return {
            name for (name,) in rows if not name.startswith(("sqlite_autoindex", "transfers_pkey", "transfers_seq"))
        }
    finally:
        raw.close()


def test_revision_0002_finds_transfers_by_account_through_entries_and_indexes_of_holds(ledger_url: str) -> None:
    _run_alembic_again(ledger_url, "0001")
    assert _revisions(ledger_url) == [("0001",)]
    assert _indexes_of_transfers(ledger_url) == {"transfers_due", "transfers_source", "transfers_destination"}
    with tally.open(ledger_url) as ledger:  # opening migrates
        _seed(ledger)
        hold = ledger.transfer("user:1", "@world", 5, id="hold", pending=True)
        ledger.post(hold.id)
        with pytest.raises(tally.InsufficientFunds):
            ledger.transfer("user:1", "@world", 10_000, id="too-much")
        ledger.transfer("user:1", "@world", 7, id="direct")
        assert [t.id for t in ledger.transfers(account="user:1").items] == ["seed", "hold", "too-much", "direct"]
    assert _revisions(ledger_url) == [(SCHEMA_REVISION,)]
    assert _indexes_of_transfers(ledger_url) == {"transfers_due", "transfers_held_source", "transfers_held_destination"}


def _sqlite(path: str) -> contextlib.closing[sqlite3.Connection]:
    """A plain connection to a ledger's SQLite file, in autocommit mode, closed at the end of its `with`."""
    return contextlib.closing(sqlite3.connect(path, isolation_level=None))


def _tables_sql(path: str) -> dict[str, str]:
    with _sqlite(path) as raw:
        return dict(raw.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall())


def _sqlite_at_0002(url: str) -> tuple[str, dict[str, str]]:
    """A new SQLite ledger migrated to revision 0002 alone: its file and its tables' text."""
    _run_alembic_again(url, "0002")
    path = sqlite_path(url)[0]
    return path, _tables_sql(path)


# Every column whose CHECK listed its values, each value it allows, and values it must refuse.
_LISTED = {
    "journal": ("kind", KINDS, ("transfer", "TRANSFER_POSTED", "transfer_posted ", "")),
    "accounts": ("status", ("open", "frozen", "closed"), ("opened", "OPEN", "")),
    "transfers": ("status", ("posted", "pending", "voided", "expired", "rejected"), ("void", "Posted", "")),
    "api_keys": ("role", ("admin", "staff", "writer", "reader"), ("owner", "Admin", "")),
}


def _allows(table_sql: str, column: str, value: str | None) -> bool:
    """Whether a table created from `table_sql` takes a row whose `column` is `value`.

    The other columns: NULL where allowed, else 1 (the journal's data `{}`), so
    that only the listed column's CHECK can refuse the row.
    """
    table = table_sql.split()[2]
    with contextlib.closing(sqlite3.connect(":memory:")) as scratch:
        scratch.execute(table_sql)
        columns = scratch.execute('SELECT name, "notnull" FROM pragma_table_info(?)', (table,)).fetchall()
        row = {name: 1 if not_null else None for name, not_null in columns} | {"data": "{}", "reversed_amount": 0}
        row = {name: row[name] for name, _ in columns} | {column: value}
        if table == "transfers" and value == "rejected":
            row |= {"code": "x", "amount": 0}
        try:
            scratch.execute(
                f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values())
            )
        except sqlite3.IntegrityError as error:
            assert "CHECK constraint failed" in str(error)
            return False
        return True


def test_checks_without_in_lists_allow_and_refuse_exactly_what_the_in_lists_did() -> None:
    tables = {statement.split()[2]: statement for statement in SQLITE_0001 if statement.startswith("CREATE TABLE")}
    rewritten = 0
    for name, (column, allowed, refused) in _LISTED.items():
        before, after = tables[name], checks_without_in_lists(tables[name])
        assert f"{column} IN (" in before and f"{column} IN (" not in after
        for value in (*allowed, *refused):
            assert _allows(before, column, value) is _allows(after, column, value) is (value in allowed), value
        rewritten += 1
    assert rewritten == len(SQLITE_0003_TABLES)
    # on_expiry's two values, an IN list too, inside an OR; `pending IN (0, 1)` lists numbers and stays
    transfers = checks_without_in_lists(tables["transfers"])
    assert "on_expiry IS NULL OR (on_expiry = 'void' OR on_expiry = 'post')" in transfers
    assert "pending IN (0, 1)" in transfers
    for value in ("void", "post", None, "expire", "VOID"):
        assert _allows(tables["transfers"], "on_expiry", value) is _allows(transfers, "on_expiry", value)
    for name in set(tables) - set(SQLITE_0003_TABLES):
        assert checks_without_in_lists(tables[name]) == tables[name]


def test_revision_0003_rewrites_sqlite_checks_in_place_and_keeps_their_rules(sqlite_url: str) -> None:
    path, at_0002 = _sqlite_at_0002(sqlite_url)
    with _sqlite(path) as raw:
        (version_before,) = raw.execute("PRAGMA schema_version").fetchone()
    with tally.open(sqlite_url) as ledger:  # opening migrates
        _seed(ledger)
        hold = ledger.transfer("user:1", "@world", 5, id="hold", pending=True)
        ledger.void(hold.id)
        assert ledger.balance("user:1").posted == 250
        assert ledger.verify().ok
    assert _revisions(sqlite_url) == [("0003",)]
    migrated = _tables_sql(path)
    assert migrated == {name: checks_without_in_lists(sql) for name, sql in at_0002.items()}
    for name, (column, _, _) in _LISTED.items():
        assert f"{column} IN (" in at_0002[name] and f"{column} IN (" not in migrated[name]
    new_url = sqlite_url.replace("ledger.sqlite3", "new.sqlite3")
    tally.open(new_url).close()
    assert _tables_sql(sqlite_path(new_url)[0]) == migrated  # a new ledger and a migrated one: the same tables
    with _sqlite(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert raw.execute("PRAGMA schema_version").fetchone()[0] > version_before
        assert raw.execute("PRAGMA writable_schema").fetchone()[0] == 0
        with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
            raw.execute("UPDATE transfers SET status = 'bounced' WHERE id = 'hold'")
        with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
            raw.execute("UPDATE accounts SET status = 'gone' WHERE id = 'user:1'")
        assert raw.execute("SELECT status FROM transfers WHERE id = 'hold'").fetchone() == ("voided",)


class _Defensive:
    """A SQLite connection that refuses to edit its schema, as one built with SQLITE_DBCONFIG_DEFENSIVE does."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __call__(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        if sql.startswith("UPDATE sqlite_master"):
            raise sqlite3.OperationalError("table sqlite_master may not be modified")
        return self.connection.execute(sql, parameters)


def test_a_sqlite_that_will_not_edit_its_schema_keeps_the_in_lists_and_still_migrates(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    path, at_0002 = _sqlite_at_0002(sqlite_url)
    with _sqlite(path) as raw:
        (version,) = raw.execute("PRAGMA schema_version").fetchone()
        raw.execute("BEGIN IMMEDIATE")
        with caplog.at_level("WARNING", logger="tally.migrate"):
            assert rewrite_sqlite_checks(_Defensive(raw)) is False
        assert "SQLite refused to edit its schema" in caplog.text
        assert raw.in_transaction  # the migration's transaction goes on, without the savepoint
        raw.execute("UPDATE alembic_version SET version_num = '0003'")
        raw.execute("COMMIT")
        assert raw.execute("PRAGMA schema_version").fetchone()[0] == version
        assert raw.execute("PRAGMA writable_schema").fetchone()[0] == 0
    assert _tables_sql(path) == at_0002
    with tally.open(sqlite_url) as ledger:
        _seed(ledger)
        assert ledger.verify().ok
    with _sqlite(path) as raw:
        assert rewrite_sqlite_checks(raw.execute) is True  # an ordinary SQLite, later: nothing blocks it
        assert _tables_sql(path) != at_0002


def test_a_rewritten_check_that_does_not_make_a_table_leaves_the_schema_alone(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Each new text is tried in a scratch database first: one that SQLite
    # cannot take (here a catalog text cut short) never reaches the file.
    path, at_0002 = _sqlite_at_0002(sqlite_url)
    ran: list[str] = []
    with _sqlite(path) as raw:

        def execute(sql: str, parameters: Any = ()) -> Any:
            ran.append(sql)
            if sql.startswith("SELECT name, sql FROM sqlite_master"):
                return raw.execute("SELECT 'journal', ?", (at_0002["journal"][:-20],))
            return raw.execute(sql, parameters)

        raw.execute("BEGIN IMMEDIATE")
        with caplog.at_level("WARNING", logger="tally.migrate"):
            assert rewrite_sqlite_checks(execute) is False
        raw.execute("COMMIT")
    assert len(ran) == 1  # the catalog read, and nothing after it
    assert "keep their IN lists" in caplog.text
    assert _tables_sql(path) == at_0002


def test_schema_revisions_are_every_migration_in_order() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(None))
    assert tuple(reversed([revision.revision for revision in script.walk_revisions()])) == SCHEMA_REVISIONS


def test_a_schema_migrated_by_a_newer_tally_is_refused_and_left_as_it_is(ledger_url: str) -> None:
    with tally.open(ledger_url) as ledger:
        _seed(ledger)
    raw = RawDatabase(ledger_url)
    try:
        raw.execute("UPDATE alembic_version SET version_num = '9001'")
    finally:
        raw.close()
    with pytest.raises(tally.ValidationError) as refused:
        tally.open(ledger_url)
    assert refused.value.code == "validation_error" and refused.value.field == "url"
    assert "revision 9001" in refused.value.message and SCHEMA_REVISION in refused.value.message
    assert _revisions(ledger_url) == [("9001",)]  # nothing was run on it


@pytest.mark.timeout(120)
def test_processes_opening_a_fresh_database_at_once_migrate_it_once(ledger_url: str) -> None:
    names = [f"p{n}" for n in range(4)]
    opened, _ = run_together(open_at_once, [(ledger_url, name) for name in names], lambda barrier: barrier.wait())
    assert sorted(opened) == names
    assert _revisions(ledger_url) == [(SCHEMA_REVISION,)]
    with tally.open(ledger_url) as ledger:
        kinds = [(kind, data.get("id")) for _, kind, data in journal(ledger) if kind == "account_opened"]
        assert sorted(kinds) == sorted([("account_opened", "shared")] + [("account_opened", f"own:{n}") for n in names])
        assert ledger.balance("shared").posted == -10 * len(names)
        assert_books_balance(ledger)


# --- reads beside writes ------------------------------------------------------------------


def _check_statement(ledger: tally.Ledger, id: str) -> None:
    entries = ledger.entries(id, limit=1000).items
    for before, after in itertools.pairwise(entries):
        assert after.seq > before.seq
        assert after.balance_after == before.balance_after + after.amount


def _reader(ledger: tally.Ledger, accounts: list[str], writing: threading.Event, seed: int) -> int:
    rng, reads, last_head = random.Random(seed), 0, 0
    while writing.is_set() or reads < 20:
        id = rng.choice(accounts)
        assert ledger.account(id).available >= 0
        _check_statement(ledger, id)
        head = ledger.audit_head()[0]
        assert head >= last_head, "the head never goes back"
        last_head = head
        events = ledger.events(after=max(0, head - 20), limit=50).items
        assert [e.seq for e in events] == list(range(events[0].seq, events[0].seq + len(events))) if events else True
        reads += 1
    return reads


@pytest.mark.timeout(120)
def test_reads_from_many_threads_run_beside_the_writers(ledger_url: str) -> None:
    accounts = [f"acct:{n}" for n in range(5)]
    with tally.open(ledger_url) as ledger:
        ledger.create_account("@world", currency="USD", min_balance=None)
        for id in accounts:
            ledger.create_account(id, currency="USD")
            ledger.transfer("@world", id, 300, id=f"fill.{id}")
        writing = threading.Event()
        writing.set()

        def work(index: int) -> int:
            if index >= 4:
                return _reader(ledger, accounts, writing, index)
            rng = random.Random(index)
            for n in range(40):
                source, destination = rng.sample(accounts, 2)
                with contextlib.suppress(tally.InsufficientFunds):
                    ledger.transfer(source, destination, rng.randint(1, 200), id=f"w{index}.{n}")
            return 0

        def run(index: int) -> int:
            try:
                return work(index)
            finally:
                if index == 0:
                    writing.clear()

        reads = run_threads(16, run)
        assert sum(reads) >= 12 * 20
        for id in accounts:
            _check_statement(ledger, id)
        assert_books_balance(ledger)


# --- as_of and pages ------------------------------------------------------------------


def test_balance_as_of_a_seq_or_a_time_is_the_posted_balance_then(ledger: tally.Ledger, clock: FakeClock) -> None:
    start = to_datetime(int(clock() * 1_000_000))
    _seed(ledger)  # seqs 1-3
    clock.advance(60)
    ledger.transfer("user:1", "@world", 100, id="spend")  # seq 4
    clock.advance(60)
    ledger.transfer("@world", "user:1", 5, id="more")  # seq 5
    assert ledger.balance("user:1", as_of=2).posted == 0
    assert ledger.balance("user:1", as_of=3).posted == 250
    assert ledger.balance("user:1", as_of="4") == tally.BalanceAsOf(150, 4)
    assert ledger.balance("user:1", as_of=start - timedelta(seconds=1)).posted == 0
    assert ledger.balance("user:1", as_of=start + timedelta(seconds=30)) == tally.BalanceAsOf(250, 3)
    assert ledger.balance("user:1", as_of=start + timedelta(seconds=90)) == tally.BalanceAsOf(150, 4)
    later = (start + timedelta(seconds=3600)).isoformat().replace("+00:00", "Z")
    assert ledger.balance("user:1", as_of=later) == tally.BalanceAsOf(155, 5)


def test_pages_of_accounts_follow_byte_order_and_the_prefix(ledger: tally.Ledger) -> None:
    ids = ["user:1", "user:10", "user:2", "user_a", "user-b", "user.c", "User:9", "user@x", "us", "v"]
    for id in ids:
        ledger.create_account(id, currency="USD")
    for prefix in (None, "user", "user_", "user:1"):
        seen: list[str] = []
        after = None
        while True:
            page = ledger.accounts(prefix, after=after, limit=2)
            seen += [a.id for a in page.items]
            if page.next is None:
                break
            after = page.next
        assert seen == sorted(id for id in ids if prefix is None or id.startswith(prefix)), prefix


def test_pages_of_entries_transfers_and_events_cover_everything_once(ledger: tally.Ledger) -> None:
    _seed(ledger)
    for n in range(20):
        ledger.transfer("user:1", "@world", 1, id=f"out{n}")
        if n % 4 == 0:
            with pytest.raises(tally.InsufficientFunds):
                ledger.transfer("user:1", "@world", 10_000, id=f"big{n}")
    for order in ("asc", "desc"):
        seqs: list[int] = []
        after: str | None = None
        while True:
            page = ledger.entries("user:1", after=after, limit=7, order=order)
            seqs += [e.seq for e in page.items]
            if page.next is None:
                break
            after = page.next
        assert seqs == sorted(seqs, reverse=order == "desc") and len(seqs) == len(set(seqs)) == 21
    transfers = _all_transfers(ledger, account="user:1")
    assert len(transfers) == 26 and transfers == sorted(transfers)
    assert len(_all_transfers(ledger, status="rejected")) == 5
    events: list[int] = []
    cursor = 0
    while page_events := ledger.events(after=cursor, limit=10).items:
        events += [e.seq for e in page_events]
        cursor = page_events[-1].seq
    assert events == list(range(1, ledger.audit_head()[0] + 1))


def _paged(ledger: tally.Ledger, limit: int = 4, **filters: Any) -> list[Transfer]:
    """Every transfer `ledger.transfers(**filters)` lists, page by page of `limit`."""
    found: list[Transfer] = []
    after: str | None = None
    while True:
        page = ledger.transfers(after=after, limit=limit, **filters)
        found += page.items
        if page.next is None:
            return found
        after = page.next


def _all_transfers(ledger: tally.Ledger, **filters: Any) -> list[int]:
    return [t.seq for t in _paged(ledger, **filters) if t.seq is not None]


def test_a_transfer_to_the_same_account_is_listed_once_in_its_history(ledger: tally.Ledger) -> None:
    _seed(ledger)
    with pytest.raises(tally.LedgerError) as refused:
        ledger.transfer("user:1", "user:1", 5, id="self")
    assert refused.value.code == "same_account"
    assert [t.id for t in ledger.transfers(account="user:1").items] == ["seed", "self"]


def _make_every_kind_of_transfer(ledger: tally.Ledger, clock: FakeClock, accounts: list[str], seed: int) -> None:
    """Direct transfers, overdrafts, same-account refusals, holds posted in full or
    in part, voided, expired either way, reversals and batches, in a random order."""
    rng = random.Random(seed)
    holds: list[str] = []
    posted: list[str] = []
    for n in range(160):
        source, destination = rng.sample(accounts, 2)
        roll = rng.random()
        with contextlib.suppress(tally.LedgerError):
            if roll < 0.3:
                amount = rng.choice([5, 40, 10_000])  # the last one overdraws
                posted.append(ledger.transfer(source, destination, amount, id=f"d{n}").id)
            elif roll < 0.35:
                ledger.transfer(source, source, 5, id=f"self{n}")
            elif roll < 0.55:
                expiry = rng.choice([None, 30, 90])
                hold = ledger.transfer(
                    source, destination, rng.choice([10, 20]), id=f"h{n}", pending=True, expires_in=expiry,
                    on_expiry=rng.choice(["void", "post"]) if expiry else None,
                )  # fmt: skip
                holds.append(hold.id)
            elif roll < 0.7 and holds:
                hold_id = holds.pop(rng.randrange(len(holds)))
                if rng.random() < 0.6:
                    posted.append(ledger.post(hold_id, amount=rng.choice([None, 3])).id)
                else:
                    ledger.void(hold_id)
            elif roll < 0.8 and posted:
                ledger.reverse(rng.choice(posted), amount=1, id=f"r{n}")
            elif roll < 0.9:
                items = [
                    {"source": a, "destination": b, "amount": 2} for a, b in (rng.sample(accounts, 2) for _ in range(3))
                ]
                ledger.transfer_batch(items)
            else:
                clock.advance(rng.choice([10, 60]))
                ledger.expire_due()


@pytest.mark.parametrize("seed", [1, 2])
def test_an_accounts_transfers_are_every_transfer_that_touches_it_whatever_became_of_it(
    ledger: tally.Ledger, clock: FakeClock, seed: int
) -> None:
    # Direct transfers are found through the account's entries, the others
    # through indexes of holds and rejections (schema 0002): the listing must
    # be exactly the transfers that name the account, each once, in seq order,
    # by any page size, status and scope.
    accounts = ["user:1", "user:2", "user:3", "shop:1"]
    ledger.create_account("@world", currency="USD", min_balance=None)
    for account in accounts:
        ledger.create_account(account, currency="USD")
        ledger.transfer("@world", account, 500)
    _make_every_kind_of_transfer(ledger, clock, accounts, seed)
    clock.advance(100)  # the holds left with an expiry come due: a listing expires them first
    everything = [ledger.transfer(t.id) for t in _paged(ledger, limit=50)]
    statuses = {t.status for t in everything}
    assert statuses == {"posted", "pending", "voided", "expired", "rejected"}, statuses
    assert any(t.posted_amount and t.posted_amount < t.amount for t in everything if t.pending), "a partial post"
    for account in [*accounts, "@world"]:
        for status in (None, "posted", "pending", "voided", "expired", "rejected"):
            for prefix in (None, "user:"):
                expected = [
                    t.id for t in everything
                    if account in (t.source, t.destination) and status in (None, t.status)
                    and (prefix is None or t.source.startswith(prefix) or t.destination.startswith(prefix))
                ]  # fmt: skip
                for limit in (1, 3, 100):
                    listed = _paged(ledger, limit, account=account, status=status, prefix=prefix)
                    assert [t.id for t in listed] == expected, (account, status, limit)


# --- API keys ---------------------------------------------------------------------------


def test_api_keys_are_stored_found_by_their_token_and_revoked_once(ledger: tally.Ledger, clock: FakeClock) -> None:
    key, token = create_key(ledger, "writer", accounts="user:", name="shop")
    clock.advance(1)  # keys are listed by creation time
    other, _ = create_key(ledger, "reader")
    assert authenticate(ledger, token) == key
    assert authenticate(ledger, token + "x") is None
    assert [k.id for k in list_keys(ledger)] == [key.id, other.id]
    assert revoke_key(ledger, key.id) is True
    assert revoke_key(ledger, key.id) is False
    assert authenticate(ledger, token) is None
    assert [k.active for k in list_keys(ledger)] == [False, True]


def test_several_tokens_are_authenticated_in_one_read(ledger: tally.Ledger) -> None:
    # Concurrent HTTP requests across a network read their keys in one query (bench/ANALYSIS.md).
    writer, writer_token = create_key(ledger, "writer")
    reader, reader_token = create_key(ledger, "reader", accounts="user:")
    revoked, revoked_token = create_key(ledger, "writer")
    revoke_key(ledger, revoked.id)
    tokens = [writer_token, reader_token, revoked_token, writer_token + "x", "not-a-token", "tly_" + "a" * 300]
    assert authenticate_all(ledger, tokens) == {writer_token: writer, reader_token: reader}
    assert authenticate_all(ledger, [writer_token, writer_token]) == {writer_token: writer}
    assert authenticate_all(ledger, []) == {}
    for token in tokens:
        assert authenticate_all(ledger, [token]).get(token) == authenticate(ledger, token)
    assert ledger.store.keys_by_hashes([]) == []


# --- a closed ledger ------------------------------------------------------------------------


def test_a_closed_ledger_refuses_reads_and_keys_from_any_thread(ledger_url: str) -> None:
    """No read reopens the database, also in a thread that never read before the close
    (SQLite opens a read connection per thread when one first reads)."""
    opened = tally.open(ledger_url)
    opened.create_account("user:1", currency="USD")
    _, token = create_key(opened, "reader")
    assert opened.balance("user:1").posted == 0 and authenticate(opened, token) is not None
    opened.close()
    calls = {
        "balance": lambda: opened.balance("user:1"),
        "key": lambda: authenticate(opened, token),
        "new key": lambda: create_key(opened, "reader"),
        "verify": opened.verify,
    }
    for name, call in calls.items():
        try:
            run_threads(1, lambda _, call=call: call())  # a thread that never read before the close
        except Exception:  # noqa: BLE001 - any refusal will do; an answer will not
            continue
        pytest.fail(f"{name} answered after close()")


# --- PostgreSQL: lost connections ------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_store_takes_a_new_connection_after_the_database_ended_its_old_ones(postgres_url: str) -> None:
    with tally.open(postgres_url) as ledger:
        _seed(ledger)
        store: Any = ledger.store
        writer_pid = store._writer.info.backend_pid
        reader_pid = store._one("SELECT pg_backend_pid()")[0]
        admin = RawDatabase(postgres_url)
        try:
            admin.execute(f"SELECT pg_terminate_backend({writer_pid}), pg_terminate_backend({reader_pid})")
        finally:
            admin.close()
        assert ledger.balance("user:1").posted == 250
        ledger.transfer("@world", "user:1", 1, id="after-cut")
        assert store._writer.info.backend_pid != writer_pid
        assert ledger.balance("user:1").posted == 251
        assert_books_balance(ledger)


def test_postgres_url_of_an_unreachable_server_is_unavailable() -> None:
    with pytest.raises(tally.Unavailable):
        tally.open("postgresql://postgres@127.0.0.1:1/test?connect_timeout=2")


def test_postgres_url_that_libpq_cannot_parse_is_a_validation_error() -> None:
    with pytest.raises(tally.ValidationError):
        tally.open("postgresql://127.0.0.1/test?no_such_parameter=1")


# --- big writes -----------------------------------------------------------------------------


def test_a_batch_of_a_thousand_transfers_reads_back_exactly_as_written(ledger: tally.Ledger) -> None:
    # Big writes take the bulk path (a JSON array of rows on PostgreSQL, sent
    # in parts): text that needs escaping, NULLs, booleans and 64-bit values
    # must survive it unchanged.
    awkward = "tab\there, newline\nthere, back\\slash, quote' \" , NUL-free ünïcödé ✓, \\N"
    ledger.create_account("@world", currency="USD", min_balance=None)
    ledger.create_account("big", currency="USD", metadata={"note": awkward})
    items = [
        {
            "source": "@world",
            "destination": "big",
            "amount": 2**40 + n,
            "id": f"bulk.{n}",
            "reason": awkward if n % 2 else None,
            "metadata": {"n": n, "text": awkward} if n % 3 else {},
            "pending": n % 5 == 0,
            **({"expires_in": 3600} if n % 5 == 0 else {}),
        }
        for n in range(1000)
    ]
    written = ledger.transfer_batch(items)
    assert [t.id for t in written] == [f"bulk.{n}" for n in range(1000)]
    for n in (0, 1, 2, 3, 5, 999):
        assert ledger.transfer(f"bulk.{n}") == written[n]
    assert ledger.account("big").metadata == {"note": awkward}
    pending = sum(2**40 + n for n in range(1000) if n % 5 == 0)
    assert ledger.balance("big").pending_in == pending
    assert ledger.balance("big").posted == sum(2**40 + n for n in range(1000)) - pending
    assert_books_balance(ledger)


@pytest.mark.parametrize("count", [4, 80])
def test_a_batch_that_changes_many_accounts_keeps_every_column_of_each(ledger: tally.Ledger, count: int) -> None:
    # On PostgreSQL a few changed accounts go in one statement of a VALUES list
    # of rows, many in one of arrays, each joined by id: a column taken from
    # the wrong row or array, or a NULL lost, would show here as a limit,
    # status or metadata that changed with a balance.
    awkward = "tab\there, quote' \" , ünïcödé ✓, \\N, {braces}, NULL"
    ledger.create_account("@world", currency="USD", min_balance=None)
    shapes: list[dict[str, Any]] = [
        {"min_balance": None},
        {"min_balance": -500, "max_balance": 2**50},
        {"clearing_seconds": 3600, "metadata": {"note": awkward, "n": [1, None]}},
        {"max_balance": 10**6, "metadata": {"NULL": None}},
    ]
    ids = [f"many:{n:03}" for n in range(count)]
    for n, id in enumerate(ids):
        ledger.create_account(id, currency="USD", **shapes[n % len(shapes)])
    ledger.freeze(ids[-1], reason="frozen: takes no part")
    before = {id: ledger.account(id) for id in ids}
    live = ids[:-1]
    # Deposits into a clearing account stay pending: those do not spend.
    spenders = [id for n, id in enumerate(live) if "clearing_seconds" not in shapes[n % len(shapes)]]
    items: list[dict[str, Any]] = [{"source": "@world", "destination": id, "amount": 1_000} for id in live]
    items += [{"source": id, "destination": nxt, "amount": 7} for id, nxt in itertools.pairwise(spenders)]
    items += [{"source": id, "destination": "@world", "amount": 3, "pending": True} for id in spenders[::3]]
    written = ledger.transfer_batch(items)
    assert not [t for t in written if t.is_rejected]
    for id in ids:
        now, then = ledger.account(id), before[id]
        kept = ("currency", "min_balance", "max_balance", "clearing_seconds", "status", "metadata", "seq")
        assert {name: getattr(now, name) for name in kept} == {name: getattr(then, name) for name in kept}, id
    assert_books_balance(ledger)
    assert ledger.verify().ok


def test_a_long_batch_sent_in_parts_records_the_changes_to_its_earlier_parts(ledger: tally.Ledger) -> None:
    # A long batch reaches a store that streams (PostgreSQL) in parts as it is
    # decided (STREAM_EVENTS each): reversals late in the batch change
    # transfers of its first part, already sent as new rows, and those changes
    # must be written too. SQLite takes the whole group at its end.
    ledger.create_account("@world", currency="USD", min_balance=None)
    ids = [f"part:{n}" for n in range(40)]
    for id in ids:
        ledger.create_account(id, currency="USD")
    first = [{"source": "@world", "destination": id, "amount": 1_000, "id": f"fund.{n}"} for n, id in enumerate(ids)]
    moves = [
        {"source": ids[n % 40], "destination": ids[(n + 1) % 40], "amount": 1 + n % 5, "id": f"move.{n}"}
        for n in range(2 * STREAM_EVENTS)
    ]
    overdraft = [{"source": ids[0], "destination": ids[1], "amount": 10**9, "id": "too.much"}]
    reversals = [{"reverses": f"fund.{n}", "amount": 100, "id": f"back.{n}.{k}"} for k in range(2) for n in range(40)]
    items = first + moves + overdraft + reversals
    assert len(items) > 2 * STREAM_EVENTS
    written = ledger.transfer_batch(items)
    assert [t.id for t in written] == [item["id"] for item in items]
    assert [t.id for t in written if t.is_rejected] == ["too.much"]
    for n in range(40):
        assert ledger.transfer(f"fund.{n}").reversed_amount == 200
    assert ledger.transfer("too.much").code == "insufficient_funds"
    assert_books_balance(ledger)
    assert ledger.verify().ok


def test_a_long_group_reaches_the_store_in_parts_only_if_the_store_asks_for_them(
    ledger: tally.Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL's server writes one part while the engine decides the next;
    # SQLite writes in the caller's thread, where parts only cost, so it takes
    # the whole group at its end (bench/ANALYSIS.md).
    store = ledger.store
    assert store.stream_events == (None if store.dialect == "sqlite" else STREAM_EVENTS)
    ledger.create_account("@world", currency="USD", min_balance=None)
    ledger.create_account("part:a", currency="USD")
    parts: list[tuple[int, bool]] = []
    write = store.write

    def counted(changes: Changes) -> None:
        parts.append((len(changes.journal), changes.head is not None))
        write(changes)

    monkeypatch.setattr(store, "write", counted)
    count = 2 * STREAM_EVENTS + STREAM_EVENTS // 2
    written = ledger.transfer_batch([{"source": "@world", "destination": "part:a", "amount": 1}] * count)
    assert [t.status for t in written] == ["posted"] * count
    if store.stream_events is None:
        assert parts == [(count, True)]
    else:
        assert parts == [(STREAM_EVENTS, False), (STREAM_EVENTS, False), (STREAM_EVENTS // 2, True)]
    assert ledger.balance("part:a").posted == count
    assert ledger.verify().ok


def test_a_transfer_writes_only_the_balances_of_the_accounts_it_moves(
    ledger: tally.Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A transfer changes nothing of an account but its balances: the store
    # gets those alone (no metadata to encode, fewer columns: bench/ANALYSIS.md).
    ledger.create_account("@world", currency="USD", min_balance=None)
    ledger.create_account("move:a", currency="USD", max_balance=1_000, metadata={"tier": "gold"})
    ledger.transfer("@world", "move:a", 10)  # the usual way: the accounts are loaded
    seen: list[Changes] = []
    write = ledger.store.write

    def kept(changes: Changes) -> None:
        seen.append(changes)
        write(changes)

    monkeypatch.setattr(ledger.store, "write", kept)
    ledger.transfer("@world", "move:a", 5)  # decided from the remembered accounts
    ledger.transfer("move:a", "@world", 3, pending=True)
    assert [sorted(a.id for a in c.moved_accounts) for c in seen] == [["@world", "move:a"]] * 2
    assert [c.changed_accounts for c in seen] == [[], []]
    account = ledger.account("move:a")
    assert (account.posted, account.pending_out, account.available) == (15, 3, 12)
    assert (account.max_balance, account.metadata, account.status) == (1_000, {"tier": "gold"}, "open")
    assert ledger.verify().ok


@pytest.mark.parametrize("count", [1, 3, 12])
def test_a_group_that_changes_accounts_settings_and_moves_their_money_writes_both(ledger_url: str, count: int) -> None:
    # In one group: accounts whose settings change and whose money moves (every
    # column written), beside accounts whose money alone moves (balances
    # written). On PostgreSQL one of each is a VALUES list of one row, three
    # of each (and @world) of several, twelve take the path of arrays.
    changed, moved = [f"set:{n:02}" for n in range(count)], [f"move:{n:02}" for n in range(count)]
    with tally.open(ledger_url) as ledger:
        ledger.create_account("@world", currency="USD", min_balance=None)
        for id in changed + moved:
            ledger.create_account(id, currency="USD", metadata={"v": 1})
            ledger.transfer("@world", id, 10)
        commands: list[cmd.Command] = []
        for n, id in enumerate(changed):
            commands += [
                cmd.create_transfer("@world", id, 5, id=f"in-{n}"),
                cmd.update_account(id, {"metadata": {"v": 2, "n": n}, "min_balance": -50}),
                cmd.create_transfer(id, moved[n], 40, id=f"out-{n}"),
                cmd.set_account_status(id, "freeze", "checking"),
            ]
        # One group, as the engine takes concurrent callers' commands.
        written = ledger.engine._run(commands, False)
        assert [w.created for w in written] == [True] * len(commands)
    with tally.open(ledger_url) as again:
        for n, id in enumerate(changed):
            account = again.account(id)
            assert (account.posted, account.min_balance, account.metadata, account.status) == (
                -25, -50, {"v": 2, "n": n}, "frozen",
            )  # fmt: skip
        for id in moved:
            account = again.account(id)
            assert (account.posted, account.min_balance, account.metadata, account.status) == (50, 0, {"v": 1}, "open")
        assert again.verify().ok


@pytest.mark.parametrize("count", [1, 3, 40])
def test_many_new_accounts_and_currencies_in_one_write_read_back_exactly(ledger: tally.Ledger, count: int) -> None:
    # New accounts and currencies in one write: a few go one row per
    # statement, forty take the set-based path (a JSON array of rows on
    # PostgreSQL). Every column, NULLs and awkward metadata included, must
    # come back as it went in.
    awkward = "tab\there, quote' \" , ünïcödé ✓, \\N, {braces}, NULL, [1, 2]"
    store = ledger.store
    head = store.begin(1_700_000_000_000_000, 10).head
    currencies = [(f"QQ{n:02}", n % 19) for n in range(count)]
    accounts = [
        Account(
            f"bulk:{n}", currencies[n][0], currencies[n][1], None if n % 2 else -(2**62), 2**62 if n % 3 else None,
            3600 if n % 4 == 0 else None, ("open", "frozen", "closed")[n % 3],
            {"note": awkward, "n": n} if n % 5 else {},
            1_700_000_000_000_000 + n, n + 1, 2**40 - n, n, 2 * n, f"fp{n:030}",
        )
        for n in range(count)
    ]  # fmt: skip
    store.write(Changes(new_accounts=accounts, currencies=currencies, head=head))
    store.commit()
    for account in accounts:
        stored = store.account(account.id)
        assert stored == account
        assert stored is not None and stored.fingerprint == account.fingerprint
    assert store.currencies().items() >= dict(currencies).items()


def test_a_write_loads_every_id_it_asks_for_whatever_the_number_of_ids(ledger: tally.Ledger) -> None:
    # On PostgreSQL a few ids go as parameters of their own and more as one
    # array: lists of 2, 8, 9 and 12 ids (each with one that does not exist)
    # cross from one to the other.
    ledger.create_account("@world", currency="USD", min_balance=None)
    ids = [f"a.{n}:b@c-d_e" for n in range(11)]
    for n, id in enumerate(ids):
        ledger.create_account(id, currency="USD")
        ledger.transfer("@world", id, 5 + n, id=f"t-{n}")
    # `begin` loads them with the head (one round trip), `load` later on.
    store = ledger.store
    for count in (1, 7, 8, 11):
        account_ids, transfer_ids = [*ids[:count], "missing"], [*(f"t-{n}" for n in range(count)), "t-x"]
        begun = store.begin(store.head().time_us, 10, account_ids, transfer_ids)
        try:
            loaded = [(begun.accounts, begun.transfers), store.load(account_ids, transfer_ids)]
        finally:
            store.rollback()
        for accounts, transfers in loaded:
            assert {id: a.posted for id, a in accounts.items()} == {id: 5 + n for n, id in enumerate(ids[:count])}
            assert {id: (t.destination, t.amount) for id, t in transfers.items()} == {
                f"t-{n}": (ids[n], 5 + n) for n in range(count)
            }


def test_an_account_is_read_with_exactly_its_due_holds(ledger: tally.Ledger, clock: FakeClock) -> None:
    # One query answers both: the account, and the holds touching it (either
    # side) whose time has come; not later ones, not other accounts' ones.
    ledger.create_account("@world", currency="USD", min_balance=None)
    for id in ("a.1:b@c-d_e", "other"):
        ledger.create_account(id, currency="USD")
        ledger.transfer("@world", id, 1_000, id=f"fund-{id}")
    account = "a.1:b@c-d_e"
    ledger.transfer(account, "other", 10, id="out:due@1", pending=True, expires_in=60)
    ledger.transfer("other", account, 20, id="in.due-2_x", pending=True, expires_in=30)
    ledger.transfer(account, "other", 30, id="out-later", pending=True, expires_in=600)
    ledger.transfer("other", "@world", 40, id="not-theirs", pending=True, expires_in=30)
    store = ledger.store
    clock.advance(60)
    found, due = store.account_due(account, ledger.engine.now_us())
    assert found is not None
    assert (found.id, found.posted, found.pending_in, found.pending_out) == (account, 1_000, 20, 40)
    assert sorted(due) == ["in.due-2_x", "out:due@1"]
    assert sorted(store.account_due("other", ledger.engine.now_us())[1]) == ["in.due-2_x", "not-theirs", "out:due@1"]
    assert store.account_due("missing", ledger.engine.now_us()) == (None, [])
    assert ledger.balance(account) == tally.Balance(posted=1_000, pending_in=0, pending_out=30, available=970)
    assert store.account_due(account, ledger.engine.now_us())[1] == []


def test_parts_of_a_write_that_is_rolled_back_or_fails_leave_nothing(ledger: tally.Ledger) -> None:
    # The store's side of a write sent in parts: what a part wrote goes with a
    # rollback, an error in an early part surfaces by the commit at the latest
    # (on PostgreSQL the parts and the COMMIT run in a pipeline, so it shows at
    # its sync) and commits nothing, and the next write starts clean.
    _seed(ledger)
    store = ledger.store
    before = store.head()
    events = list(store.events(0, 1000))

    def rows(first_seq: int, count: int) -> list[tuple[int, int, str, str, str]]:
        data = '{"code":"XTS","scale":2}'
        return [
            (seq, before.time_us, "currency_registered", data, "0" * 64) for seq in range(first_seq, first_seq + count)
        ]

    refused = (sqlite3.IntegrityError, psycopg.errors.UniqueViolation)
    for count in (1, 40):  # one row, and enough for the set-based path
        head = store.begin(before.time_us, 10).head
        store.write(Changes(journal=rows(head.seq + 1, count)))
        store.rollback()
        assert store.head() == before

        # A part the database refuses (its last row repeats a seq), then a
        # rollback: SQLite says so at once, PostgreSQL not until a sync.
        head = store.begin(before.time_us, 10).head
        with contextlib.suppress(*refused):
            store.write(Changes(journal=rows(head.seq + 1, count) + rows(head.seq + count, 1)))
        store.rollback()
        assert store.head() == before

        # The same refusal, then the last part and the commit: they report the error.
        head = store.begin(before.time_us, 10).head
        store.write(Changes(journal=rows(head.seq + 1, count)))
        last = Changes(journal=rows(head.seq + count, 1), head=Head(head.seq + count, "0" * 64, head.time_us))
        with pytest.raises(refused) as raised:
            store.write(last)
            store.commit()
        store.rollback()
        assert not store.is_transient(raised.value)
        assert store.head() == before
        assert list(store.events(0, 1000)) == events

    ledger.transfer("@world", "user:1", 5, id="after")
    assert ledger.balance("user:1").posted == 255
    assert ledger.verify().ok


# --- which database errors the engine may retry ---------------------------------------------------


def _error_of(run: Any) -> BaseException | None:
    try:
        run()
    except Exception as error:  # noqa: BLE001 - the error is the result
        return error
    return None


def _raised(run: Any) -> BaseException:
    error = _error_of(run)
    assert error is not None, "expected the database to refuse"
    return error


@pytest.mark.postgres
def test_postgres_store_retries_lock_timeouts_deadlocks_serialization_failures_and_lost_connections(
    postgres_url: str,
) -> None:
    import psycopg

    from tally.store.postgres import conninfo

    with tally.open(postgres_url) as ledger:
        _seed(ledger)
        store = ledger.store
        one, two = (psycopg.connect(conninfo(postgres_url)) for _ in range(2))
        try:
            lock_head = "SELECT seq FROM ledger_head WHERE id = 1 FOR UPDATE"
            one.execute(lock_head)
            two.execute("SET lock_timeout = '50ms'")
            assert store.is_transient(_raised(lambda: two.execute(lock_head)))
            one.rollback()
            two.rollback()

            two.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            two.execute("SELECT seq FROM ledger_head")
            one.execute("UPDATE ledger_head SET seq = seq")
            one.commit()
            assert store.is_transient(_raised(lambda: two.execute("UPDATE ledger_head SET seq = seq")))
            two.rollback()

            # Two transactions each wait for the other's row: PostgreSQL ends one.
            one.execute("UPDATE accounts SET posted = posted WHERE id = '@world'")
            two.execute("UPDATE accounts SET posted = posted WHERE id = 'user:1'")
            outcomes: list[BaseException | None] = []

            def cross(connection: Any, id: str) -> None:
                outcomes.append(
                    _error_of(lambda: connection.execute(f"UPDATE accounts SET posted = posted WHERE id = '{id}'"))
                )
                connection.rollback()

            crossing = threading.Thread(target=cross, args=(one, "user:1"))
            crossing.start()
            cross(two, "@world")
            crossing.join(timeout=30)
            deadlocks = [error for error in outcomes if error is not None]
            assert len(deadlocks) == 1 and isinstance(deadlocks[0], psycopg.errors.DeadlockDetected)
            assert store.is_transient(deadlocks[0])

            two.execute("SELECT pg_terminate_backend(%s)", (one.info.backend_pid,))
            two.commit()
            assert store.is_transient(_raised(lambda: one.execute("SELECT 1")))

            unique = _raised(lambda: two.execute("INSERT INTO currencies (code, scale) VALUES ('X', 1), ('X', 1)"))
            assert not store.is_transient(unique)
            two.rollback()
        finally:
            one.close()
            two.close()
        assert_books_balance(ledger)


def test_sqlite_store_retries_a_locked_database_but_not_a_refused_row(sqlite_url: str) -> None:
    import sqlite3

    from tally.store.sqlite import sqlite_path

    with tally.open(sqlite_url) as ledger:
        path = sqlite_path(sqlite_url)[0]
        one = sqlite3.connect(path, isolation_level=None, timeout=0)
        two = sqlite3.connect(path, isolation_level=None, timeout=0)
        try:
            one.execute("BEGIN IMMEDIATE")
            assert ledger.store.is_transient(_raised(lambda: two.execute("BEGIN IMMEDIATE")))
            one.execute("ROLLBACK")
            refused = _raised(lambda: one.execute("INSERT INTO currencies (code, scale) VALUES ('X', 99)"))
            assert not ledger.store.is_transient(refused)
        finally:
            one.close()
            two.close()


@pytest.mark.postgres
def test_postgres_url_whose_schema_does_not_exist_is_a_validation_error(postgres_url: str) -> None:
    missing_schema = postgres_url.replace("search_path%3Dt_", "search_path%3Dmissing_")
    assert missing_schema != postgres_url
    with pytest.raises(tally.ValidationError):
        tally.open(missing_schema)


def test_tally_migrate_creates_the_schema_and_says_its_revision(ledger_url: str) -> None:
    import subprocess
    import sys
    from pathlib import Path

    tally_command = Path(sys.executable).with_name("tally")
    for _ in range(2):
        done = subprocess.run(
            [str(tally_command), "--db", ledger_url, "migrate"], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        assert f"revision {SCHEMA_REVISION}" in done.stdout
    assert _revisions(ledger_url) == [(SCHEMA_REVISION,)]


def test_verify_reads_one_snapshot_while_writers_commit(ledger_url: str) -> None:
    """verify() beside live writers never reports a difference that never existed."""
    with tally.open(ledger_url) as ledger:
        ledger.create_account("@world", currency="USD", min_balance=None)
        for n in range(5):
            ledger.create_account(f"user:{n}", currency="USD")
        stop, running = threading.Event(), threading.Event()
        written = itertools.count()

        def write() -> None:
            while not stop.is_set():
                n = next(written)
                ledger.transfer("@world", f"user:{n % 5}", 1 + n % 7)
                if n == 20:
                    running.set()

        writer = threading.Thread(target=write)
        writer.start()
        try:
            assert running.wait(30)
            before = ledger.audit_head()[0]
            # Verify again until the writer has landed commits among the
            # verifies: on a slow disk one fsync can outlast five of them.
            deadline = time.monotonic() + 60
            reports = [ledger.verify() for _ in range(5)]
            while ledger.audit_head()[0] < before + 5 and time.monotonic() < deadline:
                reports.append(ledger.verify())
            after = ledger.audit_head()[0]
        finally:
            stop.set()
            writer.join()
        assert all(report.ok for report in reports), [report.problems for report in reports]
        assert after >= before + 5, "the writer kept committing while verify ran"


def test_of_copies_racing_through_two_ledgers_exactly_one_reads_created(ledger_url: str) -> None:
    """`created` comes from the journal, so it holds across processes (two web workers)."""
    from tally.core import commands

    def race(ledgers: list[tally.Ledger], command: commands.CreateTransfer) -> list[tally.Written]:
        barrier = threading.Barrier(len(ledgers))
        answers: list[tally.Written] = []

        def send(ledger: tally.Ledger) -> None:
            barrier.wait()
            answers.append(ledger.write(command))

        threads = [threading.Thread(target=send, args=(ledger,)) for ledger in ledgers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return answers

    with tally.open(ledger_url) as first, tally.open(ledger_url) as second:
        first.create_account("@world", currency="USD", min_balance=None)
        first.create_account("user:1", currency="USD")
        for round_ in range(10):
            command = commands.create_transfer("@world", "user:1", 5, id=f"race-{round_}")
            answers = race([first, second] * 4, command)
            assert sum(answer.created for answer in answers) == 1
            assert len({answer.result.seq for answer in answers}) == 1  # type: ignore[union-attr]
        assert first.balance("user:1").posted == 50
