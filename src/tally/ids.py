"""Generated ids: time-ordered UUIDs (version 7, RFC 9562) as 32 hex digits.

The first 48 bits are the Unix time in milliseconds, the other 74 (besides
version and variant) come from a pool of OS randomness. Time first, because
the id is the primary key of `transfers`: random (version-4) keys land on a
different index page each, so a batch of 1,000 transfers dirtied about a
thousand pages of that one index, and every dirty page is written to the
log at commit. Time-ordered keys land on the index's last pages.

The randomness keeps the ids unguessable (74 bits from the kernel's CSPRNG,
so no one can take the id of another client's next transfer). It is drawn
from a pool: `uuid.uuid4()` asks the kernel for 16 bytes on every call, and
`os.urandom` lets go of the GIL while it does, so with many threads writing
at once each id cost its thread a wait for the GIL behind every other
thread; one call for 256 ids keeps the GIL. A forked child starts a pool of
its own, or parent and child would hand out the same ids.
"""

from __future__ import annotations

import os
import threading
import time

_POOL_BYTES = 16 * 256
_RANDOM_B = (1 << 62) - 1  # the low 62 bits: rand_b
_RANDOM_A = 0xFFF << 64  # 12 bits above the variant: rand_a
_VERSION_BITS = (0x7 << 76) | (0b10 << 62)


class _Pool:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.lock = threading.Lock()  # a new one in a child: the parent's may have been held at the fork
        self.data = b""
        self.offset = 0

    def take(self) -> int:
        with self.lock:
            if self.offset >= len(self.data):
                self.data = os.urandom(_POOL_BYTES)
                self.offset = 0
            start = self.offset
            self.offset = start + 16
            return int.from_bytes(self.data[start : start + 16], "big")


_pool = _Pool()
os.register_at_fork(after_in_child=_pool.reset)


def new_id() -> str:
    """A new id: the hex form of a version-7 UUID (`uuid.UUID(hex=…).version == 7`), ordered by its millisecond."""
    random = _pool.take()
    milliseconds = time.time_ns() // 1_000_000
    return f"{milliseconds << 80 | random & (_RANDOM_A | _RANDOM_B) | _VERSION_BITS:032x}"
