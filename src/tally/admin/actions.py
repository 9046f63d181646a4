"""What staff do to the ledger: adjustments and reversals, recorded with who and why.

Every write here is an ordinary transfer through `tally.Ledger`, with an id
that was generated into the form when it was shown: submitting the same form
twice replays the first outcome instead of moving money again.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from tally.admin.money import parse_amount
from tally.core.account import Account
from tally.core.errors import AccountNotFound, ValidationError
from tally.core.limits import REASON_LENGTH_MAX
from tally.core.text import check_id
from tally.core.transfer import Transfer
from tally.keys import ApiKey
from tally.ledger import Ledger

DIRECTIONS = ("credit", "debit")


def new_form_id(kind: str) -> str:
    """An idempotency id for a form about to be shown (it becomes the transfer id)."""
    return f"{kind}_{secrets.token_hex(12)}"


@dataclass(frozen=True, slots=True)
class AdjustForm:
    id: str
    direction: str
    amount: str
    reason: str

    @staticmethod
    def blank() -> AdjustForm:
        return AdjustForm(new_form_id("adj"), "credit", "", "")

    @staticmethod
    def from_form(form: dict[str, str]) -> AdjustForm:
        return AdjustForm(form.get("id", ""), form.get("direction", ""), form.get("amount", ""), form.get("reason", ""))


def staff_metadata(key: ApiKey) -> dict[str, Any]:
    return {"staff_key_id": key.id, "staff_key_name": key.name, "via": "admin"}


def check_reason(text: str) -> str:
    reason = text.strip()
    if not reason:
        raise ValidationError("Give a reason: it stays in the history for good.", field="reason")
    if len(reason) > REASON_LENGTH_MAX:
        raise ValidationError(f"The reason must be at most {REASON_LENGTH_MAX} characters.", field="reason")
    return reason


def adjustments_account(ledger: Ledger, configured: str, currency: str) -> str:
    """The counter-account of adjustments in `currency`, opened on first use.

    The configured account itself when it exists in that currency (an operator
    may open it beforehand); otherwise `{configured}:{currency}`, so every
    currency has its own and the choice never depends on which came first.
    """
    try:
        if ledger.account(configured).currency == currency:
            return configured
    except AccountNotFound:
        pass
    name = f"{configured}:{currency}"
    try:
        ledger.account(name)
    except AccountNotFound:
        # Stands for the outside world, so it may go negative; the same call
        # from two sessions at once is an idempotent replay.
        ledger.create_account(name, currency=currency, min_balance=None, metadata={"purpose": "admin adjustments"})
    return name


def adjust(ledger: Ledger, account: Account, form: AdjustForm, key: ApiKey, configured: str) -> Transfer:
    """Credit or debit `account` against the adjustments account; raises what the ledger refuses."""
    transfer_id = check_id(form.id, "id")
    if form.direction not in DIRECTIONS:
        raise ValidationError("Choose credit or debit.", field="direction")
    amount = parse_amount(form.amount, account.scale, account.currency)
    reason = check_reason(form.reason)
    other = adjustments_account(ledger, configured, account.currency)
    source, destination = (other, account.id) if form.direction == "credit" else (account.id, other)
    metadata = {**staff_metadata(key), "adjustment": form.direction}
    return ledger.transfer(source, destination, amount, id=transfer_id, reason=reason, metadata=metadata)


def reverse(ledger: Ledger, original: Transfer, form: dict[str, str], key: ApiKey, account: Account) -> Transfer:
    """Give back all that remains of a posted transfer, or the typed amount of it."""
    transfer_id = check_id(form.get("id", ""), "id")
    reason = check_reason(form.get("reason", ""))
    typed = form.get("amount", "").strip()
    amount = parse_amount(typed, account.scale, account.currency) if typed else None
    metadata = staff_metadata(key)
    return ledger.reverse(original.id, id=transfer_id, amount=amount, reason=reason, metadata=metadata)
