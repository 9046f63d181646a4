"""Request and response shapes of API.md section 5, for validation and the OpenAPI document.

Request models are validated strictly (no coercion: `1.0`, `"1"` and `true` are
not integers) and forbid unknown fields, so `balance`, `status` or `seq` can
never be assigned through a request. The core builders check every value again.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tally.core.limits import (
    AMOUNT_MAX,
    AMOUNT_MIN,
    BALANCE_MAX,
    BALANCE_MIN,
    BATCH_TRANSFERS_MAX,
    CLEARING_SECONDS_MAX,
    CURRENCY_SCALE_MAX,
    EXPIRES_IN_SECONDS_MAX,
    EXPIRES_IN_SECONDS_MIN,
    ID_LENGTH_MAX,
    REASON_LENGTH_MAX,
)

ID_PATTERN = rf"^[A-Za-z0-9_.:@-]{{1,{ID_LENGTH_MAX}}}$"
CURRENCY_PATTERN = r"^[A-Z][A-Z0-9_]{1,15}$"


def Id() -> Any:  # Field factories: a FieldInfo is never shared by two fields
    return Field(pattern=ID_PATTERN, min_length=1, max_length=ID_LENGTH_MAX)


def Reason() -> Any:
    return Field(None, max_length=REASON_LENGTH_MAX)


def Metadata() -> Any:
    return Field(None, description="A JSON object of at most 4 KiB.")


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class AccountCreate(_Request):
    id: str = Id()
    currency: str = Field(pattern=CURRENCY_PATTERN)
    min_balance: int | None = Field(0, ge=BALANCE_MIN, le=BALANCE_MAX, description="null: no lower bound.")
    max_balance: int | None = Field(None, ge=BALANCE_MIN, le=BALANCE_MAX)
    clearing_seconds: int | None = Field(None, ge=EXPIRES_IN_SECONDS_MIN, le=CLEARING_SECONDS_MAX)
    metadata: dict[str, Any] | None = Metadata()


class AccountPatch(_Request):
    min_balance: int | None = Field(None, ge=BALANCE_MIN, le=BALANCE_MAX)
    max_balance: int | None = Field(None, ge=BALANCE_MIN, le=BALANCE_MAX)
    clearing_seconds: int | None = Field(None, ge=EXPIRES_IN_SECONDS_MIN, le=CLEARING_SECONDS_MAX)
    metadata: dict[str, Any] | None = Metadata()


class ReasonBody(_Request):
    reason: str | None = Reason()


class TransferRequest(_Request):
    id: str | None = Field(None, pattern=ID_PATTERN, max_length=ID_LENGTH_MAX, description="Idempotency key.")
    source: str = Id()
    destination: str = Id()
    amount: int = Field(ge=AMOUNT_MIN, le=AMOUNT_MAX, description="Positive integer in the minor unit.")
    currency: str | None = Field(None, pattern=CURRENCY_PATTERN)
    reason: str | None = Reason()
    metadata: dict[str, Any] | None = Metadata()
    pending: bool = False
    expires_in: int | None = Field(None, ge=EXPIRES_IN_SECONDS_MIN, le=EXPIRES_IN_SECONDS_MAX)
    on_expiry: Literal["void", "post"] | None = None


class BatchRequest(_Request):
    atomic: bool = False
    transfers: list[TransferRequest] = Field(min_length=1, max_length=BATCH_TRANSFERS_MAX)


class PostRequest(_Request):
    amount: int | None = Field(None, ge=AMOUNT_MIN, le=AMOUNT_MAX)


class VoidRequest(_Request):
    pass


class ReverseRequest(_Request):
    id: str | None = Field(None, pattern=ID_PATTERN, max_length=ID_LENGTH_MAX)
    amount: int | None = Field(None, ge=AMOUNT_MIN, le=AMOUNT_MAX)
    reason: str | None = Reason()
    metadata: dict[str, Any] | None = Metadata()


class KeyCreate(_Request):
    role: Literal["admin", "staff", "writer", "reader"]
    accounts: str | None = Field(None, pattern=ID_PATTERN, max_length=ID_LENGTH_MAX)
    name: str | None = Field(None, min_length=1, max_length=100)


class CurrencyCreate(_Request):
    code: str = Field(pattern=CURRENCY_PATTERN)
    scale: int = Field(ge=0, le=CURRENCY_SCALE_MAX)


# --- responses ---------------------------------------------------------------------


class Balance(BaseModel):
    posted: int
    pending_in: int
    pending_out: int
    available: int


class BalanceAsOf(BaseModel):
    posted: int
    as_of_seq: int


class Account(BaseModel):
    id: str
    currency: str
    scale: int
    min_balance: int | None
    max_balance: int | None
    clearing_seconds: int | None
    status: Literal["open", "frozen", "closed"]
    metadata: dict[str, Any]
    created_at: str
    balance: Balance


class Transfer(BaseModel):
    id: str
    source: str
    destination: str
    amount: int
    currency: str | None
    reason: str | None
    metadata: dict[str, Any]
    pending: bool
    expires_in: int | None
    on_expiry: Literal["void", "post"] | None
    seq: int | None
    status: Literal["posted", "pending", "voided", "expired", "rejected"]
    code: str | None = None
    created_at: str
    expires_at: str | None = None
    posted_amount: int | None = None
    reverses: str | None = None
    reversed_amount: int | None = None


class Entry(BaseModel):
    seq: int
    transfer_id: str
    amount: int
    balance_after: int
    created_at: str
    reason: str | None


class EntryPage(BaseModel):
    entries: list[Entry]
    next: str | None


class TransferPage(BaseModel):
    transfers: list[Transfer]
    next: str | None


class AccountPage(BaseModel):
    accounts: list[Account]
    next: str | None


class BatchResults(BaseModel):
    results: list[Transfer]


class Event(BaseModel):
    seq: int
    type: str
    data: dict[str, Any]
    created_at: str


class EventPage(BaseModel):
    events: list[Event]
    next: int


class AuditHead(BaseModel):
    seq: int
    hash: str


class Key(BaseModel):
    id: str
    role: Literal["admin", "staff", "writer", "reader"]
    accounts: str | None
    name: str | None
    created_at: str
    revoked_at: str | None


class KeyCreated(Key):
    token: str = Field(description="Shown only in this response.")


class KeyList(BaseModel):
    keys: list[Key]


class Currency(BaseModel):
    code: str
    scale: int


class Health(BaseModel):
    status: Literal["ok"]


class Problem(BaseModel):
    """An error, as RFC 9457 problem details with a stable `code`."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    field: str | None = Field(None, description="The failing field, for validation errors.")
    transfer: Transfer | None = Field(None, description="A recorded rejection: the transfer as it reads back.")


REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    AccountCreate,
    AccountPatch,
    ReasonBody,
    TransferRequest,
    BatchRequest,
    PostRequest,
    VoidRequest,
    ReverseRequest,
    KeyCreate,
    CurrencyCreate,
)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    Balance,
    BalanceAsOf,
    Account,
    Transfer,
    Entry,
    EntryPage,
    TransferPage,
    AccountPage,
    BatchResults,
    Event,
    EventPage,
    AuditHead,
    Key,
    KeyCreated,
    KeyList,
    Currency,
    Health,
    Problem,
)
