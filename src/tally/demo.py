"""A worked example: a top-up, a purchase with a hold, a refund; then the books.

Every id is fixed, so running it again replays the same requests and changes
nothing: idempotency at work.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from tally.ledger import Ledger


def run_demo(ledger: Ledger, out: Console) -> None:
    ledger.create_account("@world", currency="USD", min_balance=None, metadata={"kind": "outside world"})
    ledger.create_account("user:42", currency="USD")
    ledger.create_account("shop:7", currency="USD")
    ledger.create_account("fees", currency="USD")
    ledger.transfer("@world", "user:42", 10_000, id="demo-topup", reason="Top-up by card")
    hold = ledger.transfer("user:42", "shop:7", 2_500, id="demo-order-hold", reason="Order #1001",
                           pending=True, expires_in=3600)  # fmt: skip
    ledger.post(hold.id, amount=2_300)
    ledger.transfer_batch(
        [
            {"source": "shop:7", "destination": "fees", "amount": 69, "id": "demo-order-fee", "reason": "3% fee"},
            {"source": "shop:7", "destination": "@world", "amount": 2_000, "id": "demo-payout", "reason": "Payout"},
        ],
        atomic=True,
    )
    ledger.reverse("demo-topup", id="demo-refund", amount=1_000, reason="Customer refund")

    balances = Table("account", "posted", "pending in", "pending out", "available", title="Balances (cents)")
    for id in ("@world", "user:42", "shop:7", "fees"):
        b = ledger.balance(id)
        balances.add_row(id, *(f"{v:,}" for v in (b.posted, b.pending_in, b.pending_out, b.available)))
    out.print(balances)

    statement = Table("seq", "transfer", "amount", "balance after", "reason", title="History of user:42")
    for e in ledger.entries("user:42"):
        statement.add_row(str(e.seq), e.transfer_id, f"{e.amount:+,}", f"{e.balance_after:,}", e.reason or "")
    out.print(statement)
    report = ledger.verify()
    out.print(f"verify: {'ok' if report.ok else 'FAILED'} ({report.events} events, head seq {report.head_seq})")
