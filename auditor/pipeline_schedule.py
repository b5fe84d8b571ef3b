"""Render and audit targets as one stream, so memory is bounded by the renders in flight, not the fleet.

A run renders each distinct render key once and audits every target that shares it. Rendering every
key first and auditing afterwards holds every render (all desired objects of the fleet) until the
last audit; here a render is dropped as soon as the last target using it has been audited, and at most
``workers`` renders are alive at once. Workers take an audit task whenever one is ready (so renders are
released early), else the next render in ``order`` (the costliest first, when the caller knows costs:
the long poles start early and the run ends sooner).

Generic wiring helper: it knows render keys, targets and results only through the callables it is given.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R")
A = TypeVar("A")


class _Stream(Generic[K, T, R, A]):
    """The shared state of one run: queued renders, ready audits, renders alive and results."""

    def __init__(self, groups: Mapping[K, Sequence[T]], order: Sequence[K], workers: int) -> None:
        self.groups = groups
        self.pending = list(reversed(order))  # pop() takes the next in order
        self.ready: list[tuple[K, T]] = []
        self.alive: dict[K, R] = {}
        self.left: dict[K, int] = {k: len(groups[k]) for k in order}
        self.limit = max(1, workers)
        self.rendering = 0
        self.cond = threading.Condition()
        self.error: BaseException | None = None

    def take(self) -> tuple[str, K | None, T | None]:
        """The next task: ("audit", key, target), ("render", key, None) or ("done", None, None)."""
        with self.cond:
            while True:
                if self.error is not None:
                    return "done", None, None
                if self.ready:
                    key, target = self.ready.pop(0)
                    return "audit", key, target
                if self.pending and len(self.alive) + self.rendering < self.limit:
                    self.rendering += 1
                    return "render", self.pending.pop(), None
                if not self.pending and not self.rendering and not self.ready:
                    return "done", None, None
                self.cond.wait()

    def rendered(self, key: K, value: R) -> None:
        with self.cond:
            self.rendering -= 1
            if self.left[key]:
                self.alive[key] = value
                self.ready.extend((key, t) for t in self.groups[key])
            self.cond.notify_all()

    def audited(self, key: K) -> None:
        with self.cond:
            self.left[key] -= 1
            if not self.left[key]:
                self.alive.pop(key, None)  # the last target of this render: drop it
            self.cond.notify_all()

    def failed(self, exc: BaseException) -> None:
        with self.cond:
            self.error = self.error or exc
            self.cond.notify_all()


def stream(
    groups: Mapping[K, Sequence[T]],
    order: Sequence[K],
    render: Callable[[K], R],
    audit: Callable[[T, R], A],
    workers: int,
    wrap: Callable[[Callable[[None], None]], Callable[[None], None]] = lambda f: f,
) -> list[tuple[T, A]]:
    """Render each key of ``order`` once and audit each of its ``groups`` targets with it.

    Returns (target, audit result) pairs in completion order. ``wrap`` adapts each worker function (the
    pipeline runs workers in a copy of its logging context). An exception in ``render`` or ``audit`` stops
    the stream and is raised here (both are expected to turn target problems into results).
    """
    state: _Stream[K, T, R, A] = _Stream(groups, order, workers)
    results: list[tuple[T, A]] = []
    lock = threading.Lock()

    def work(_: None) -> None:
        while True:
            what, key, target = state.take()
            if what == "done":
                return
            assert key is not None
            try:
                if what == "render":
                    state.rendered(key, render(key))
                    continue
                assert target is not None
                value = state.alive[key]
                outcome = audit(target, value)
                del value
                with lock:
                    results.append((target, outcome))
                state.audited(key)
            except BaseException as exc:
                state.failed(exc)
                raise

    n = max(1, workers)
    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(wrap(work), None) for _ in range(n)]
        for f in futures:
            f.result()
    return results
