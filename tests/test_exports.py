"""The public API is `tally.__all__`: sorted, complete, and nothing private in it.

In the manner of httpx's tests/test_exported_members.py.
"""

from __future__ import annotations

import tally


def test_all_is_sorted() -> None:
    assert tally.__all__ == sorted(tally.__all__)


def test_all_names_exist_and_are_public() -> None:
    for name in tally.__all__:
        assert hasattr(tally, name), name
        assert not name.startswith("_"), name


def test_all_exports_every_public_member() -> None:
    exported_members = [
        name
        for name, value in vars(tally).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("tally")
    ]
    # Submodules imported by the package are reachable, but are not API.
    exported_members = [name for name in exported_members if not isinstance(getattr(tally, name), type(tally))]
    assert sorted(exported_members) == sorted(tally.__all__)


def test_every_exported_class_says_it_is_from_tally() -> None:
    for name in tally.__all__:
        module = getattr(getattr(tally, name), "__module__", "tally")
        assert module.split(".")[0] == "tally", (name, module)
