"""The API server simulation behind the demo snapshots, and the history loader's guards."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.demo import apiserver as api
from auditor.demo.history import load_history, repo_name, template_name
from auditor.errors import UsageError


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("0.5", "500m"),
        (0.25, "250m"),
        ("1", "1"),
        (2, "2"),
        ("1500m", "1500m"),
        ("2000m", "2"),
        ("1024Mi", "1Gi"),
        ("1536Mi", "1536Mi"),
        ("256Mi", "256Mi"),
        ("64Mi", "64Mi"),
        ("1Gi", "1Gi"),
        ("weird", "weird"),
    ],
)
def test_canonical_quantity(given: object, canonical: str) -> None:
    assert api.canonical_quantity(given) == canonical


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("registry.example.com/shop/web:1.4.2", "IfNotPresent"),
        ("registry.example.com/shop/web:latest", "Always"),
        ("registry.example.com/shop/web", "Always"),
        ("registry.example.com:5000/shop/web", "Always"),
        ("registry.example.com:5000/shop/web:1.0", "IfNotPresent"),
        ("registry.example.com/shop/web@sha256:" + "a" * 64, "IfNotPresent"),
    ],
)
def test_image_pull_policy_default(image: str, policy: str) -> None:
    c = {"name": "c", "image": image}
    api.default_container(c)
    assert c["imagePullPolicy"] == policy


def test_service_defaults_keep_what_is_given() -> None:
    ports = [{"port": 80, "targetPort": "http"}, {"port": 9090}]
    svc = {"kind": "Service", "spec": {"ports": ports, "type": "ClusterIP"}}
    api.default_object(svc, cluster_ip="10.96.0.10")
    assert svc["spec"]["ports"] == [
        {"port": 80, "targetPort": "http", "protocol": "TCP"},
        {"port": 9090, "targetPort": 9090, "protocol": "TCP"},
    ]
    assert svc["spec"]["clusterIPs"] == ["10.96.0.10"]
    assert svc["status"] == {"loadBalancer": {}}


def test_applied_fields_use_list_keys_and_defaulted_protocol() -> None:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "spec": {
                    "containers": [
                        {"name": "web", "ports": [{"containerPort": 8080}], "args": ["a", "b"], "env": [{"name": "X"}]}
                    ]
                }
            },
        },
    }
    fields = api.applied_fields(obj)
    assert fields == {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {
            "f:selector": {},  # atomic
            "f:template": {
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"web"}': {
                            ".": {},
                            "f:args": {},  # atomic list
                            "f:env": {'k:{"name":"X"}': {".": {}, "f:name": {}}},
                            "f:name": {},
                            "f:ports": {'k:{"containerPort":8080,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}},
                        }
                    }
                }
            },
        },
    }


def test_update_fields_record_created_maps() -> None:
    fields = api.fields_v1({"data": {"a": "1"}, "metadata": {"annotations": {"x": "y"}}}, dots=True)
    assert fields == {"f:data": {".": {}, "f:a": {}}, "f:metadata": {"f:annotations": {".": {}, "f:x": {}}}}
    assert api.fields_v1({"metadata": {"finalizers": ["kubernetes"]}}) == {
        "f:metadata": {"f:finalizers": {'v:"kubernetes"': {}}}
    }


def test_remove_field_prunes_empty_parents() -> None:
    fields = {"f:spec": {"f:replicas": {}}, "f:metadata": {"f:labels": {"f:a": {}}}}
    assert api.remove_field(fields, ["f:spec", "f:replicas"])
    assert fields == {"f:metadata": {"f:labels": {"f:a": {}}}}
    assert not api.remove_field(fields, ["f:spec", "f:replicas"])
    item = {"f:c": {'k:{"name":"a"}': {".": {}, "f:image": {}, "f:name": {}}}}
    assert api.remove_field(item, ["f:c", 'k:{"name":"a"}', "f:image"])
    assert item == {"f:c": {'k:{"name":"a"}': {".": {}, "f:name": {}}}}


def test_ids_are_stable() -> None:
    assert api.object_uid("a", "b") == api.object_uid("a", "b") != api.object_uid("a", "c")
    h = api.safe_hash({"x": 1})
    assert len(h) == 10 and set(h) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert api.k8s_time(api.parse_time("2026-10-01T09:12:07-04:00")) == "2026-10-01T13:12:07Z"


def test_dot_names_round_trip() -> None:
    assert template_name(".github/CODEOWNERS") == "dot-github/CODEOWNERS"
    assert template_name(".gitignore") == "dot-gitignore"
    assert template_name("base/shop-web/deployment.yaml") == "base/shop-web/deployment.yaml"
    for p in (".github/CODEOWNERS", ".gitignore", "overlays/dev/common/kustomization.yaml"):
        assert repo_name(template_name(p)) == p


def _history(tmp_path: Path, commits: str) -> Path:
    p = tmp_path / "history.yaml"
    p.write_text("authors:\n  a: {name: A, email: a@x}\ncommits:\n" + commits)
    return p


def test_history_rejects_unmerged_or_interleaved_branches(tmp_path: Path) -> None:
    ok = _history(
        tmp_path,
        "  - {id: c1, author: a, date: '2026-10-01T00:00:00+00:00', message: m, branch: b}\n"
        "  - {id: m1, author: a, date: '2026-10-02T00:00:00+00:00', message: m, merge: b}\n",
    )
    assert [c.id for c in load_history(ok)] == ["c1", "m1"]
    never = _history(tmp_path, "  - {id: c1, author: a, date: '2026-10-01T00:00:00+00:00', message: m, branch: b}\n")
    with pytest.raises(UsageError, match="never merged"):
        load_history(never)
    interleaved = _history(
        tmp_path,
        "  - {id: c1, author: a, date: '2026-10-01T00:00:00+00:00', message: m, branch: b}\n"
        "  - {id: c2, author: a, date: '2026-10-01T01:00:00+00:00', message: m}\n"
        "  - {id: m1, author: a, date: '2026-10-02T00:00:00+00:00', message: m, merge: b}\n",
    )
    with pytest.raises(UsageError, match="not merged yet"):
        load_history(interleaved)
    unknown = _history(tmp_path, "  - {id: c1, author: zed, date: '2026-10-01T00:00:00+00:00', message: m}\n")
    with pytest.raises(UsageError, match="unknown author"):
        load_history(unknown)
