"""Snapshot reader/writer: kubectl output layouts, scope filtering, Secrets, errors, round trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.cluster.options import LiveScope
from auditor.cluster.snapshot import INDEX_NAME, read_snapshot, write_snapshot
from auditor.errors import ClusterError
from auditor.model import CoverageGap, ObjectRef
from auditor.util.secrets import HASH_PREFIX, keyed_hash

from .conftest import CANARY_SECRET

SHOP_SCOPE = LiveScope(
    kinds=(
        ("apps", "v1", "Deployment"),
        ("", "v1", "Service"),
        ("", "v1", "ConfigMap"),
        ("", "v1", "Secret"),
        ("rbac.authorization.k8s.io", "v1", "ClusterRole"),
        ("", "v1", "Namespace"),
    ),
    namespaces=("shop",),
)


def _by_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def _kubectl_layout(root: Path, objs: list[dict[str, Any]]) -> None:
    """The shapes people produce with kubectl: -o json List, -o yaml single object, multi-doc, nested dirs."""
    deployments = {"apiVersion": "v1", "items": _by_kind(objs, "Deployment"), "kind": "List",
                   "metadata": {"resourceVersion": ""}}
    (root / "deployments.json").write_text(json.dumps(deployments, indent=4))
    (root / "nested" / "deeper").mkdir(parents=True)
    svc = _by_kind(objs, "Service")[0]
    (root / "nested" / "deeper" / "svc-web.yaml").write_text(yaml.safe_dump(svc))
    rest = [o for o in objs if o["kind"] not in ("Deployment", "Service")]
    (root / "nested" / "rest.yml").write_text(yaml.safe_dump_all(rest))
    # An API list response (typed list kind) as `kubectl get --raw` returns it.
    (root / "configmaps-list.yaml").write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "ConfigMapList", "metadata": {"resourceVersion": "99999"},
        "items": [{**o, "apiVersion": "v1", "kind": "ConfigMap"} for o in _by_kind(objs, "ConfigMap")],
    }))
    (root / "README.md").write_text("not a manifest\n")


def test_reads_kubectl_layouts_and_filters_scope(tmp_path: Path, live_objects: list[dict[str, Any]]) -> None:
    _kubectl_layout(tmp_path, live_objects)
    state = read_snapshot(tmp_path, SHOP_SCOPE)
    refs = [m.ref for m in state.objects]
    assert refs == sorted(refs)
    assert ObjectRef("apps", "Deployment", "shop", "web") in refs
    assert ObjectRef("apps", "Deployment", "payments", "ledger") not in refs  # namespace not managed
    assert ObjectRef("", "Service", "shop", "web") in refs
    assert ObjectRef("rbac.authorization.k8s.io", "ClusterRole", "", "shop-reader") in refs
    assert ObjectRef("", "Namespace", "", "payments") in refs  # cluster-scoped kinds are read whole
    assert not any(m.ref.kind in ("HorizontalPodAutoscaler", "Widget", "RoleBinding") for m in state.objects)
    # ConfigMaps appear twice (rest.yml and the typed list): one object per identity.
    assert len([r for r in refs if r.kind == "ConfigMap"]) == 3
    assert len(refs) == len(set(refs))
    web = next(m for m in state.objects if m.ref.name == "web" and m.ref.kind == "Deployment")
    assert web.body["spec"]["replicas"] == 5
    assert web.body["metadata"]["managedFields"][1]["manager"] == "kubectl-scale"
    assert web.api_version == "apps/v1"
    assert state.source == str(tmp_path)
    files = sorted(r.resource for r in state.reads)
    assert files == ["configmaps-list.yaml", "deployments.json", "nested/deeper/svc-web.yaml", "nested/rest.yml"]
    counts = {r.resource: r.count for r in state.reads}
    assert counts["deployments.json"] == 1
    assert counts["nested/deeper/svc-web.yaml"] == 1
    rv = {r.resource: r.resource_version for r in state.reads}
    assert rv["configmaps-list.yaml"] == "99999"
    assert state.gaps == ()


def test_secret_metadata_only_by_default(tmp_path: Path, live_objects: list[dict[str, Any]]) -> None:
    (tmp_path / "all.yaml").write_text(yaml.safe_dump_all(live_objects))
    state = read_snapshot(tmp_path, SHOP_SCOPE)
    secret = next(m for m in state.objects if m.ref.kind == "Secret")
    assert secret.body["metadata"]["name"] == "db"
    assert "data" not in secret.body
    assert "annotations" not in secret.body["metadata"]
    dumped = json.dumps([m.body for m in state.objects])
    assert CANARY_SECRET not in dumped
    assert "Q0FOQVJZLVNFQ1JFVC1WQUxVRS0zMTQx" not in dumped


def test_secret_hash_mode(tmp_path: Path, live_objects: list[dict[str, Any]]) -> None:
    (tmp_path / "all.yaml").write_text(yaml.safe_dump_all(live_objects))
    key = b"k" * 32
    state = read_snapshot(tmp_path, SHOP_SCOPE, secret_key=key)
    secret = next(m for m in state.objects if m.ref.kind == "Secret")
    assert secret.body["data"]["password"] == keyed_hash(key, CANARY_SECRET.encode())
    assert all(v.startswith(HASH_PREFIX) for v in secret.body["data"].values())
    assert CANARY_SECRET not in json.dumps(secret.body)


def test_prefers_requested_version(tmp_path: Path) -> None:
    def hpa(version: str) -> dict[str, Any]:
        return {"apiVersion": f"autoscaling/{version}", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "web", "namespace": "shop"}, "spec": {"v": version}}

    (tmp_path / "a.yaml").write_text(yaml.safe_dump_all([hpa("v1"), hpa("v2")]))
    scope = LiveScope(kinds=(("autoscaling", "v2", "HorizontalPodAutoscaler"),), namespaces=("shop",))
    state = read_snapshot(tmp_path, scope)
    assert [m.api_version for m in state.objects] == ["autoscaling/v2"]
    # A version the snapshot lacks still matches by group and kind (a live read would convert).
    scope = LiveScope(kinds=(("autoscaling", "v3", "HorizontalPodAutoscaler"),), namespaces=("shop",))
    assert len(read_snapshot(tmp_path, scope).objects) == 1


def test_all_namespaces_and_extra_cluster_scoped(tmp_path: Path, live_objects: list[dict[str, Any]]) -> None:
    (tmp_path / "all.yaml").write_text(yaml.safe_dump_all(live_objects))
    scope = LiveScope(kinds=(("apps", "v1", "Deployment"),), namespaces=(), all_namespaces=True)
    names = [m.ref.name for m in read_snapshot(tmp_path, scope).objects]
    assert names == ["ledger", "web"]


@pytest.mark.parametrize(
    ("content", "line", "problem"),
    [
        ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n   bad: indent\n", 5, "invalid YAML"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [unclosed\n", 4, "invalid YAML"),
    ],
)
def test_bad_yaml_names_file_and_line(tmp_path: Path, content: str, line: int, problem: str) -> None:
    (tmp_path / "sub").mkdir()
    bad = tmp_path / "sub" / "broken.yaml"
    bad.write_text(content)
    with pytest.raises(ClusterError) as err:
        read_snapshot(tmp_path, SHOP_SCOPE)
    msg = str(err.value)
    assert f"{bad}:{line}:" in msg
    assert problem in msg
    assert "\n" not in msg


def test_not_an_object(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("- just\n- a list\n")
    with pytest.raises(ClusterError, match=r"x\.yaml: document 1 is not a Kubernetes object"):
        read_snapshot(tmp_path, SHOP_SCOPE)
    (tmp_path / "x.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")
    with pytest.raises(ClusterError, match=r"needs apiVersion, kind and metadata\.name"):
        read_snapshot(tmp_path, SHOP_SCOPE)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="no such directory"):
        read_snapshot(tmp_path / "nope", SHOP_SCOPE)


def test_round_trip_and_coverage_index(tmp_path: Path, live_objects: list[dict[str, Any]]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "all.yaml").write_text(yaml.safe_dump_all(live_objects))
    first = read_snapshot(src, SHOP_SCOPE)
    out = tmp_path / "out"
    write_snapshot(first, out, scope=SHOP_SCOPE)
    assert (out / INDEX_NAME).is_file()
    again = read_snapshot(out, SHOP_SCOPE)
    assert again.objects == first.objects
    assert [m.body for m in again.objects] == [m.body for m in first.objects]
    assert again.gaps == ()
    # A narrower scope reads back the same objects a direct read gives.
    narrow = LiveScope(kinds=(("apps", "v1", "Deployment"),), namespaces=("shop",))
    assert [m.body for m in read_snapshot(out, narrow).objects] == [
        m.body for m in read_snapshot(src, narrow).objects
    ]
    # A wider scope than the snapshot covered is reported, not silently empty.
    wider = LiveScope(kinds=(("apps", "v1", "Deployment"), ("example.com", "v1", "Widget")),
                      namespaces=("shop", "payments"))
    gaps = read_snapshot(out, wider).gaps
    assert CoverageGap("Widget.example.com", "", "not in snapshot") in gaps
    assert CoverageGap("Deployment.apps", "payments", "not in snapshot") in gaps
    assert CoverageGap("Deployment.apps", "shop", "not in snapshot") not in gaps


def test_recorded_gaps_come_back(tmp_path: Path, live_objects: list[dict[str, Any]]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "all.yaml").write_text(yaml.safe_dump_all(live_objects))
    state = read_snapshot(src, SHOP_SCOPE)
    from dataclasses import replace

    state = replace(state, gaps=(CoverageGap("Secret", "shop", "forbidden"),))
    write_snapshot(state, tmp_path / "out", scope=SHOP_SCOPE)
    assert read_snapshot(tmp_path / "out", SHOP_SCOPE).gaps == (CoverageGap("Secret", "shop", "forbidden"),)
    narrow = LiveScope(kinds=(("apps", "v1", "Deployment"),), namespaces=("shop",))
    assert read_snapshot(tmp_path / "out", narrow).gaps == ()


def test_written_snapshot_never_holds_secret_values(tmp_path: Path, live_objects: list[dict[str, Any]]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "all.yaml").write_text(yaml.safe_dump_all(live_objects))
    hashed = read_snapshot(src, SHOP_SCOPE, secret_key=b"k" * 32)
    assert any("data" in m.body for m in hashed.objects if m.ref.kind == "Secret")
    write_snapshot(hashed, tmp_path / "out", scope=SHOP_SCOPE)
    text = "".join(p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert HASH_PREFIX not in text and CANARY_SECRET not in text
    (secret,) = [m for m in read_snapshot(tmp_path / "out", SHOP_SCOPE).objects if m.ref.kind == "Secret"]
    assert set(secret.body) == {"apiVersion", "kind", "metadata"}
