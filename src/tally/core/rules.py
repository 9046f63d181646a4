"""The rules that accept or reject a request, as ladders of checks.

Each function reads the working state, changes nothing, and returns the first
code that applies in the precedence order of `Code`, or None: from there on the
request must succeed.
"""

from __future__ import annotations

from tally.core.account import Account, AccountStatus
from tally.core.amount import fits
from tally.core.codes import Code
from tally.core.state import Working
from tally.core.transfer import Transfer, TransferStatus


def transfer_code(
    state: Working,
    source: Account | None,
    destination: Account | None,
    amount: int,
    *,
    currency: str | None,
    pending: bool,
    reversible: int | None = None,
) -> Code | None:
    """Whether `amount` may move from source to destination now.

    `reversible` is set for a reversal: what is left of the original to give back.
    """
    if currency is not None and state.currency_scale(currency) is None:
        return Code.UNKNOWN_CURRENCY
    if source is None or destination is None:
        return Code.ACCOUNT_NOT_FOUND
    if source.id == destination.id:
        return Code.SAME_ACCOUNT
    if source.currency != destination.currency or (currency is not None and currency != source.currency):
        return Code.CURRENCY_MISMATCH
    if source.status != AccountStatus.OPEN or destination.status != AccountStatus.OPEN:
        return Code.ACCOUNT_NOT_OPEN
    if reversible is not None and not 0 < amount <= reversible:
        return Code.EXCEEDS_REVERSIBLE_AMOUNT
    available_after = source.posted - source.pending_out - amount
    if pending:
        first, second = source.pending_out + amount, destination.pending_in + amount
    else:
        first, second = source.posted - amount, destination.posted + amount
    # Money pending in posts later, perhaps by itself (a clearing period), with
    # no chance to refuse: it must fit then, so count it now, as max_balance does.
    incoming_after = destination.posted + destination.pending_in + amount
    if not (fits(first) and fits(second) and fits(available_after) and fits(incoming_after)):
        return Code.OVERFLOW
    if source.min_balance is not None and available_after < source.min_balance:
        return Code.INSUFFICIENT_FUNDS
    if destination.max_balance is not None and (
        destination.posted + destination.pending_in + amount > destination.max_balance
    ):
        return Code.EXCEEDS_MAX_BALANCE
    return None


def reversible_amount(original: Transfer) -> int:
    """What is left of a posted transfer to give back."""
    if original.status != TransferStatus.POSTED or original.posted_amount is None:
        return 0
    return original.posted_amount - original.reversed_amount


def resolve_code(transfer: Transfer, action: str, amount: int, source: Account, destination: Account) -> Code | None:
    """Whether a pending transfer may be posted (for `amount`) or voided now."""
    if transfer.status == TransferStatus.EXPIRED:
        return Code.PENDING_EXPIRED
    if transfer.status != TransferStatus.PENDING:
        return Code.TRANSFER_NOT_PENDING
    if action == "post":
        if amount > transfer.amount:
            return Code.EXCEEDS_PENDING_AMOUNT
        if not (fits(source.posted - amount) and fits(destination.posted + amount)):
            return Code.OVERFLOW
    return None


def is_due(transfer: Transfer, now_us: int) -> bool:
    return (
        transfer.status == TransferStatus.PENDING and transfer.expires_us is not None and transfer.expires_us <= now_us
    )


def status_code(account: Account, action: str) -> Code | None:
    """Whether an account may be frozen, unfrozen or closed."""
    if account.status == AccountStatus.CLOSED and action != "close":
        return Code.ACCOUNT_NOT_OPEN
    if action == "close" and account.status != AccountStatus.CLOSED and not account.is_empty:
        return Code.ACCOUNT_NOT_EMPTY
    return None
