"""Generated ids: version-7 UUIDs in hex, ordered by time, unique, and a forked child never repeats its parent's."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid

from tally.ids import new_id


def test_ids_are_version_7_uuids_in_hex() -> None:
    for id in (new_id() for _ in range(1000)):
        parsed = uuid.UUID(hex=id)
        assert (len(id), parsed.hex, parsed.version, parsed.variant) == (32, id, 7, uuid.RFC_4122)


def test_ids_carry_the_millisecond_they_were_drawn_in_and_sort_by_it() -> None:
    before = time.time_ns() // 1_000_000
    first = new_id()
    drawn = int(first[:12], 16)  # its own clock read: the millisecond may have turned since `before`
    while time.time_ns() // 1_000_000 <= drawn:  # the next millisecond after first's
        pass
    later = [new_id() for _ in range(100)]
    after = time.time_ns() // 1_000_000
    assert before <= drawn <= after
    assert all(drawn < int(id[:12], 16) <= after for id in later)
    assert all(first < id for id in later)


def test_ids_keep_74_random_bits() -> None:
    # Ids of one millisecond differ only in their random bits: about half of each flips.
    ids = [int(new_id(), 16) for _ in range(2000)]
    random_bits = (0xFFF << 64) | ((1 << 62) - 1)
    ones = [sum((id >> bit) & 1 for id in ids) for bit in range(128) if random_bits >> bit & 1]
    assert len(ones) == 74
    assert all(800 < count < 1200 for count in ones)


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
