"""gc_paused: full collections wait during bulk work; thresholds come back after."""

from __future__ import annotations

import gc
import threading

from labshelf.runtime import NO_FULL_COLLECTIONS, gc_paused


def test_full_collections_paused_and_restored() -> None:
    before = gc.get_threshold()
    with gc_paused():
        assert gc.get_threshold()[2] == NO_FULL_COLLECTIONS
        assert gc.get_threshold()[:2] == before[:2]  # young collections keep running
        with gc_paused():
            assert gc.get_threshold()[2] == NO_FULL_COLLECTIONS
        assert gc.get_threshold()[2] == NO_FULL_COLLECTIONS  # the outer pause still holds
    assert gc.get_threshold() == before


def test_concurrent_pauses_restore_once_all_end() -> None:
    before = gc.get_threshold()
    inside, release = threading.Barrier(3), threading.Event()

    def worker() -> None:
        with gc_paused():
            inside.wait()
            release.wait(5)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    inside.wait()
    assert gc.get_threshold()[2] == NO_FULL_COLLECTIONS
    release.set()
    for t in threads:
        t.join()
    assert gc.get_threshold() == before


def test_restored_after_an_error() -> None:
    before = gc.get_threshold()
    try:
        with gc_paused():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
