"""Tally: a ledger for user balances.

import tally
ledger = tally.open("sqlite:///tally.sqlite3")
"""

from tally.core.account import Account, AccountStatus, Balance, BalanceAsOf
from tally.core.currency import Currency
from tally.core.errors import (
    AccountNotEmpty,
    AccountNotFound,
    AccountNotOpen,
    CurrencyMismatch,
    ExceedsMaxBalance,
    ExceedsPendingAmount,
    ExceedsReversibleAmount,
    IdConflict,
    InsufficientFunds,
    LedgerError,
    LinkedTransferFailed,
    Overflow,
    PendingExpired,
    SameAccount,
    TransferNotFound,
    TransferNotPending,
    Unavailable,
    UnknownCurrency,
    ValidationError,
)
from tally.core.events import Event
from tally.core.transfer import Entry, Transfer, TransferStatus
from tally.engine import Written
from tally.ledger import Ledger, open  # noqa: A004 - tally.open(url) is the public API
from tally.pages import AccountPage, EntryPage, EventPage, TransferPage
from tally.verify import Problem, VerifyReport

__version__ = "0.1.0"

__all__ = [
    "Account",
    "AccountNotEmpty",
    "AccountNotFound",
    "AccountNotOpen",
    "AccountPage",
    "AccountStatus",
    "Balance",
    "BalanceAsOf",
    "Currency",
    "CurrencyMismatch",
    "Entry",
    "EntryPage",
    "Event",
    "EventPage",
    "ExceedsMaxBalance",
    "ExceedsPendingAmount",
    "ExceedsReversibleAmount",
    "IdConflict",
    "InsufficientFunds",
    "Ledger",
    "LedgerError",
    "LinkedTransferFailed",
    "Overflow",
    "PendingExpired",
    "Problem",
    "SameAccount",
    "Transfer",
    "TransferNotFound",
    "TransferNotPending",
    "TransferPage",
    "TransferStatus",
    "Unavailable",
    "UnknownCurrency",
    "ValidationError",
    "VerifyReport",
    "Written",
    "open",
]
