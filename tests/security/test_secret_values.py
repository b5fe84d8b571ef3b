"""Issue 16 item 4: desired Secret values are never kept in the render cache, nor printed by ``render`` or
``policy test`` unless asked; SOPS-encrypted Secrets are compared where possible and say what is not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from .hostile import (
    BASE_FILES,
    GIT_CANARIES,
    GIT_DATA,
    GIT_STRINGDATA,
    b64,
    leaks,
    live_copy,
    outputs,
    render_with_kubectl,
    run_cli,
    snapshot_of,
    write_config,
)


def _findings(out: Path) -> list[tuple[str, str, str]]:
    doc = json.loads((out / "latest" / "report.json").read_text())
    return sorted((f["rule_id"], f["path"], f["message"]) for t in doc["targets"] for f in t["findings"])


def test_render_cache_keeps_no_secret_value(make_repo: Callable[..., Path], tmp_path: Path) -> None:
    repo = make_repo(BASE_FILES)
    live = live_copy(render_with_kubectl(repo, "overlays/prod"))
    for obj in live:
        if obj["kind"] == "Secret" and obj["metadata"]["name"] == "db":
            obj["data"]["password"] = b64("changed-in-the-cluster")
    snapshot_of(live, tmp_path / "snap")
    for mode in ("metadata", "hash"):
        cfg = write_config(tmp_path / f"{mode}.yaml", f"repo: repo\nref: main\ncluster: {{secrets: {mode}}}\n"
                           "targets:\n  - {name: prod, path: overlays/prod, snapshot: snap}\n")
        first = run_cli(["run", "--config", str(cfg), "--out", str(tmp_path / f"{mode}-1")], cwd=tmp_path,
                        cache=tmp_path / "cache")
        second = run_cli(["run", "--config", str(cfg), "--out", str(tmp_path / f"{mode}-2")], cwd=tmp_path,
                         cache=tmp_path / "cache")
        assert first.code == second.code and first.code in (0, 1), second.stderr
        # The cached render gives the same findings as a fresh one (hash mode renders again: values needed).
        assert _findings(tmp_path / f"{mode}-1") == _findings(tmp_path / f"{mode}-2")
        changed = [f for f in _findings(tmp_path / f"{mode}-2") if f[1] == "data.password"]
        assert bool(changed) == (mode == "hash"), changed
    renders = outputs(tmp_path / "cache" / "gitops-audit" / "renders")
    assert renders and all('"secret_values":"stripped"' in t for t in renders.values())
    assert not leaks(renders, GIT_CANARIES)


def test_render_and_policy_test_mask_secret_values(make_repo: Callable[..., Path], tmp_path: Path) -> None:
    make_repo(BASE_FILES)
    cfg = write_config(tmp_path / "cfg.yaml", "repo: repo\nref: main\ntargets:\n"
                       "  - {name: prod, path: overlays/prod, snapshot: snap}\n")
    masked = run_cli(["render", "--config", str(cfg), "--target", "prod"], cwd=tmp_path, cache=tmp_path / "c")
    assert masked.code == 0 and "password: '***'" in masked.stdout and "token: '***'" in masked.stdout
    assert not leaks({"out": masked.stdout, "err": masked.stderr}, GIT_CANARIES)
    shown = run_cli(["render", "--config", str(cfg), "--target", "prod", "--show-secrets"], cwd=tmp_path,
                    cache=tmp_path / "c")
    assert GIT_STRINGDATA in shown.stdout and b64(GIT_DATA) in shown.stdout

    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "leak.rego").write_text(
        "package main\n\ndeny contains msg if {\n  input.kind == \"Secret\"\n"
        "  msg := sprintf(\"secret %v has %v / %v\", [input.metadata.name, input.data.password,"
        " input.stringData.token])\n}\n")
    (tmp_path / "in.yaml").write_text(shown.stdout)
    policy = run_cli(["policy", "test", str(tmp_path / "in.yaml"), "-p", str(tmp_path / "policy")], cwd=tmp_path,
                     cache=tmp_path / "c")
    assert policy.code == 1 and "secret db has *** / ***" in policy.stdout, policy.stdout + policy.stderr
    assert "masked" in policy.stderr
    assert not leaks({"out": policy.stdout, "err": policy.stderr}, GIT_CANARIES)
    raw = run_cli(["policy", "test", str(tmp_path / "in.yaml"), "-p", str(tmp_path / "policy"), "--show-secrets"],
                  cwd=tmp_path, cache=tmp_path / "c")
    assert raw.code == 1 and GIT_STRINGDATA in raw.stdout  # conftest's raw input, on request


SOPS_SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: sealed
type: Opaque
data:
  password: ENC[AES256_GCM,data:Zm9vYmFy,iv:aXY=,tag:dGFn,type:str]
  mode_unencrypted: YWJj
sops:
  age:
    - recipient: age1qqqq
      enc: |
        -----BEGIN AGE ENCRYPTED FILE-----
        YWdl
        -----END AGE ENCRYPTED FILE-----
  lastmodified: "2024-01-01T00:00:00Z"
  mac: ENC[AES256_GCM,data:bWFj,iv:aXY=,tag:dGFn,type:str]
  unencrypted_suffix: _unencrypted
  version: 3.8.1
"""


def test_sops_secrets_are_not_drift(make_repo: Callable[..., Path], tmp_path: Path) -> None:
    make_repo({"app/sealed.yaml": SOPS_SECRET, "app/kustomization.yaml": "namespace: shop\nresources: [sealed.yaml]\n"})
    live = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sealed", "namespace": "shop"},
            "type": "Opaque", "data": {"password": b64("decrypted"), "mode_unencrypted": b64("xyz")}}
    snapshot_of([live], tmp_path / "snap")
    for mode in ("metadata", "hash"):
        cfg = write_config(tmp_path / f"{mode}.yaml", f"repo: repo\nref: main\ncluster: {{secrets: {mode}}}\n"
                           "targets:\n  - {name: t, path: app, snapshot: snap}\n")
        run = run_cli(["run", "--config", str(cfg), "--out", str(tmp_path / mode)], cwd=tmp_path,
                      cache=tmp_path / "cache")
        assert run.code in (0, 1), run.stderr
        found = _findings(tmp_path / mode)
        assert not [f for f in found if f[1] in ("sops", "data.password")], found
        if mode == "hash":
            # What SOPS left in clear text is still compared; what it encrypted is named as not compared.
            assert [f for f in found if f[1] == "data.mode_unencrypted"], found
            assert [f for f in found if "SOPS-encrypted" in f[2] and "password" in f[2]], found
        else:
            assert not [f for f in found if "SOPS" in f[2]], found
