"""Pages of results with an opaque cursor for the next one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tally.core.account import Account
from tally.core.events import Event
from tally.core.transfer import Entry, Transfer

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Page(Generic[T]):
    items: tuple[T, ...]
    next: str | None  # pass as `after` for the next page; None on the last one

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> T:
        return self.items[index]


class EntryPage(_Page[Entry]):
    __slots__ = ()

    @property
    def entries(self) -> tuple[Entry, ...]:
        return self.items

    def to_dict(self) -> dict[str, Any]:
        return {"entries": [e.to_dict() for e in self.items], "next": self.next}


class TransferPage(_Page[Transfer]):
    __slots__ = ()

    @property
    def transfers(self) -> tuple[Transfer, ...]:
        return self.items

    def to_dict(self) -> dict[str, Any]:
        return {"transfers": [t.to_dict() for t in self.items], "next": self.next}


class AccountPage(_Page[Account]):
    __slots__ = ()

    @property
    def accounts(self) -> tuple[Account, ...]:
        return self.items

    def to_dict(self) -> dict[str, Any]:
        return {"accounts": [a.to_dict() for a in self.items], "next": self.next}


class EventPage(_Page[Event]):
    __slots__ = ()

    @property
    def events(self) -> tuple[Event, ...]:
        return self.items

    def to_dict(self) -> dict[str, Any]:
        # `next` is the seq to pass as `after` (unchanged when there was nothing new).
        return {"events": [e.to_dict() for e in self.items], "next": int(self.next or 0)}
