"""Random ids (UUID version 4, as 32 hex digits), drawn from a pool of OS randomness.

`uuid.uuid4()` asks the kernel for 16 bytes on every call, and `os.urandom`
lets go of the GIL while it does: with many threads writing at once, each id
cost its thread a wait for the GIL behind every other thread. One call for
256 ids keeps the randomness (the kernel's CSPRNG: ids stay unguessable, so
no one can take the id of another client's next transfer) and the GIL.
A forked child starts a pool of its own, or parent and child would hand out
the same ids.
"""

from __future__ import annotations

import os
import threading

_POOL_BYTES = 16 * 256
_VERSION_MASK = ~(0xF000 << 64) & ~(0xC000 << 48)
_VERSION_BITS = (0x4000 << 64) | (0x8000 << 48)


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
    """A new random id: the hex form of a version-4 UUID (`uuid.UUID(hex=…).version == 4`)."""
    return f"{_pool.take() & _VERSION_MASK | _VERSION_BITS:032x}"
