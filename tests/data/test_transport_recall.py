"""The memory of frames already stored (so a frame passed on twice is written once)."""

import threading

from flyte.io import _transport
from flyte.io._dataframe import DataFrame


class Frame:
    """Any weakly referenceable value."""


def test_a_stored_frame_freed_while_another_is_being_remembered_does_not_deadlock():
    # Hashing a frame allocates; the garbage collector may free an earlier frame right then,
    # and its callback runs inside _remember, on the same thread.
    ref = DataFrame(uri="file:///tmp/x.parquet", format="parquet")
    holder = [Frame()]
    _transport._remember(holder[0], lambda value: lambda _: True, ref)

    def tracker_that_frees_the_first(value):
        holder.clear()  # the last reference: its weakref callback runs now
        return lambda _: True

    second = Frame()
    worker = threading.Thread(
        target=_transport._remember, args=(second, tracker_that_frees_the_first, ref), daemon=True
    )
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "_remember deadlocked on the callback of a freed frame"
    assert _transport._recall(second) is ref


def test_a_forgotten_frame_does_not_remove_a_newer_one_that_reuses_its_id():
    ref = DataFrame(uri="file:///tmp/x.parquet", format="parquet")
    first = Frame()
    _transport._remember(first, lambda value: lambda _: True, ref)
    key = id(first)
    stale = _transport._stored[key][0]
    newer = DataFrame(uri="file:///tmp/y.parquet", format="parquet")
    replacement = Frame()
    _transport._stored[key] = (lambda: replacement, lambda _: True, newer)  # as if the id were reused
    _transport._forget(key, stale)
    assert _transport._stored[key][2] is newer
    del _transport._stored[key]
