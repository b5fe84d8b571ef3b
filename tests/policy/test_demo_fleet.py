"""The built-in pack on the bundled demo fleet: the incident RoleBinding and the missing limits are flagged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditor.model import Manifest, ObjectRef, Target, split_api_version
from auditor.policy.audit import evaluate_target, load_policies
from auditor.policy.options import PolicyOptions
from auditor.util import yamlio

DEMO = Path(__file__).resolve().parents[2] / "auditor" / "demo"


def _manifests(files: list[Path], default_ns: str) -> list[Manifest]:
    out = []
    for f in files:
        for doc in yamlio.load_all(f.read_bytes(), str(f)):
            for item in yamlio.iter_items(doc):
                body: dict[str, Any] = dict(item)
                if "kind" not in body or body["kind"] == "Kustomization":
                    continue
                meta = dict(body.get("metadata") or {})
                if body["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
                    meta.setdefault("namespace", default_ns)
                body["metadata"] = meta
                group, _ = split_api_version(body["apiVersion"])
                ref = ObjectRef(group, body["kind"], meta.get("namespace", ""), meta["name"])
                out.append(Manifest(ref, body["apiVersion"], body))
    return out


def test_demo_fleet_findings() -> None:
    desired = _manifests(
        [f for f in sorted((DEMO / "tree" / "base").rglob("*.yaml")) if f.name != "kustomization.yaml"], "shop"
    )
    live = _manifests(sorted((DEMO / "snapshots" / "production-us-east").glob("*.yaml")), "shop")
    target = Target("production-us-east", env="production")
    found = evaluate_target(load_policies(PolicyOptions()), target, desired, live)
    hits = {(f.rule_id, f.details["source"], f.ref.name if f.ref else "") for f in found if f.counts}
    assert ("rbac.cluster_admin_binding", "live", "oncall-cluster-admin") in hits
    assert ("resources.memory_limit_missing", "desired", "orders-worker") in hits
    assert ("probes.readiness_missing", "desired", "orders-worker") in hits
    assert ("rbac.broad_role_binding", "desired", "shop-api-edit") in hits
    assert not [f for f in found if f.rule_id == "policy.error"]
