"""Protected targets render first for change control; their renders are read back from the render cache
when audited, not all held in memory at once, and the audit is the same either way."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from pathlib import Path

from auditor import pipeline, wiring
from auditor.config import load_config
from auditor.report import json_report
from tests.test_cli import FLEET, render, snapshot

OVERLAYS = {f"overlays/prod-{r}/kustomization.yaml": f"namespace: shop-{r}\nresources: [../../base]\n"
            for r in ("us", "eu")}


def _audit(config: Path, cache: str) -> tuple[list[tuple[str, str]], str]:
    cfg = load_config(config)
    cfg = dataclasses.replace(cfg, source=dataclasses.replace(cfg.source, render_cache=cache))
    said: list[tuple[str, str]] = []
    report = pipeline.run_audit(wiring.run_options(cfg, argparse.Namespace(kubeconfig=None, worktree=False)),
                                cfg.targets, progress=lambda t, m: said.append((t, m)))
    findings = [(f["rule_id"], f["target"], f.get("path", "")) for t in json_report.to_dict(report)["targets"]
                for f in t["findings"]]
    return said, repr(sorted(findings))


def test_protected_renders_come_back_from_the_cache_with_the_same_audit(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    repo = make_repo({**FLEET, **OVERLAYS})
    targets = ""
    for name, env, path in (("prod-us", "production", "overlays/prod-us"),
                            ("prod-eu", "production", "overlays/prod-eu"), ("dev", "dev", "overlays/dev")):
        live = render(repo, path)
        if name == "prod-eu":
            live = [o for o in live if o["kind"] != "Service"]  # drift the audit must still find
        snapshot(tmp_path / f"snap-{name}", live)
        targets += f"  - {{name: {name}, env: {env}, path: {path}, snapshot: snap-{name}}}\n"
    config = tmp_path / "gitops-audit.yaml"
    config.write_text("version: 1\nrepo: repo\nref: main\nprotected_envs: [production]\ntargets:\n" + targets)

    said, cached_run = _audit(config, str(tmp_path / "renders"))
    renders = [(t, m) for t, m in said if m.startswith("render ")]
    for name in ("prod-us", "prod-eu"):  # rendered for change control, then read back for the audit
        mine = [m for t, m in renders if t == name]
        assert len(mine) == 2 and not mine[0].endswith("(cached)") and mine[1].endswith("(cached)"), mine
    assert [m for t, m in renders if t == "dev"] == ["render overlays/dev"]  # not protected: rendered once

    said_off, uncached_run = _audit(config, "off")
    assert not any(m.endswith("(cached)") for _, m in said_off)  # without a cache the renders are held
    assert sum(1 for _, m in said_off if m.startswith("render ")) == 3
    assert cached_run == uncached_run
    assert "drift.missing" in cached_run
