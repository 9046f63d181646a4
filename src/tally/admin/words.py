"""What went wrong, in words a member of staff can act on."""

from __future__ import annotations

from tally.core.errors import LedgerError

_WORDS = {
    "insufficient_funds": "Insufficient funds: the account's available balance is too low for this.",
    "account_not_open": "An account in this transfer is frozen or closed: unfreeze it first.",
    "exceeds_max_balance": "This would take the account above its maximum balance.",
    "currency_mismatch": "The two accounts are in different currencies.",
    "same_account": "An account cannot move money to itself.",
    "id_conflict": "This form was already used for a different request: the page has a fresh one now, submit again.",
    "transfer_not_pending": "This hold is no longer pending: it was already posted, voided or expired.",
    "pending_expired": "This hold has expired: its money was released.",
    "exceeds_pending_amount": "That is more than the hold reserves.",
    "exceeds_reversible_amount": "That is more than what remains to reverse of this transfer.",
    "overflow": "The balance would go beyond what the ledger can hold.",
    "account_not_found": "There is no such account.",
    "transfer_not_found": "There is no such transfer.",
    "unknown_currency": "This currency is not registered.",
    "account_not_empty": "The account still holds money or holds.",
    "unavailable": "The ledger is busy right now: submit again (it is safe, the form carries its id).",
}


def in_words(error: LedgerError) -> str:
    """A sentence for the error; validation errors already carry one."""
    if error.code == "validation_error":
        return error.message
    return _WORDS.get(error.code, error.message)
