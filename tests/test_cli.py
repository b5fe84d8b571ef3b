"""End-to-end CLI tests: real git repositories, the real kustomize, snapshot live state."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from auditor.cli import main

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: registry.example.com/web:1.0.0
          resources:
            requests: {cpu: 100m, memory: 128Mi}
            limits: {memory: 256Mi}
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
    - port: 80
      targetPort: 8080
"""
FLEET = {
    "base/deployment.yaml": DEPLOY,
    "base/service.yaml": SERVICE,
    "base/kustomization.yaml": "resources: [deployment.yaml, service.yaml]\n",
    "overlays/prod/kustomization.yaml": "namespace: shop\nresources: [../../base]\n"
    "replicas:\n  - name: web\n    count: 3\n",
    "overlays/dev/kustomization.yaml": "namespace: shop-dev\nresources: [../../base]\n",
}


def render(repo: Path, overlay: str) -> list[dict]:
    import yaml

    out = subprocess.run(["kubectl", "kustomize", str(repo / overlay)], check=True, capture_output=True, text=True)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def snapshot(dest: Path, objects: list[dict]) -> Path:
    import yaml

    dest.mkdir(parents=True, exist_ok=True)
    (dest / "live.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    return dest


def write_config(path: Path, targets: str) -> Path:
    path.write_text("version: 1\nrepo: repo\nref: main\ntargets:\n" + targets)
    return path


@pytest.fixture
def fleet(make_repo: Callable[..., Path], tmp_path: Path) -> Path:
    repo = make_repo(FLEET)
    prod = render(repo, "overlays/prod")
    for obj in prod:
        if obj["kind"] == "Deployment":
            obj["spec"]["replicas"] = 5  # scaled by hand
    snapshot(tmp_path / "snap-prod", [o for o in prod if o["kind"] != "Service"])  # Service deleted
    snapshot(tmp_path / "snap-dev", render(repo, "overlays/dev"))  # in sync
    write_config(
        tmp_path / "gitops-audit.yaml",
        "  - {name: prod, env: production, region: us-east, path: overlays/prod, snapshot: snap-prod}\n"
        "  - {name: dev, env: dev, region: us-east, path: overlays/dev, snapshot: snap-dev}\n",
    )
    return tmp_path


def load_findings(out: Path) -> list[dict]:
    doc = json.loads((out / "latest" / "report.json").read_text())
    return [f for t in doc["targets"] for f in t["findings"]]


def test_run_reports_drift_and_exits_by_severity(fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(fleet / "gitops-audit.yaml")
    assert main(["run", "--config", cfg, "--out", str(fleet / "r1"), "--fail-on", "high"]) == 1
    findings = load_findings(fleet / "r1")
    by_rule = {(f["rule_id"], f["object"]["kind"] if f.get("object") else "") for f in findings}
    assert ("drift.missing", "Service") in by_rule
    modified = [f for f in findings if f["rule_id"] == "drift.modified"]
    assert any(f["path"] == "spec.replicas" and f["expected"] == 3 and f["actual"] == 5 for f in modified)
    assert all(f["target"] == "prod" for f in findings if f["category"] == "drift")
    out = capsys.readouterr().out
    assert "HTML report:" in out and "report.html" in out
    # critical threshold: the same findings no longer fail the run
    assert main(["run", "--config", cfg, "--out", str(fleet / "r2"), "--fail-on", "critical", "-q"]) == 0


def test_second_run_gives_identical_findings_in_identical_order(fleet: Path) -> None:
    cfg = str(fleet / "gitops-audit.yaml")
    main(["run", "--config", cfg, "--out", str(fleet / "a"), "-q"])
    main(["run", "--config", cfg, "--out", str(fleet / "b"), "-q"])
    strip = ("status", "first_seen", "last_seen")

    def key(fs: list[dict]) -> list[dict]:
        return [{k: v for k, v in f.items() if k not in strip} for f in fs]

    assert key(load_findings(fleet / "a")) == key(load_findings(fleet / "b"))
    assert load_findings(fleet / "a")


def test_short_form_selects_by_env_and_default_config(fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(fleet)
    monkeypatch.delenv("GITOPS_AUDIT_CONFIG", raising=False)
    assert main(["--env", "dev", "--out", "rdev", "-q"]) == 0
    doc = json.loads((fleet / "rdev" / "latest" / "report.json").read_text())
    assert [t["target"]["name"] for t in doc["targets"]] == ["dev"]


def test_broken_overlay_is_reported_and_others_audited(
    make_repo: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = dict(FLEET)
    files["overlays/broken/kustomization.yaml"] = "resources: [bad.yaml]\n"
    files["overlays/broken/bad.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: [\n"
    repo = make_repo(files)
    snapshot(tmp_path / "snap-dev", render(repo, "overlays/dev"))
    cfg = write_config(
        tmp_path / "cfg.yaml",
        "  - {name: dev, path: overlays/dev, snapshot: snap-dev}\n"
        "  - {name: broken, path: overlays/broken, snapshot: snap-dev}\n",
    )
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "r")]) == 3
    doc = json.loads((tmp_path / "r" / "latest" / "report.json").read_text())
    results = {t["target"]["name"]: t for t in doc["targets"]}
    assert results["dev"]["audited"] is True
    assert results["broken"]["audited"] is False
    reason = results["broken"]["skip_reason"]
    assert "overlays/broken/bad.yaml" in reason and "\n" not in reason
    assert "Traceback" not in capsys.readouterr().err


def test_config_error_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("version: 1\ntargets:\n  - name: a\n    path: x\n    contxt: prod\n")
    assert main(["run", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gitops-audit: error: ") and f"{cfg}:5: targets[0].contxt: unknown key" in err
    assert len(err.splitlines()) == 1


def test_unresolvable_ref_marks_targets_not_audited(fleet: Path) -> None:
    cfg = fleet / "bad-ref.yaml"
    cfg.write_text(
        "repo: repo\nref: no-such-branch\ntargets:\n  - {name: prod, path: overlays/prod, snapshot: snap-prod}\n"
    )
    assert main(["run", "--config", str(cfg), "--out", str(fleet / "r"), "-q"]) == 3
    doc = json.loads((fleet / "r" / "latest" / "report.json").read_text())
    assert "no-such-branch" in doc["targets"][0]["skip_reason"]


def test_adhoc_target_from_flags(fleet: Path) -> None:
    code = main(["--repo", str(fleet / "repo"), "--path", "overlays/dev", "--snapshot", str(fleet / "snap-dev"),
                 "--out", str(fleet / "adhoc"), "-q"])
    assert code == 0


def test_no_config_is_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITOPS_AUDIT_CONFIG", raising=False)
    assert main(["--context", "prod-us"]) == 2
    assert "no config" in capsys.readouterr().err


def test_python_m_entry_point_and_version() -> None:
    out = subprocess.run([sys.executable, "-m", "auditor", "--version"], check=True, capture_output=True, text=True)
    assert out.stdout.startswith("gitops-audit ")


def test_every_subcommand_has_help_and_is_not_shadowed_by_run(capsys: pytest.CaptureFixture[str]) -> None:
    from auditor.cli import _with_default_command, build_parser

    parser = build_parser()
    names = sorted(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert {"run", "demo", "diff", "policy", "codeowners", "snapshot", "serve", "verify-bundle"} <= set(names)
    for name in names:
        assert _with_default_command([name, "--help"])[0] == name
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
    assert _with_default_command(["--context", "x"]) == ["run", "--context", "x"]
    argv = ["--log-format", "json", "--env", "dev"]
    assert _with_default_command(argv)[:3] == ["--log-format", "json", "run"]


def test_ignore_rules_suppress_visibly_and_unmatched_rules_are_reported(fleet: Path) -> None:
    cfg = fleet / "ignore.yaml"
    cfg.write_text(
        "version: 1\nrepo: repo\nref: main\n"
        "drift:\n  ignore_differences:\n"
        "    - {group: apps, kind: Deployment, name: web, jsonPointers: [/spec/replicas], id: replicas-by-hpa}\n"
        "    - {kind: ConfigMap, name: nothing-like-this, id: stale-rule}\n"
        "targets:\n  - {name: prod, path: overlays/prod, snapshot: snap-prod}\n"
    )
    main(["run", "--config", str(cfg), "--out", str(fleet / "ri"), "-q"])
    found = load_findings(fleet / "ri")
    replicas = [f for f in found if f["path"] == "spec.replicas"]
    assert replicas and all(f["suppressed_by"] == "replicas-by-hpa" for f in replicas)
    unmatched = [f for f in found if f["rule_id"] == "drift.ignore-rule.unmatched"]
    assert [f["path"] for f in unmatched] == ["stale-rule"]


def test_json_logs_carry_run_id_and_target(fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(fleet / "gitops-audit.yaml")
    main(["--log-format", "json", "-v", "run", "--config", cfg, "--out", str(fleet / "jl"), "-q"])
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    run_id = json.loads((fleet / "jl" / "latest" / "report.json").read_text())["run_id"]
    per_target = {rec["target"] for rec in lines if rec["msg"].startswith("audited:")}
    assert per_target == {"prod", "dev"}
    assert all(rec["run_id"] == run_id for rec in lines)


def test_shard_runs_a_deterministic_subset(fleet: Path) -> None:
    cfg = str(fleet / "gitops-audit.yaml")
    names = []
    for k in range(2):
        main(["run", "--config", cfg, "--shard", f"{k}/2", "--out", str(fleet / f"s{k}"), "-q"])
        doc = json.loads((fleet / f"s{k}" / "latest" / "report.json").read_text())
        names += [t["target"]["name"] for t in doc["targets"]]
    assert sorted(names) == ["dev", "prod"]


def test_second_run_reuses_renders_keyed_by_tree(fleet: Path) -> None:
    import os

    cfg = str(fleet / "gitops-audit.yaml")
    main(["run", "--config", cfg, "--out", str(fleet / "c1"), "-q"])
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "gitops-audit" / "renders"
    entries = sorted(cache.glob("*.json"))
    assert len(entries) == 2  # two distinct overlays
    # Tamper with the cached prod render: if the next run uses the cache, the replicas finding changes.
    for entry in entries:
        doc = json.loads(entry.read_text())
        for obj in doc["objects"]:
            if obj["body"]["kind"] == "Deployment" and obj["body"]["metadata"]["namespace"] == "shop":
                obj["body"]["spec"]["replicas"] = 4
        entry.write_text(json.dumps(doc))
    main(["run", "--config", cfg, "--out", str(fleet / "c2"), "-q"])
    replicas = [f for f in load_findings(fleet / "c2") if f["path"] == "spec.replicas"]
    assert [f["expected"] for f in replicas] == [4]
    main(["run", "--config", cfg, "--out", str(fleet / "c3"), "-q", "--no-render-cache"])
    replicas = [f for f in load_findings(fleet / "c3") if f["path"] == "spec.replicas"]
    assert [f["expected"] for f in replicas] == [3]


def test_live_policy_runs_only_where_live_differs_from_git(fleet: Path) -> None:
    main(["run", "--config", str(fleet / "gitops-audit.yaml"), "--out", str(fleet / "lp"), "-q"])
    policy = [f for f in load_findings(fleet / "lp") if f["category"] == "policy"]
    sides = {(f["target"], f["path"]) for f in policy}
    assert ("dev", "desired") in sides and ("prod", "desired") in sides
    assert ("dev", "live") not in sides  # dev is in sync: its live objects would only repeat git's findings
    # The scaled Deployment differs from git, so its live state is checked; only its replicas drifted, so each of
    # its live findings is its desired finding again: reported once, noting both sides (issue 18).
    both = [f for f in policy if f["target"] == "prod" and f["details"].get("sides") == ["desired", "live"]]
    assert both and all(f["object"]["kind"] == "Deployment" and f["path"].startswith("desired") for f in both)
    assert ("prod", "live") not in sides
