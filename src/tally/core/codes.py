"""The closed set of result codes, in precedence order.

When a request breaks several rules, the code that appears first in `Code` is
the one reported. Every code maps to exactly one HTTP status (`HTTP_STATUS`) and
one exception class (`tally.core.errors`).
"""

from enum import StrEnum


class Code(StrEnum):
    # The request itself is malformed: nothing is recorded.
    VALIDATION_ERROR = "validation_error"
    # Transport and access: only the HTTP service produces these.
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    # The same id was used for a different request: changes nothing.
    ID_CONFLICT = "id_conflict"
    # Business rules, checked in this order by the core.
    UNKNOWN_CURRENCY = "unknown_currency"
    ACCOUNT_NOT_FOUND = "account_not_found"
    TRANSFER_NOT_FOUND = "transfer_not_found"
    SAME_ACCOUNT = "same_account"
    CURRENCY_MISMATCH = "currency_mismatch"
    ACCOUNT_NOT_OPEN = "account_not_open"
    TRANSFER_NOT_PENDING = "transfer_not_pending"
    PENDING_EXPIRED = "pending_expired"
    EXCEEDS_PENDING_AMOUNT = "exceeds_pending_amount"
    EXCEEDS_REVERSIBLE_AMOUNT = "exceeds_reversible_amount"
    OVERFLOW = "overflow"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    EXCEEDS_MAX_BALANCE = "exceeds_max_balance"
    ACCOUNT_NOT_EMPTY = "account_not_empty"
    LINKED_TRANSFER_FAILED = "linked_transfer_failed"


HTTP_STATUS: dict[Code, int] = {
    Code.VALIDATION_ERROR: 422,
    Code.UNAUTHENTICATED: 401,
    Code.FORBIDDEN: 403,
    Code.NOT_FOUND: 404,
    Code.METHOD_NOT_ALLOWED: 405,
    Code.PAYLOAD_TOO_LARGE: 413,
    Code.UNSUPPORTED_MEDIA_TYPE: 415,
    Code.RATE_LIMITED: 429,
    Code.UNAVAILABLE: 503,
    Code.ID_CONFLICT: 409,
    Code.UNKNOWN_CURRENCY: 409,
    Code.ACCOUNT_NOT_FOUND: 404,
    Code.TRANSFER_NOT_FOUND: 404,
    Code.SAME_ACCOUNT: 409,
    Code.CURRENCY_MISMATCH: 409,
    Code.ACCOUNT_NOT_OPEN: 409,
    Code.TRANSFER_NOT_PENDING: 409,
    Code.PENDING_EXPIRED: 409,
    Code.EXCEEDS_PENDING_AMOUNT: 409,
    Code.EXCEEDS_REVERSIBLE_AMOUNT: 409,
    Code.OVERFLOW: 409,
    Code.INSUFFICIENT_FUNDS: 409,
    Code.EXCEEDS_MAX_BALANCE: 409,
    Code.ACCOUNT_NOT_EMPTY: 409,
    Code.LINKED_TRANSFER_FAILED: 409,
}

# CLI exit codes: 0 success, 1 a business rejection, 2 invalid input, 3 the
# ledger is unavailable, 4 not found.
EXIT_STATUS: dict[Code, int] = {
    **{code: 1 for code in Code},
    Code.VALIDATION_ERROR: 2,
    Code.UNAVAILABLE: 3,
    Code.ACCOUNT_NOT_FOUND: 4,
    Code.TRANSFER_NOT_FOUND: 4,
    Code.NOT_FOUND: 4,
}

assert set(HTTP_STATUS) == set(Code), "every code needs an HTTP status"
