"""Every bound Tally enforces, in one place ("put a limit on everything")."""

from typing import Final

AMOUNT_MIN: Final = 1
AMOUNT_MAX: Final = 2**63 - 1
BALANCE_MIN: Final = -(2**63)
BALANCE_MAX: Final = 2**63 - 1

ID_LENGTH_MAX: Final = 128
REASON_LENGTH_MAX: Final = 500
METADATA_BYTES_MAX: Final = 4096
# Objects and arrays inside each other, the metadata object itself the first:
# 4 KiB of "[[[…" nests 2,000 deep, past the JSON encoders' recursion limits.
METADATA_DEPTH_MAX: Final = 64
CURRENCY_SCALE_MAX: Final = 18

EXPIRES_IN_SECONDS_MIN: Final = 1
EXPIRES_IN_SECONDS_MAX: Final = 31_536_000
CLEARING_SECONDS_MAX: Final = EXPIRES_IN_SECONDS_MAX

BATCH_TRANSFERS_MAX: Final = 1000
PAGE_SIZE_DEFAULT: Final = 100
PAGE_SIZE_MAX: Final = 1000

# The write path: how many commands one database transaction may carry, and
# how many due holds one transaction expires before it takes new commands.
GROUP_TRANSFERS_MAX: Final = 4000
EXPIRY_BATCH_MAX: Final = 1000

# Retries of a write transaction that met a transient database error (lock
# timeout, serialization failure, deadlock); then the caller gets `unavailable`.
WRITE_RETRIES_MAX: Final = 50
WRITE_RETRY_SECONDS_MAX: Final = 60.0

EVENTS_WAIT_SECONDS_MAX: Final = 60
