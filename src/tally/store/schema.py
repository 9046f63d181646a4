"""The schema, as DDL per dialect, applied by the Alembic migrations.

The journal is append-only: the database itself refuses an UPDATE or DELETE
of it (triggers), and CHECK constraints pair the core's rules (amounts > 0,
status values), so that a write that bypasses Tally is refused too.
"""

from __future__ import annotations

import re
from typing import Final

from tally.core.events import GENESIS_HASH, KINDS

# Every migration, in order; a store whose alembic_version says the newest
# skips Alembic, and one that says none of them is refused (a newer Tally's).
SCHEMA_REVISIONS: Final = ("0001", "0002", "0003")
SCHEMA_REVISION: Final = SCHEMA_REVISIONS[-1]

_KINDS = ", ".join(f"'{kind}'" for kind in KINDS)
_TRANSFER_STATUS = "'posted', 'pending', 'voided', 'expired', 'rejected'"
_ACCOUNT_STATUS = "'open', 'frozen', 'closed'"

SQLITE_0001: Final = [
    """CREATE TABLE ledger_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL CHECK (seq >= 0),
        hash TEXT NOT NULL,
        time_us INTEGER NOT NULL
    ) STRICT""",
    f"INSERT INTO ledger_head (id, seq, hash, time_us) VALUES (1, 0, '{GENESIS_HASH}', 0)",
    f"""CREATE TABLE journal (
        seq INTEGER PRIMARY KEY CHECK (seq > 0),
        created_us INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ({_KINDS})),
        data TEXT NOT NULL CHECK (json_valid(data)),
        hash TEXT NOT NULL
    ) STRICT""",
    "CREATE INDEX journal_created ON journal (created_us)",
    """CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
        BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END""",
    """CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
        BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END""",
    """CREATE TABLE currencies (
        code TEXT PRIMARY KEY,
        scale INTEGER NOT NULL CHECK (scale BETWEEN 0 AND 18)
    ) STRICT""",
    f"""CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        currency TEXT NOT NULL,
        scale INTEGER NOT NULL,
        min_balance INTEGER,
        max_balance INTEGER,
        clearing_seconds INTEGER CHECK (clearing_seconds IS NULL OR clearing_seconds > 0),
        status TEXT NOT NULL CHECK (status IN ({_ACCOUNT_STATUS})),
        metadata TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        posted INTEGER NOT NULL,
        pending_in INTEGER NOT NULL CHECK (pending_in >= 0),
        pending_out INTEGER NOT NULL CHECK (pending_out >= 0),
        fingerprint TEXT NOT NULL
    ) STRICT""",
    f"""CREATE TABLE transfers (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        source TEXT NOT NULL,
        destination TEXT NOT NULL,
        amount INTEGER NOT NULL,
        currency TEXT,
        reason TEXT,
        metadata TEXT NOT NULL,
        pending INTEGER NOT NULL CHECK (pending IN (0, 1)),
        expires_in INTEGER,
        on_expiry TEXT CHECK (on_expiry IS NULL OR on_expiry IN ('void', 'post')),
        status TEXT NOT NULL CHECK (status IN ({_TRANSFER_STATUS})),
        code TEXT,
        created_us INTEGER NOT NULL,
        expires_us INTEGER,
        posted_amount INTEGER CHECK (posted_amount IS NULL OR posted_amount >= 0),
        reverses TEXT,
        reversed_amount INTEGER NOT NULL DEFAULT 0 CHECK (reversed_amount >= 0),
        resolved_seq INTEGER,
        resolution TEXT,
        fingerprint TEXT NOT NULL,
        CHECK (amount > 0 OR (status = 'rejected' AND amount = 0)),
        CHECK ((status = 'rejected') = (code IS NOT NULL)),
        CHECK (posted_amount IS NULL OR posted_amount <= amount),
        CHECK (reversed_amount <= COALESCE(posted_amount, 0))
    ) STRICT""",
    "CREATE INDEX transfers_due ON transfers (expires_us) WHERE status = 'pending'",
    "CREATE INDEX transfers_source ON transfers (source, seq)",
    "CREATE INDEX transfers_destination ON transfers (destination, seq)",
    """CREATE TABLE entries (
        account_id TEXT NOT NULL,
        seq INTEGER NOT NULL CHECK (seq > 0),
        transfer_id TEXT NOT NULL,
        amount INTEGER NOT NULL CHECK (amount <> 0),
        balance_after INTEGER NOT NULL,
        created_us INTEGER NOT NULL,
        reason TEXT,
        PRIMARY KEY (account_id, seq)
    ) STRICT, WITHOUT ROWID""",
    """CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
        BEGIN SELECT RAISE(ABORT, 'entries are append-only'); END""",
    """CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
        BEGIN SELECT RAISE(ABORT, 'entries are append-only'); END""",
    """CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ('admin', 'staff', 'writer', 'reader')),
        accounts TEXT,
        name TEXT,
        created_us INTEGER NOT NULL,
        revoked_us INTEGER
    ) STRICT""",
]

_PG_APPEND_ONLY = """CREATE FUNCTION tally_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"""

POSTGRES_0001: Final = [
    """CREATE TABLE ledger_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq BIGINT NOT NULL CHECK (seq >= 0),
        hash TEXT NOT NULL,
        time_us BIGINT NOT NULL
    )""",
    f"INSERT INTO ledger_head (id, seq, hash, time_us) VALUES (1, 0, '{GENESIS_HASH}', 0)",
    f"""CREATE TABLE journal (
        seq BIGINT PRIMARY KEY CHECK (seq > 0),
        created_us BIGINT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ({_KINDS})),
        data TEXT NOT NULL,
        hash TEXT NOT NULL
    )""",
    "CREATE INDEX journal_created ON journal (created_us)",
    _PG_APPEND_ONLY,
    """CREATE TRIGGER journal_append_only BEFORE UPDATE OR DELETE ON journal
        FOR EACH ROW EXECUTE FUNCTION tally_append_only()""",
    """CREATE TRIGGER journal_no_truncate BEFORE TRUNCATE ON journal
        FOR EACH STATEMENT EXECUTE FUNCTION tally_append_only()""",
    """CREATE TABLE currencies (
        code TEXT PRIMARY KEY,
        scale INTEGER NOT NULL CHECK (scale BETWEEN 0 AND 18)
    )""",
    f"""CREATE TABLE accounts (
        id TEXT COLLATE "C" PRIMARY KEY,  -- byte order, as on SQLite: pages of accounts by id
        currency TEXT NOT NULL,
        scale INTEGER NOT NULL,
        min_balance BIGINT,
        max_balance BIGINT,
        clearing_seconds INTEGER CHECK (clearing_seconds IS NULL OR clearing_seconds > 0),
        status TEXT NOT NULL CHECK (status IN ({_ACCOUNT_STATUS})),
        metadata TEXT NOT NULL,
        created_us BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        posted BIGINT NOT NULL,
        pending_in BIGINT NOT NULL CHECK (pending_in >= 0),
        pending_out BIGINT NOT NULL CHECK (pending_out >= 0),
        fingerprint TEXT NOT NULL
    )""",
    f"""CREATE TABLE transfers (
        id TEXT PRIMARY KEY,
        seq BIGINT NOT NULL UNIQUE,
        source TEXT NOT NULL,
        destination TEXT NOT NULL,
        amount BIGINT NOT NULL,
        currency TEXT,
        reason TEXT,
        metadata TEXT NOT NULL,
        pending BOOLEAN NOT NULL,
        expires_in INTEGER,
        on_expiry TEXT CHECK (on_expiry IS NULL OR on_expiry IN ('void', 'post')),
        status TEXT NOT NULL CHECK (status IN ({_TRANSFER_STATUS})),
        code TEXT,
        created_us BIGINT NOT NULL,
        expires_us BIGINT,
        posted_amount BIGINT CHECK (posted_amount IS NULL OR posted_amount >= 0),
        reverses TEXT,
        reversed_amount BIGINT NOT NULL DEFAULT 0 CHECK (reversed_amount >= 0),
        resolved_seq BIGINT,
        resolution TEXT,
        fingerprint TEXT NOT NULL,
        CHECK (amount > 0 OR (status = 'rejected' AND amount = 0)),
        CHECK ((status = 'rejected') = (code IS NOT NULL)),
        CHECK (posted_amount IS NULL OR posted_amount <= amount),
        CHECK (reversed_amount <= COALESCE(posted_amount, 0))
    )""",
    "CREATE INDEX transfers_due ON transfers (expires_us) WHERE status = 'pending'",
    "CREATE INDEX transfers_source ON transfers (source, seq)",
    "CREATE INDEX transfers_destination ON transfers (destination, seq)",
    """CREATE TABLE entries (
        account_id TEXT NOT NULL,
        seq BIGINT NOT NULL CHECK (seq > 0),
        transfer_id TEXT NOT NULL,
        amount BIGINT NOT NULL CHECK (amount <> 0),
        balance_after BIGINT NOT NULL,
        created_us BIGINT NOT NULL,
        reason TEXT,
        PRIMARY KEY (account_id, seq)
    )""",
    """CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
        FOR EACH ROW EXECUTE FUNCTION tally_append_only()""",
    """CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ('admin', 'staff', 'writer', 'reader')),
        accounts TEXT,
        name TEXT,
        created_us BIGINT NOT NULL,
        revoked_us BIGINT
    )""",
]


# Revision 0002: a transfer is found by account through the statement entries
# when it was posted as it was made (a direct transfer: not pending, not
# rejected), and through these two partial indexes otherwise: holds, whatever
# became of them, and rejections, which have no entries. A direct transfer, by
# far the most common, no longer writes a row into two indexes by account
# (bench/ANALYSIS.md: 8% of a single transfer, 11-13% of a batch, on SQLite).
# `HELD` is the indexes' condition; a query repeats it word for word, so that
# SQLite sees the index applies.
HELD_SQLITE: Final = "(pending = 1 OR status = 'rejected')"
HELD_POSTGRES: Final = "(pending OR status = 'rejected')"


def _held_indexes(held: str) -> list[str]:
    return [
        f"CREATE INDEX transfers_held_source ON transfers (source, seq) WHERE {held}",
        f"CREATE INDEX transfers_held_destination ON transfers (destination, seq) WHERE {held}",
        "DROP INDEX transfers_source",
        "DROP INDEX transfers_destination",
    ]


SQLITE_0002: Final = _held_indexes(HELD_SQLITE)
POSTGRES_0002: Final = _held_indexes(HELD_POSTGRES)


# Revision 0003, SQLite only: a CHECK that names a column's allowed values as
# `column IN ('a', 'b', 'c')` becomes `(column = 'a' OR column = 'b' OR …)`,
# the same rule. SQLite builds a table of an IN list of three or more values
# each time a statement runs, and `executemany` runs its statement once per
# row: the journal's twelve kinds cost each journal row about 3.4 µs and the
# transfers' five statuses each transfer row about 2.5 µs, 8-9% of a batch
# (bench/ANALYSIS.md); an OR of equalities is evaluated in place. PostgreSQL
# checks `= ANY (array)` without such a table: its schema stays as it is.
SQLITE_0003_TABLES: Final = ("journal", "accounts", "transfers", "api_keys")
_IN_LIST = re.compile(r"\b(\w+) IN \(('[^']*'(?:, '[^']*')+)\)")


def _equalities(match: re.Match[str]) -> str:
    column, values = match[1], match[2].split(", ")
    return "(" + " OR ".join(f"{column} = {value}" for value in values) + ")"


def checks_without_in_lists(sql: str) -> str:
    """A table's `CREATE TABLE` text with each IN list of quoted values written as an OR of equalities."""
    return _IN_LIST.sub(_equalities, sql)
