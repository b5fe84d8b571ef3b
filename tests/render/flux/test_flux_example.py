"""examples/flux-fleet stays in sync with the test fleet and renders with its own config."""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from fluxrepo import fleet_files

from auditor.commands import render

if TYPE_CHECKING:
    from tests.gitfixtures import GitRepo

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "flux-fleet"


def test_example_fleet_is_the_test_fleet() -> None:
    on_disk = {p.relative_to(EXAMPLE / "fleet").as_posix(): p.read_text()
               for p in sorted((EXAMPLE / "fleet").rglob("*")) if p.is_file()}
    assert on_disk == fleet_files()


def test_example_config_renders_both_clusters(make_repo: Callable[..., GitRepo], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_repo("flux-fleet", fleet_files())
    text = (EXAMPLE / "gitops-audit.yaml").read_text().replace("repo: /tmp/flux-fleet", f"repo: {repo.root}")
    cfg = tmp_path / "gitops-audit.yaml"
    cfg.write_text(text)
    shutil.copytree(EXAMPLE / "snapshots", tmp_path / "snapshots")
    parser = argparse.ArgumentParser()
    render.register(parser.add_subparsers())
    for name in ("production", "staging"):
        args = parser.parse_args(["render", "--config", str(cfg), "--target", name])
        assert args.func(args) == 0
        docs = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]
        snapshot = yaml.safe_load((tmp_path / "snapshots" / name / "objects.yaml").read_text())
        live = {(d["kind"], d["metadata"]["name"]) for d in snapshot["items"]}
        # every desired object is in the snapshot (the snapshot was made from this render)
        assert {(d["kind"], d["metadata"]["name"]) for d in docs} <= live | {("Deployment", "podinfo")}
