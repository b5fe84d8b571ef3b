"""Sharding: K/N parsing, Indexed Job environment, deterministic and stable target assignment."""

from __future__ import annotations

import argparse

import pytest

from auditor import shard
from auditor.errors import UsageError
from auditor.model import Target


def targets(n: int, prefix: str = "cluster") -> tuple[Target, ...]:
    return tuple(Target(name=f"{prefix}-{i:03d}") for i in range(n))


@pytest.mark.parametrize(("text", "expected"), [("0/3", (0, 3)), ("2/3", (2, 3)), (" 0/1 ", (0, 1))])
def test_parse_shard(text: str, expected: tuple[int, int]) -> None:
    assert shard.parse_shard(text) == expected


@pytest.mark.parametrize("text", ["3/3", "-1/3", "1/0", "1", "a/b", "1/3/4", ""])
def test_parse_shard_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="--shard"):
        shard.parse_shard(text)


def test_shard_from_env() -> None:
    assert shard.shard_from_env({"JOB_COMPLETION_INDEX": "2"}, 3) == (2, 3)
    for env in ({}, {"JOB_COMPLETION_INDEX": ""}, {"JOB_COMPLETION_INDEX": "x"}, {"JOB_COMPLETION_INDEX": "3"}):
        with pytest.raises(UsageError, match="JOB_COMPLETION_INDEX"):
            shard.shard_from_env(env, 3)
    with pytest.raises(UsageError):
        shard.shard_from_env({"JOB_COMPLETION_INDEX": "0"}, 0)


def test_shards_partition_the_targets_in_config_order() -> None:
    fleet = targets(50)
    parts = [shard.select_shard(fleet, k, 4) for k in range(4)]
    assert sorted(t.name for p in parts for t in p) == sorted(t.name for t in fleet)
    assert sum(len(p) for p in parts) == len(fleet)
    for p in parts:
        assert list(p) == [t for t in fleet if t in p]  # config order kept
        assert p  # 50 targets in 4 shards: none empty


def test_assignment_is_fixed_across_processes() -> None:
    # Golden values: a change of the hash would silently reshuffle every deployed fleet.
    assert [shard.shard_of(f"cluster-{i:03d}", 3) for i in range(12)] == GOLDEN_3


GOLDEN_3 = [2, 1, 0, 1, 0, 1, 1, 0, 2, 2, 2, 2]


def test_adding_a_target_moves_no_other() -> None:
    fleet = targets(40)
    before = {t.name: shard.shard_of(t.name, 5) for t in fleet}
    grown = (*fleet[:17], Target(name="new-cluster"), *fleet[17:])
    after = {t.name: k for k in range(5) for t in shard.select_shard(grown, k, 5)}
    assert all(after[name] == k for name, k in before.items())


def test_growing_the_shard_count_moves_few_targets() -> None:
    names = [t.name for t in targets(400)]
    moved = sum(shard.shard_of(n, 4) != shard.shard_of(n, 5) for n in names)
    # Rendezvous hashing moves only the targets that now prefer the new shard (~1/5);
    # modulo hashing would move ~4/5.
    assert moved == sum(shard.shard_of(n, 5) == 4 for n in names)
    assert moved < len(names) * 0.3


def test_single_shard_is_everything() -> None:
    fleet = targets(7)
    assert shard.select_shard(fleet, 0, 1) == fleet
    with pytest.raises(UsageError):
        shard.select_shard(fleet, 1, 1)


def test_arguments() -> None:
    p = argparse.ArgumentParser()
    shard.add_arguments(p)
    assert shard.from_args(p.parse_args([])) is None
    assert shard.from_args(p.parse_args(["--shard", "1/2"])) == (1, 2)
    assert shard.from_args(p.parse_args(["--shard-count", "3"]), {"JOB_COMPLETION_INDEX": "1"}) == (1, 3)
    with pytest.raises(SystemExit):
        p.parse_args(["--shard", "1/2", "--shard-count", "2"])


def test_shard_count_is_bounded_by_the_targets() -> None:
    """Issue 16 item 12: more shards than targets is a usage error, and N is bounded before any hashing."""
    targets = [Target(name=f"t{i}") for i in range(3)]
    assert sum(len(shard.select_shard(targets, k, 3)) for k in range(3)) == 3
    with pytest.raises(UsageError, match="4 shards for 3 targets"):
        shard.select_shard(targets, 0, 4)
    with pytest.raises(UsageError, match="at most 10000 shards"):
        shard.parse_shard("1/100000000")
