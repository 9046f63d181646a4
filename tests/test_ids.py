"""Generated ids: version-4 UUIDs in hex, unique, and a forked child never repeats its parent's."""

from __future__ import annotations

import multiprocessing
import threading
import uuid

from tally.ids import new_id


def test_ids_are_version_4_uuids_in_hex() -> None:
    for id in (new_id() for _ in range(1000)):
        parsed = uuid.UUID(hex=id)
        assert (len(id), parsed.hex, parsed.version, parsed.variant) == (32, id, 4, uuid.RFC_4122)


def test_ids_from_many_threads_are_unique() -> None:
    found: list[list[str]] = [[] for _ in range(8)]

    def draw(index: int) -> None:
        found[index] = [new_id() for _ in range(5000)]

    threads = [threading.Thread(target=draw, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [id for ids in found for id in ids]
    assert len(set(every)) == len(every) == 40_000


def _child_ids(queue: multiprocessing.Queue[list[str]]) -> None:
    queue.put([new_id() for _ in range(100)])


def test_a_forked_child_draws_other_ids_than_its_parent() -> None:
    new_id()  # the parent's pool is filled: a child that kept it would repeat what follows
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[list[str]] = context.Queue()
    child = context.Process(target=_child_ids, args=(queue,))
    child.start()
    theirs = queue.get(timeout=30)
    child.join(timeout=30)
    ours = [new_id() for _ in range(100)]
    assert not set(theirs) & set(ours)
