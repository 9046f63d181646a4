"""The `tally` command, run as a user runs it: a subprocess of .venv/bin/tally with --db."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import tally

TALLY = str(Path(sys.executable).with_name("tally"))


class Cli:
    def __init__(self, url: str, cwd: Path) -> None:
        self.url = url
        self.cwd = cwd

    def run(self, *args: str, db: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        command = [TALLY, *(["--db", self.url] if db else []), *args]
        environment = {k: v for k, v in os.environ.items() if k != "TALLY_DATABASE_URL"}
        environment.update({"COLUMNS": "200", **(env or {})})
        return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.cwd, env=environment)

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.run(*args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)


@pytest.fixture
def cli(ledger_url: str, tmp_path: Path) -> Cli:
    # The accounts come from the library (faster than three processes); the
    # test of `accounts create` runs the command itself.
    with tally.open(ledger_url) as ledger:
        ledger.create_account("@world", currency="USD", min_balance=None)
        ledger.create_account("user:42", currency="USD")
        ledger.create_account("shop:7", currency="USD")
    return Cli(ledger_url, tmp_path)


def test_accounts_create_prints_the_account(cli: Cli) -> None:
    unbounded = cli.json("accounts", "create", "@bank", "--currency", "USD", "--no-min-balance")
    assert unbounded["min_balance"] is None
    account = cli.json("accounts", "create", "user:43", "--currency", "EUR", "--min-balance", "-500")
    assert (account["id"], account["currency"], account["min_balance"], account["status"]) == (
        "user:43",
        "EUR",
        -500,
        "open",
    )
    assert account["balance"] == {"posted": 0, "pending_in": 0, "pending_out": 0, "available": 0}
    table = cli.ok("accounts", "create", "user:43", "--currency", "EUR", "--min-balance", "-500").stdout
    assert "user:43" in table and "EUR" in table  # the same again: the account, unchanged


def test_transfer_balance_and_history(cli: Cli) -> None:
    transfer = cli.json("transfer", "@world", "user:42", "1050", "--id", "topup-1", "--reason", "Top-up")
    assert (transfer["id"], transfer["status"], transfer["amount"], transfer["reason"]) == (
        "topup-1",
        "posted",
        1050,
        "Top-up",
    )

    assert cli.json("balance", "user:42") == {"posted": 1050, "pending_in": 0, "pending_out": 0, "available": 1050}
    table = cli.ok("balance", "user:42").stdout
    assert "1050" in table

    history = cli.json("history", "user:42")
    assert [(e["transfer_id"], e["amount"], e["balance_after"], e["reason"]) for e in history["entries"]] == [
        ("topup-1", 1050, 1050, "Top-up")
    ]
    assert history["next"] is None
    table = cli.ok("history", "user:42").stdout
    assert "topup-1" in table and "+1050" in table and "Top-up" in table


def test_history_pages_with_a_cursor(cli: Cli) -> None:
    for n in range(3):
        cli.ok("transfer", "@world", "user:42", "1", "--id", f"t{n}")
    first = cli.json("history", "user:42", "--limit", "2")
    assert len(first["entries"]) == 2 and first["next"] is not None
    rest = cli.json("history", "user:42", "--limit", "2", "--after", first["next"])
    assert [e["transfer_id"] for e in rest["entries"]] == ["t2"]


def test_same_transfer_again_is_a_replay(cli: Cli) -> None:
    first = cli.json("transfer", "@world", "user:42", "100", "--id", "once")
    again = cli.json("transfer", "@world", "user:42", "100", "--id", "once")
    assert again == first
    assert cli.json("balance", "user:42")["posted"] == 100


def test_pending_transfer_then_post_void_and_reverse(cli: Cli) -> None:
    cli.ok("transfer", "@world", "user:42", "1000", "--id", "topup")
    hold = cli.json("transfer", "user:42", "shop:7", "600", "--id", "hold-1", "--pending")
    assert hold["status"] == "pending"
    assert cli.json("balance", "user:42")["available"] == 400

    posted = cli.json("post", "hold-1", "--amount", "450")
    assert (posted["status"], posted["posted_amount"]) == ("posted", 450)

    cli.ok("transfer", "user:42", "shop:7", "100", "--id", "hold-2", "--pending")
    assert cli.json("void", "hold-2")["status"] == "voided"

    refund = cli.json("reverse", "hold-1", "--id", "refund-1", "--amount", "50", "--reason", "Broken cup")
    assert (refund["source"], refund["destination"], refund["amount"], refund["reverses"]) == (
        "shop:7",
        "user:42",
        50,
        "hold-1",
    )
    assert cli.json("balance", "user:42") == {"posted": 600, "pending_in": 0, "pending_out": 0, "available": 600}


REJECTIONS = [
    (("transfer", "user:42", "shop:7", "1", "--id", "broke"), "insufficient_funds", 1),
    (("transfer", "user:42", "nobody", "1"), "account_not_found", 4),
    (("transfer", "user:42", "shop:7", "1.50"), "validation_error", 2),
    (("transfer", "user:42", "shop:7", "0"), "validation_error", 2),
    (("transfer", "user:42", "shop:7", "-5"), None, 2),
    (("accounts", "create", "bad id", "--currency", "USD"), "validation_error", 2),
    (("accounts", "create", "user:42", "--currency", "EUR"), "id_conflict", 1),
    (("accounts", "create", "user:44", "--currency", "ZZZ"), "unknown_currency", 1),
    (("post", "no-such-hold"), "transfer_not_found", 4),
    (("void", "no-such-hold"), "transfer_not_found", 4),
    (("reverse", "no-such-transfer"), "transfer_not_found", 4),
    (("balance", "nobody"), "account_not_found", 4),
    (("history", "nobody"), "account_not_found", 4),
]


def test_each_rejection_exits_non_zero_with_its_code_and_no_traceback(cli: Cli) -> None:
    # One ledger for all the cases: a process per case is what costs here.
    for args, code, exit_status in REJECTIONS:
        result = cli.run(*args)
        assert result.returncode == exit_status, (args, result.stdout, result.stderr)
        if code is not None:
            assert code in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr, (args, result.stderr)


def test_post_of_a_posted_transfer_is_transfer_not_pending(cli: Cli) -> None:
    cli.ok("transfer", "@world", "user:42", "10", "--id", "plain")
    result = cli.run("post", "plain")
    assert result.returncode == 1 and "transfer_not_pending" in result.stderr


def test_verify_reports_ok_on_good_books(cli: Cli) -> None:
    cli.ok("transfer", "@world", "user:42", "10")
    report = cli.json("verify")
    assert report["ok"] is True and report["problems"] == [] and report["first_bad_seq"] is None
    assert cli.ok("verify").stdout.startswith("ok:")


def test_database_from_the_environment_then_the_default_file(cli: Cli) -> None:
    result = cli.run("balance", "user:42", "--json", db=False, env={"TALLY_DATABASE_URL": cli.url})
    assert result.returncode == 0 and json.loads(result.stdout)["posted"] == 0

    clean = {k: v for k, v in os.environ.items() if k != "TALLY_DATABASE_URL"}
    result = subprocess.run(
        [TALLY, "accounts", "create", "local", "--currency", "USD"],
        capture_output=True,
        text=True,
        cwd=cli.cwd,
        env=clean,
    )
    assert result.returncode == 0, result.stderr
    assert (cli.cwd / "tally.sqlite3").exists()
