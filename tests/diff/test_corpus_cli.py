"""Every corpus case gives its verdict end to end: through ``gitops-audit run`` and ``gitops-audit diff``.

``run``: one real git repository with one kustomize directory per case (rendered by the real
``kubectl kustomize``), one snapshot directory per case, one target per case, one ``python -m
auditor run`` for all of them (cases with ignore rules get a run of their own, since rules are
config-wide). The default orphan kinds are read from the snapshots, so an orphan of a kind git
does not hold is found here. ``diff``: the command on the same desired/live files, JSON output.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.commands import diff as diff_cmd

from .corpus_support import Case, load_cases

CASES = load_cases()
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")


def _expected(case: Case, run: bool = False) -> set[tuple[str, str]]:
    expect = case.run_expect if run and case.run_expect is not None else case.expect
    return {(e["rule"], e.get("path") or e["subject"]) for e in expect}


def _target_name(case: Case) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "-", f"{case.kind_dir}.{case.name}")


def _ignore_config(case: Case) -> list[dict[str, Any]]:
    out = []
    for r in case.ignore:
        item: dict[str, Any] = {k: v for k, v in (("group", r.group), ("kind", r.kind), ("name", r.name),
                                                  ("namespace", r.namespace), ("id", r.id)) if v}
        if r.json_pointers:
            item["jsonPointers"] = list(r.json_pointers)
        if r.managed_fields_managers:
            item["managedFieldsManagers"] = list(r.managed_fields_managers)
        out.append(item)
    return out


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null", *args], cwd=repo,
                   check=True, env=env, capture_output=True)


def _run(tmp: Path, cases: list[Case], ignore: list[dict[str, Any]]) -> dict[str, set[tuple[str, str]]]:
    repo = tmp / "repo"
    targets = []
    for case in cases:
        name = _target_name(case)
        overlay = repo / "cases" / name
        overlay.mkdir(parents=True)
        (overlay / "objects.yaml").write_text(yaml.safe_dump_all(case.desired, sort_keys=False))
        (overlay / "kustomization.yaml").write_text("resources: [objects.yaml]\n")
        snap = tmp / "snapshots" / name
        snap.mkdir(parents=True)
        (snap / "live.yaml").write_text(yaml.safe_dump_all(case.live, sort_keys=False))
        targets.append({"name": name, "env": "test", "path": f"cases/{name}", "namespace": "shop",
                        "snapshot": str(snap)})
    config = {"version": 1, "repo": "repo", "protected_envs": [], "fail_on": "critical",
              "output": {"dir": "reports"}, "cluster": {"secrets": "hash"}, "policy": {"builtin": False},
              "drift": {"ignore_differences": ignore}, "targets": targets}
    (tmp / "gitops-audit.yaml").write_text(yaml.safe_dump(config))
    repo.mkdir(exist_ok=True)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "corpus")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp / "cache")}
    proc = subprocess.run([sys.executable, "-m", "auditor", "run", "--config", str(tmp / "gitops-audit.yaml"), "-q"],
                          cwd=tmp, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    report = json.loads((tmp / "reports" / "latest" / "report.json").read_text())
    out: dict[str, set[tuple[str, str]]] = {}
    for t in report["targets"]:
        tname = t["target"]["name"]
        assert t.get("audited", True), (tname, t.get("skip_reason"))
        out[tname] = {(f["rule_id"], f.get("path") or f.get("subject") or (f.get("ref") or {}).get("subject"))
                      for f in t.get("findings", []) if f["category"] == "drift" and not f.get("suppressed_by")}
    return out


def test_every_case_through_run(tmp_path: Path) -> None:
    plain = [c for c in CASES if not c.ignore]
    got = _run(tmp_path / "plain", plain, [])
    for case in [c for c in CASES if c.ignore]:
        got.update(_run(tmp_path / _target_name(case), [case], _ignore_config(case)))
    wrong = {c.id: (sorted(got.get(_target_name(c), set())), sorted(_expected(c, run=True)))
             for c in CASES if got.get(_target_name(c)) != _expected(c, run=True)}
    assert not wrong, json.dumps(wrong, indent=1)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_case_through_diff(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "desired.yaml").write_text(yaml.safe_dump_all(case.desired, sort_keys=False))
    (tmp_path / "live.yaml").write_text(yaml.safe_dump_all(case.live, sort_keys=False))
    parser = argparse.ArgumentParser()
    diff_cmd.register(parser.add_subparsers())
    argv = ["diff", "--desired", str(tmp_path / "desired.yaml"), "--live", str(tmp_path / "live.yaml"),
            "--namespace", "shop", "--orphans", "-o", "json"]
    for rule in case.ignore:
        argv += [a for p in rule.json_pointers for a in ("--ignore-pointer", p)]
    code = diff_cmd.handler(parser.parse_args(argv))
    doc = json.loads(capsys.readouterr().out)
    counted = {(f["rule_id"], f["path"] or f["subject"]) for f in doc["findings"] if not f["suppressed_by"]}
    assert counted == _expected(case)
    drifted = any(e["severity"] != "info" for e in case.expect)
    assert code == (1 if drifted else 0)
    assert doc["in_sync"] is not drifted
