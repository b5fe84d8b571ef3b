"""`gitops-audit snapshot`: a snapshot of X read back equals a live read of X (objects and gaps)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from auditor.cluster.kube import read_cluster
from auditor.cluster.options import ClusterOptions, LiveScope
from auditor.cluster.snapshot import INDEX_NAME, read_snapshot
from auditor.commands import snapshot as snapshot_cmd
from auditor.errors import ConfigError, UsageError
from auditor.model import CoverageGap

from .fakeapi import FakeAPIServer
from .test_kube import SHOP


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    snapshot_cmd.register(sub)
    return parser.parse_args(["snapshot", *argv])


def _bodies(state: Any) -> list[tuple[Any, dict[str, Any]]]:
    return [(m.ref, dict(m.body)) for m in state.objects]


@pytest.mark.parametrize("namespaces", [(), ("shop",)])
def test_snapshot_reads_back_like_the_live_cluster(
    tmp_path: Path, kubeconfig: Path, api: FakeAPIServer, capsys: pytest.CaptureFixture[str],
    namespaces: tuple[str, ...],
) -> None:
    api.add_fault(r"/rolebindings$", status=403)
    out = tmp_path / "snap"
    ns_args = [a for ns in namespaces for a in ("--namespace", ns)]
    code = snapshot_cmd.handler(_args("--context", "prod", "--kubeconfig", str(kubeconfig), "--out", str(out),
                                      *ns_args))
    assert code == 0
    printed = capsys.readouterr()
    assert f"-> {out}" in printed.out
    assert "not read: RoleBinding.rbac.authorization.k8s.io" in printed.err
    assert (out / INDEX_NAME).is_file()
    assert (out / "shop" / "deployments.apps.v1.json").is_file()
    assert (out / "_cluster" / "namespaces.v1.json").is_file()

    options = ClusterOptions(kubeconfig=str(kubeconfig))
    live = read_cluster("prod", SHOP, options)
    offline = read_snapshot(out, SHOP)
    assert _bodies(offline) == _bodies(live)
    assert offline.gaps == live.gaps == (CoverageGap("RoleBinding.rbac.authorization.k8s.io", "shop", "forbidden"),)
    assert offline.identity == live.identity
    # Each file remembers the live list's resourceVersion and time.
    rec = next(r for r in offline.reads if r.resource == "shop/deployments.apps.v1.json")
    assert rec.resource_version == "100000" and rec.count == 1 and rec.time.endswith("Z")
    # Narrower scopes read back identically too.
    narrow = LiveScope(kinds=(("", "v1", "ConfigMap"), ("example.com", "v1", "Widget")), namespaces=("shop",))
    assert _bodies(read_snapshot(out, narrow)) == _bodies(read_cluster("prod", narrow, options))
    # Secrets: the snapshot never holds values.
    text = "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    assert "Q0FOQVJZLVNFQ1JFVC1WQUxVRS0zMTQx" not in text and "CANARY" not in text


def test_snapshot_of_other_namespaces_reports_scope_gaps(tmp_path: Path, kubeconfig: Path,
                                                         api: FakeAPIServer) -> None:
    out = tmp_path / "snap"
    assert snapshot_cmd.handler(_args("--context", "prod", "--kubeconfig", str(kubeconfig), "--out", str(out),
                                      "-n", "payments", "--kind", "Deployment", "-k", "configmaps")) == 0
    state = read_snapshot(out, SHOP)
    assert ("Deployment.apps", "shop") in {(g.group_kind, g.namespace) for g in state.gaps}
    assert CoverageGap("Service", "", "not in snapshot") in state.gaps
    index = json.loads((out / INDEX_NAME).read_text())
    assert index["kinds"] == [["", "ConfigMap"], ["apps", "Deployment"]]


def test_snapshot_usage_errors(tmp_path: Path, kubeconfig: Path, api: FakeAPIServer) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not empty"):
        snapshot_cmd.handler(_args("--context", "prod", "--kubeconfig", str(kubeconfig), "--out", str(busy)))
    with pytest.raises(UsageError, match="not a snapshot directory"):
        snapshot_cmd.handler(_args("--context", "prod", "--kubeconfig", str(kubeconfig), "--out", str(busy),
                                   "--force"))
    with pytest.raises(ConfigError, match="unknown kubeconfig context 'nope'"):
        snapshot_cmd.handler(_args("--context", "nope", "--kubeconfig", str(kubeconfig),
                                   "--out", str(tmp_path / "x")))
    assert api.log == []
    with pytest.raises(UsageError, match="--kind Gizmo: not served"):
        snapshot_cmd.handler(_args("--context", "prod", "--kubeconfig", str(kubeconfig),
                                   "--out", str(tmp_path / "y"), "--kind", "Gizmo"))
    assert not (tmp_path / "y").exists()


def test_snapshot_force_replaces_previous_snapshot(tmp_path: Path, kubeconfig: Path, api: FakeAPIServer) -> None:
    out = tmp_path / "snap"
    base = ("--context", "prod", "--kubeconfig", str(kubeconfig), "--out", str(out))
    assert snapshot_cmd.handler(_args(*base, "-n", "shop")) == 0
    assert (out / "shop").is_dir()
    assert snapshot_cmd.handler(_args(*base, "-n", "payments", "--force")) == 0
    assert not (out / "shop").exists()
    assert (out / "payments").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kube", "snap"]  # no staging directory left
