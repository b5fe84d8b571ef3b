"""Read-only RBAC: deploy/rbac.yaml is the command's default output; a generated role is enough to audit."""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.cluster.kube import read_cluster
from auditor.cluster.options import ClusterOptions, LiveScope
from auditor.cluster.rbac import DEFAULT_RESOURCES, cluster_role
from auditor.commands import rbac as rbac_cmd
from auditor.errors import UsageError
from auditor.model import CoverageGap

from .conftest import FIXTURES
from .fakeapi import FakeAPIServer

REPO = Path(__file__).resolve().parents[2]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser()
    rbac_cmd.register(parser.add_subparsers())
    assert rbac_cmd.handler(parser.parse_args(["rbac", *argv])) == 0
    return [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]


def _check_read_only(role: dict[str, Any]) -> None:
    assert role["kind"] == "ClusterRole"
    for rule in role["rules"]:
        assert rule["verbs"] == ["get", "list"]
        assert "*" not in rule["apiGroups"] and "*" not in rule["resources"]
        assert not ("" in rule["apiGroups"] and "secrets" in rule["resources"])
        assert "nonResourceURLs" not in rule and "resourceNames" not in rule


def test_deploy_rbac_yaml_is_the_default_role(capsys: pytest.CaptureFixture[str]) -> None:
    printed = _run(capsys)
    shipped = [d for d in yaml.safe_load_all((REPO / "deploy" / "rbac.yaml").read_text()) if d]
    assert shipped == printed, "regenerate: gitops-audit rbac > deploy/rbac.yaml"
    role, binding = shipped
    _check_read_only(role)
    granted = {(g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert granted == set(DEFAULT_RESOURCES)
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gitops-audit", "namespace": "gitops-audit"}]


def test_role_for_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    (role,) = _run(capsys, "--kind", "Deployment", "-k", "v1/ConfigMap", "-k", "Widget.example.com",
                   "-k", "Secret", "--no-binding", "--name", "shop-audit")
    _check_read_only(role)
    assert role["metadata"]["name"] == "shop-audit"
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]},
        {"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get", "list"]},
    ]
    role, _binding = _run(capsys, "-k", "Secret", "--secrets")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]


def test_wildcards_are_refused() -> None:
    with pytest.raises(ValueError, match="wildcard"):
        cluster_role([("", "*")], "x")


def test_generated_role_is_enough_for_the_audit(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, kubeconfig: Path, api: FakeAPIServer,
) -> None:
    """Render the role from manifests (stdin), enforce it on the server, read: only Secrets are refused."""
    manifests = (FIXTURES / "live.yaml").read_text()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(manifests.encode())))
    role, _ = _run(capsys, "-f", "-", "--context", "prod", "--kubeconfig", str(kubeconfig))
    _check_read_only(role)
    api.allow = {(g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    kinds = sorted({(d["apiVersion"].rpartition("/")[0] if "/" in d["apiVersion"] else "",
                     d["apiVersion"].rpartition("/")[2], d["kind"]) for d in yaml.safe_load_all(manifests) if d})
    state = read_cluster("prod", LiveScope(kinds=tuple(kinds), namespaces=("shop", "payments")),
                         ClusterOptions(kubeconfig=str(kubeconfig)))
    assert state.gaps == (CoverageGap("Secret", "shop", "forbidden"), CoverageGap("Secret", "payments", "forbidden"))
    assert len(state.objects) == 13
    assert not [r for r in api.log if r.status == 403 and not r.path.endswith("/secrets")]


def test_rbac_usage_errors(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    rbac_cmd.register(parser.add_subparsers())
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    with pytest.raises(UsageError, match="no Kubernetes objects"):
        rbac_cmd.handler(parser.parse_args(["rbac", "-f", str(empty)]))
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [\n")
    with pytest.raises(UsageError, match=r"bad\.yaml:2"):
        rbac_cmd.handler(parser.parse_args(["rbac", "-f", str(bad)]))
