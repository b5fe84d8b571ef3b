"""The collector's thresholds during an audit: set once for nested and concurrent runs, restored after."""

from __future__ import annotations

import gc
import threading

from auditor.util import collector


def test_relaxed_sets_the_run_thresholds_and_restores_them() -> None:
    before = gc.get_threshold()
    with collector.relaxed():
        assert gc.get_threshold() == collector.RUN_THRESHOLDS
        with collector.relaxed():  # nested (an audit inside an audit's command)
            assert gc.get_threshold() == collector.RUN_THRESHOLDS
        assert gc.get_threshold() == collector.RUN_THRESHOLDS  # still inside the outer block
    assert gc.get_threshold() == before


def test_relaxed_restores_after_an_error_and_collects_cycles() -> None:
    before = gc.get_threshold()

    class Node:
        pass

    try:
        with collector.relaxed():
            a, b = Node(), Node()
            a.other, b.other = b, a  # type: ignore[attr-defined]
            ref = __import__("weakref").ref(a)
            del a, b
            raise ValueError("boom")
    except ValueError:
        pass
    assert gc.get_threshold() == before
    assert ref() is None  # the cycle made inside the block is gone when it ends


def test_concurrent_runs_share_one_setting() -> None:
    before = gc.get_threshold()
    inside = threading.Barrier(2)
    leave = threading.Event()
    seen: list[tuple[int, int, int]] = []

    def run(first: bool) -> None:
        with collector.relaxed():
            inside.wait()
            if first:
                seen.append(gc.get_threshold())
                return  # the first run ends while the second is still inside
            leave.wait(10)
            seen.append(gc.get_threshold())

    threads = [threading.Thread(target=run, args=(i == 0,)) for i in range(2)]
    for t in threads:
        t.start()
    threads[0].join(10)
    leave.set()
    threads[1].join(10)
    assert seen == [collector.RUN_THRESHOLDS, collector.RUN_THRESHOLDS]
    assert gc.get_threshold() == before
