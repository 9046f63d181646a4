"""Positional builders for the core's frozen records, for the paths every transfer takes.

A frozen dataclass's generated `__init__` sets each field through
`object.__setattr__`, which looks the attribute up on the type every time,
and every transfer builds some 70 fields (its command, the transfer, two
accounts, two entries). A slotted class's fields are member descriptors; a
builder that calls each one's `__set__` directly fills the same record in
about half the time (on the benchmark machine: a `Transfer` 2.25 → 1.00 µs,
an `Account` 1.43 → 0.74, an `Entry` 1.42 → 0.44). Like the dataclass's own
`__init__`, the builder is generated from the field names, so it is one
straight-line function with no loop. The record is the same, equal and
frozen; only the way it is filled differs, and the dataclass's constructor
stays the public one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")

_RESERVED = frozenset({"record", "_new", "_cls"})  # the builder's own names


def positional(cls: type[T]) -> Callable[..., T]:
    """A builder taking every field of `cls`, in declaration order, positionally.

    For frozen slotted dataclasses with no `__post_init__`: it runs no
    defaults and no checks, so every field must be passed (a missing or
    extra one is a `TypeError`, as for any function).
    """
    names = [field.name for field in fields(cls)]  # type: ignore[arg-type]
    assert not hasattr(cls, "__post_init__"), f"{cls.__name__} has a __post_init__ the builder would skip"
    assert all(name.isidentifier() and name not in _RESERVED for name in names), names
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    namespace.update({f"_set_{name}": cls.__dict__[name].__set__ for name in names})
    body = "".join(f"    _set_{name}(record, {name})\n" for name in names)
    source = f"def build_{cls.__name__}({', '.join(names)}):\n    record = _new(_cls)\n{body}    return record\n"
    exec(source, namespace)  # the source holds only the dataclass's own field names
    build: Callable[..., T] = namespace[f"build_{cls.__name__}"]
    return build
