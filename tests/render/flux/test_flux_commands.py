"""``gitops-audit render`` and ``gitops-audit tools`` handlers, called through their own argparse parsers."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from fluxrepo import fleet_files

from auditor import config_stages
from auditor.commands import render, tools
from auditor.config_schema import Node
from auditor.errors import ConfigError

if TYPE_CHECKING:
    from tests.gitfixtures import GitRepo


def _parse(module: object, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module.register(parser.add_subparsers(dest="command"))  # type: ignore[attr-defined]
    return parser.parse_args(argv)


def _config(tmp_path: Path, repo: Path, flux: str, extra: str = "") -> Path:
    cfg = tmp_path / "gitops-audit.yaml"
    cfg.write_text(f"version: 1\nrepo: {repo}\n{flux}{extra}")
    return cfg


FLUX = """\
flux:
  clusters: "clusters/*"
  context: "{name}"
  overrides:
    staging: {snapshot: snaps/staging}
"""


def test_render_flux_target_prints_yaml_with_origins(make_repo: Callable[..., GitRepo], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_repo("fleet", fleet_files())
    cfg = _config(tmp_path, repo.root, FLUX, "defaults: {namespace: apps}\n")
    args = _parse(render, ["render", "--config", str(cfg), "--target", "staging", "--show-origin"])
    assert args.func(args) == 0
    out, err = capsys.readouterr()
    docs = [d for d in yaml.safe_load_all(out) if d]
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("Deployment", "stg-web") in names and ("Kustomization", "apps") in names
    assert re.search(r"^# origin: apps/base/deployment.yaml(:\d+)? \(resource\)\n"
                     r"# origin: apps/staging/kustomization.yaml", out, re.M)
    assert "# not rendered: HelmRelease.helm.toolkit.fluxcd.io in infra: ingress-nginx: remote chart" in err


def test_render_plain_target_and_errors(make_repo: Callable[..., GitRepo], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_repo("fleet", fleet_files())
    targets = "targets:\n  - name: base\n    path: apps/base\n    context: c\n"
    cfg = _config(tmp_path, repo.root, FLUX, targets)
    args = _parse(render, ["render", "--config", str(cfg), "--target", "base"])
    assert args.func(args) == 0
    out, _ = capsys.readouterr()
    assert "# origin" not in out
    assert {d["metadata"]["name"] for d in yaml.safe_load_all(out) if d} == {"web"}
    args = _parse(render, ["render", "--config", str(cfg), "--target", "nope"])
    assert args.func(args) == 2
    assert "no target named 'nope' (targets: base, production, staging)" in capsys.readouterr().err
    bad = _config(tmp_path, repo.root, "flux:\n  clusters: x\n  bogus: 1\n")
    args = _parse(render, ["render", "--config", str(bad), "--target", "x"])
    assert args.func(args) == 2
    assert "gitops-audit.yaml:5: flux.bogus: unknown key 'bogus'" in capsys.readouterr().err


def test_parse_flux_resolves_paths(tmp_path: Path) -> None:
    value = {"flux": {"clusters": "clusters/*", "snapshot": "snaps/{name}", "helm_charts": ["charts"],
                      "source_paths": {"GitRepository/flux-system/other": "../other"},
                      "overrides": {"prod": {"context": "p", "snapshot": "s"}}, "kustomize_helm": True}}
    opts = config_stages.parse_flux(Node(value, (), "cfg", {}).get("flux"), lambda p: tmp_path / p)
    assert opts.snapshot == str(tmp_path / "snaps/{name}") and opts.helm_charts == (str(tmp_path / "charts"),)
    assert opts.source_paths == {"GitRepository/flux-system/other": str(tmp_path / "../other")}
    assert opts.overrides["prod"].snapshot == str(tmp_path / "s") and opts.kustomize_helm
    with pytest.raises(ConfigError, match="must read Kind/namespace/name"):
        config_stages.parse_flux(Node({"source_paths": {"x": "y"}}, ("flux",), "cfg", {}), lambda p: p)


def test_tools_lists_and_install_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse(tools, ["tools", "--config", str(tmp_path / "none.yaml")])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("kustomize ") and "git " in out
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"version: 1\nrepo: .\ntools: {{kustomize: {tmp_path / 'missing'}}}\n")
    args = _parse(tools, ["tools", "--config", str(cfg), "-o", "json"])
    assert args.func(args) == 1
    captured = capsys.readouterr()
    assert "required tool(s) missing: kustomize" in captured.err
    args = _parse(tools, ["tools", "install", "helm", "--dest", str(tmp_path / "bin")])
    assert args.tool == "helm" and args.tools_command == "install"
