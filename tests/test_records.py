"""The positional builders of the core's frozen records build the same records as their constructors."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from tally.core.account import Account, build_account
from tally.core.commands import CreateTransfer, create_transfer
from tally.core.records import positional
from tally.core.transfer import Entry, Transfer, build_entry, build_transfer

ACCOUNT = ("user:1", "USD", 2, 0, None, 30, "open", {"tier": "gold"}, 1_700_000_000_000_000, 4, 150, 25, 40, "fp-a")
TRANSFER = (
    "t-1", "user:1", "user:2", 500, "USD", "rent", {}, True, 60, "void", 9, "pending", None,
    1_700_000_000_000_001, 1_700_000_060_000_001, None, None, 0, None, None, "fp-t",
)  # fmt: skip
ENTRY = ("user:1", 9, "t-1", -500, 150, 1_700_000_000_000_001, "rent")


@pytest.mark.parametrize(
    ("cls", "build", "values"),
    [(Account, build_account, ACCOUNT), (Transfer, build_transfer, TRANSFER), (Entry, build_entry, ENTRY)],
)
def test_a_built_record_is_the_record_its_constructor_makes(
    cls: type, build: Callable[..., object], values: tuple[object, ...]
) -> None:
    built, made = build(*values), cls(*values)
    assert type(built) is cls
    assert built == made
    assert dataclasses.astuple(built) == dataclasses.astuple(made) == values  # compare=False fields too
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(built, dataclasses.fields(cls)[0].name, "other")


def test_a_builder_refuses_a_missing_or_extra_field() -> None:
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'fingerprint'"):
        build_account(*ACCOUNT[:-1])
    with pytest.raises(TypeError, match="takes 7 positional arguments but 8 were given"):
        build_entry(*ENTRY, "extra")


def test_with_balances_changes_only_the_balances() -> None:
    account = Account(*ACCOUNT)
    moved = account.with_balances(1, 2, 3)
    assert (moved.posted, moved.pending_in, moved.pending_out) == (1, 2, 3)
    assert dataclasses.replace(moved, posted=150, pending_in=25, pending_out=40) == account
    assert moved.fingerprint == account.fingerprint


def test_a_record_with_a_post_init_is_refused() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        amount: int

        def __post_init__(self) -> None:
            assert self.amount > 0

    with pytest.raises(AssertionError, match="__post_init__"):
        positional(Checked)


def test_a_transfer_request_is_the_command_its_constructor_makes() -> None:
    built = create_transfer(
        "user:1", "user:2", 500, id="t-1", currency="USD", reason="rent", metadata={"k": 1},
        pending=True, expires_in=60, on_expiry="post",
    )  # fmt: skip
    made = CreateTransfer("t-1", "user:1", "user:2", 500, "USD", "rent", {"k": 1}, True, 60, "post")
    assert dataclasses.astuple(built) == dataclasses.astuple(made)
    assert built == made and built.fingerprint == made.fingerprint
