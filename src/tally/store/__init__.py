"""Stores: where the journal and the tables derived from it live.

A store persists what the engine decided, inside the unit of work the engine
opens and commits; it never decides a business rule and never commits on its
own. `open_store(url)` picks the implementation from the URL's scheme.
"""

from __future__ import annotations

from tally.store.base import Changes, Head, Store
from tally.store.urls import open_store

__all__ = ["Changes", "Head", "Store", "open_store"]
