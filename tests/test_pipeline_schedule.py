"""The render/audit stream: every target audited once with its key's render, each key rendered once,
at most ``workers`` renders alive, a render dropped after its last target, errors raised."""

from __future__ import annotations

import threading

import pytest

from auditor.pipeline_schedule import stream


class Probe:
    """Counts renders alive (rendered, not yet released by their last audit)."""

    def __init__(self, groups: dict[str, list[str]]) -> None:
        self.groups = groups
        self.lock = threading.Lock()
        self.left = {k: len(v) for k, v in groups.items()}
        self.alive = 0
        self.peak = 0
        self.rendered: list[str] = []

    def render(self, key: str) -> str:
        with self.lock:
            self.rendered.append(key)
            self.alive += 1
            self.peak = max(self.peak, self.alive)
        return f"render:{key}"

    def audit(self, target: str, value: str) -> str:
        key = value.split(":", 1)[1]
        assert target in self.groups[key]
        with self.lock:
            self.left[key] -= 1
            if not self.left[key]:
                self.alive -= 1
        return f"{target}@{key}"


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_each_key_once_each_target_once_bounded_renders(workers: int) -> None:
    groups = {f"k{i:02d}": [f"t{i:02d}{c}" for c in "ab"[: 1 + i % 2]] for i in range(25)}
    probe = Probe(groups)
    order = sorted(groups, reverse=True)
    out = stream(groups, order, probe.render, probe.audit, workers)
    assert sorted(probe.rendered) == sorted(groups)  # each key rendered once
    assert sorted(t for t, _ in out) == sorted(t for ts in groups.values() for t in ts)
    assert all(r == f"{t}@k{t[1:3]}" for t, r in out)
    assert probe.peak <= workers  # memory follows the renders in flight, not the fleet
    if workers == 1:
        assert probe.rendered == order  # the given order (largest first, for the pipeline)


def test_errors_stop_the_stream() -> None:
    groups = {"a": ["t1"], "b": ["t2"]}

    def render(key: str) -> str:
        if key == "b":
            raise RuntimeError("boom")
        return key

    with pytest.raises(RuntimeError, match="boom"):
        stream(groups, ["a", "b"], render, lambda t, v: v, 2)
