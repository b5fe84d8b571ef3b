"""Issue 16 item 12: shard counts are validated (against the number of targets) instead of hanging."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .hostile import BASE_FILES, run_cli, snapshot_of, write_config


@pytest.mark.parametrize(("shard", "expected"), [("1/100000000", "at most 10000 shards"),
                                                  ("5/10", "10 shards for 2 targets")])
def test_absurd_shard_counts_are_one_line_exit_2(make_repo: Callable[..., Path], tmp_path: Path, shard: str,
                                                 expected: str) -> None:
    make_repo(BASE_FILES)
    snapshot_of([], tmp_path / "snap")
    cfg = write_config(tmp_path / "cfg.yaml", "repo: repo\nref: main\ntargets:\n"
                       "  - {name: a, path: overlays/prod, snapshot: snap}\n"
                       "  - {name: b, path: overlays/prod, snapshot: snap}\n")
    # Before the fix 1/100000000 computed 10^8 hashes per target (hours); 120 s is only a hang guard.
    run = run_cli(["run", "--config", str(cfg), "--shard", shard, "--out", str(tmp_path / "r")], cwd=tmp_path,
                  cache=tmp_path / "cache", timeout=120)
    assert run.code == 2, run.stderr
    assert expected in run.stderr and len(run.stderr.strip().splitlines()) == 1
