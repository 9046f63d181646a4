"""Exceptions: one class per result code, all subclasses of `LedgerError`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from tally.core.codes import Code

if TYPE_CHECKING:
    from tally.core.transfer import Transfer


class LedgerError(Exception):
    """A request Tally refused. `.code` is the stable code of API.md section 6."""

    code: ClassVar[str] = "ledger_error"

    def __init__(
        self,
        message: str = "",
        *,
        field: str | None = None,
        transfer: Transfer | None = None,
        **detail: Any,
    ) -> None:
        super().__init__(message or self.code.replace("_", " "))
        self.message = message or self.code.replace("_", " ")
        self.field = field
        # For a recorded rejection: the transfer as it reads back.
        self.transfer = transfer
        self.detail = detail

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.field, self.transfer, self.detail))


def _rebuild(
    cls: type[LedgerError],
    message: str,
    field: str | None,
    transfer: Transfer | None,
    detail: dict[str, Any],
) -> LedgerError:
    return cls(message, field=field, transfer=transfer, **detail)


class ValidationError(LedgerError):
    code = Code.VALIDATION_ERROR.value


class Unavailable(LedgerError):
    code = Code.UNAVAILABLE.value


class IdConflict(LedgerError):
    code = Code.ID_CONFLICT.value


class UnknownCurrency(LedgerError):
    code = Code.UNKNOWN_CURRENCY.value


class AccountNotFound(LedgerError):
    code = Code.ACCOUNT_NOT_FOUND.value


class TransferNotFound(LedgerError):
    code = Code.TRANSFER_NOT_FOUND.value


class SameAccount(LedgerError):
    code = Code.SAME_ACCOUNT.value


class CurrencyMismatch(LedgerError):
    code = Code.CURRENCY_MISMATCH.value


class AccountNotOpen(LedgerError):
    code = Code.ACCOUNT_NOT_OPEN.value


class TransferNotPending(LedgerError):
    code = Code.TRANSFER_NOT_PENDING.value


class PendingExpired(LedgerError):
    code = Code.PENDING_EXPIRED.value


class ExceedsPendingAmount(LedgerError):
    code = Code.EXCEEDS_PENDING_AMOUNT.value


class ExceedsReversibleAmount(LedgerError):
    code = Code.EXCEEDS_REVERSIBLE_AMOUNT.value


class Overflow(LedgerError):
    code = Code.OVERFLOW.value


class InsufficientFunds(LedgerError):
    code = Code.INSUFFICIENT_FUNDS.value


class ExceedsMaxBalance(LedgerError):
    code = Code.EXCEEDS_MAX_BALANCE.value


class AccountNotEmpty(LedgerError):
    code = Code.ACCOUNT_NOT_EMPTY.value


class LinkedTransferFailed(LedgerError):
    code = Code.LINKED_TRANSFER_FAILED.value


ERROR_FOR_CODE: dict[str, type[LedgerError]] = {
    cls.code: cls
    for cls in (
        ValidationError,
        Unavailable,
        IdConflict,
        UnknownCurrency,
        AccountNotFound,
        TransferNotFound,
        SameAccount,
        CurrencyMismatch,
        AccountNotOpen,
        TransferNotPending,
        PendingExpired,
        ExceedsPendingAmount,
        ExceedsReversibleAmount,
        Overflow,
        InsufficientFunds,
        ExceedsMaxBalance,
        AccountNotEmpty,
        LinkedTransferFailed,
    )
}


def error_for(code: str | Code, message: str = "", **kwargs: Any) -> LedgerError:
    """The exception for `code` (a plain `LedgerError` for transport-only codes)."""
    value = code.value if isinstance(code, Code) else code
    cls = ERROR_FOR_CODE.get(value)
    if cls is None:
        error = LedgerError(message or value.replace("_", " "), **kwargs)
        error.code = value  # type: ignore[misc]
        return error
    return cls(message, **kwargs)
