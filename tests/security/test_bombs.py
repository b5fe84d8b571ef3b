"""Issue 16 items 7 and 8: alias bombs, self-referencing aliases and absurd nesting cost one target, never the run.

The CLI runs with its own memory bounded (``prlimit --data``), as a batch job on a shared node would: before
the fix, a bomb in the config or in a flow-style kustomization grew the auditor itself until it died (exit 4
or a crash), and a 30,000-level flow collection crashed the YAML parser with SIGSEGV.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from .hostile import BASE_FILES, run_cli, snapshot_of, write_config

LIMIT = ["prlimit", f"--data={1536 * 1024 * 1024}"]


def bomb(levels: int = 12, indent: str = "  ") -> str:
    lines = [f'{indent}a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{indent}a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_config_bombs_are_one_line_exit_2(tmp_path: Path) -> None:
    cases = {
        "bomb.yaml": "version: 1\nrepo: .\nbombs:\n" + bomb(),
        "self.yaml": "version: 1\nrepo: .\ntargets: &t\n  - name: a\n    path: x\n    snapshot: s\n    more: *t\n",
        "deep.yaml": "version: 1\nrepo: .\nx: " + "[" * 30000 + "]" * 30000 + "\n",
        "dup.yaml": "version: 1\nrepo: .\nrepo: ..\n",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        run = run_cli(["run", "--config", str(tmp_path / name)], cwd=tmp_path, cache=tmp_path / "c", prefix=LIMIT)
        assert run.code == 2, (name, run.code, run.stderr[-500:])
        err = run.stderr.strip()
        assert len(err.splitlines()) == 1 and str(tmp_path / name) in err, (name, err)
        assert "internal error" not in err


def test_repository_and_snapshot_bombs_cost_one_target(make_repo: Callable[..., Path], tmp_path: Path) -> None:
    files = {
        **BASE_FILES,
        # a resource file kustomize expands: kustomize hits its memory limit
        "overlays/bomb/kustomization.yaml": "namespace: shop\nresources: [bomb.yaml]\n",
        "overlays/bomb/bomb.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata: {a: b}\nx:\n"
        + bomb(),
        # a flow-style kustomization: the auditor edits it (buildMetadata) before kustomize runs
        "overlays/flow/kustomization.yaml": "{resources: [../../base], x: &a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol], "
        + ", ".join(f"y{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 12)) + "}\n",
        "overlays/deep/kustomization.yaml": "resources: [../../base]\nx: " + "[" * 30000 + "]" * 30000 + "\n",
        "overlays/ok/kustomization.yaml": "namespace: shop\nresources: [../../base]\n",
    }
    make_repo(files)
    snapshot_of([], tmp_path / "snap")
    (tmp_path / "snap-bomb").mkdir()
    (tmp_path / "snap-bomb" / "live.yaml").write_text("apiVersion: v1\nkind: List\nitems: []\nx:\n" + bomb())
    (tmp_path / "snap-deep").mkdir()
    (tmp_path / "snap-deep" / "live.json").write_text('{"apiVersion": "v1", "kind": "List", "items": [], "x": '
                                                       + "[" * 1000 + "]" * 1000 + "}")
    targets = [("bomb", "bomb", "snap"), ("flow", "flow", "snap"), ("deep", "deep", "snap"),
               ("snap-bomb", "ok", "snap-bomb"), ("snap-deep", "ok", "snap-deep"), ("ok", "ok", "snap")]
    cfg = write_config(tmp_path / "cfg.yaml", "repo: repo\nref: main\nsource: {tool_memory_mb: 512}\ntargets:\n"
                       + "".join(f"  - {{name: {n}, path: overlays/{o}, snapshot: {s}}}\n" for n, o, s in targets))
    run = run_cli(["run", "--config", str(cfg), "--out", str(tmp_path / "reports")], cwd=tmp_path,
                  cache=tmp_path / "cache", prefix=LIMIT)
    assert run.code == 3, run.stderr[-2000:]
    doc = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())
    results = {t["target"]["name"]: t for t in doc["targets"]}
    assert results["ok"]["audited"]
    assert "ran out of memory" in results["bomb"]["skip_reason"]
    assert "alias" in results["snap-bomb"]["skip_reason"]
    assert "nested deeper than" in results["snap-deep"]["skip_reason"]
    for name in ("bomb", "flow", "deep", "snap-bomb", "snap-deep"):
        reason = results[name]["skip_reason"]
        assert not results[name]["audited"] and reason and "\n" not in reason and len(reason) < 1000, (name, reason)
