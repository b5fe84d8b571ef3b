"""Engine edge cases: identity defaults, coverage gaps, version skew, re-applied atomic lists, scopes."""

from __future__ import annotations

import copy
from typing import Any

from auditor.diff.engine import diff_target
from auditor.diff.options import DriftOptions
from auditor.diff.text import format_path, format_time, format_value
from auditor.model import CoverageGap, DriftKind, LiveState, ObjectRef, Target

from .corpus_support import to_manifest


def run(desired: list[dict[str, Any]], live: list[dict[str, Any]], gaps: tuple[CoverageGap, ...] = (),
        **opts: Any):
    return diff_target(Target("t", namespace="shop"), [to_manifest(b) for b in desired],
                       LiveState(tuple(to_manifest(b) for b in live), "x", gaps=gaps), DriftOptions(**opts))


def cm(name: str, ns: str | None = "shop", **data: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def test_namespace_defaults_to_target() -> None:
    out = run([cm("a", ns=None, k="v")], [cm("a", k="v")])
    assert [(d.ref, d.kind) for d in out.drifts] == [(ObjectRef("", "ConfigMap", "shop", "a"), DriftKind.IN_SYNC)]


def test_gap_prevents_missing_guess() -> None:
    out = run([cm("a", k="v")], [], gaps=(CoverageGap("ConfigMap", "shop", "forbidden"),))
    assert out.findings == () and out.drifts == ()
    out = run([cm("a", k="v")], [], gaps=(CoverageGap("ConfigMap", "other", "forbidden"),))
    assert [f.rule_id for f in out.findings] == ["drift.missing"]


def test_version_skew_compares_metadata_only() -> None:
    desired = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
               "metadata": {"name": "h", "namespace": "shop", "labels": {"a": "1"}},
               "spec": {"targetCPUUtilizationPercentage": 70, "maxReplicas": 3,
                        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "w"}}}
    live = copy.deepcopy(desired)
    live["apiVersion"] = "autoscaling/v2"
    del live["spec"]["targetCPUUtilizationPercentage"]
    live["spec"]["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 70}}}]
    out = run([desired], [live])
    assert out.findings == ()
    assert "only metadata compared" in out.drifts[0].note
    live["metadata"]["labels"]["a"] = "2"
    assert [f.path for f in run([desired], [live]).findings] == ["metadata.labels.a"]


def role(verbs: list[str], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"apiGroups": [""], "resources": ["pods"], "verbs": verbs, **(extra or {})}
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "r", "namespace": "shop"}, "rules": [rule]}


def mf(manager: str, time: str, op: str = "Update") -> dict[str, Any]:
    return {"manager": manager, "operation": op, "time": time, "fieldsType": "FieldsV1",
            "fieldsV1": {"f:rules": {}}}


def test_reapplied_atomic_list_is_not_drift() -> None:
    live = role(["get"], {"resourceNames": ["x"]})
    live["metadata"]["managedFields"] = [mf("kubectl-edit", "2026-11-01T00:00:00Z"),
                                         mf("kustomize-controller", "2026-11-02T00:00:00Z", "Apply")]
    assert run([role(["get"])], [live]).findings == ()
    live["metadata"]["managedFields"] = [mf("kustomize-controller", "2026-11-01T00:00:00Z", "Apply"),
                                         mf("kubectl-edit", "2026-11-02T00:00:00Z")]
    (f,) = run([role(["get"])], [live]).findings
    assert (f.rule_id, f.path, f.severity.value) == ("drift.modified", "rules", "critical")


def test_cluster_scoped_orphans_only_for_declared_kinds() -> None:
    cr = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "mine"},
          "rules": []}
    other = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "hand"},
             "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}
    pc = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "hand"}, "value": 1}
    out = run([cr], [cr, other, pc])
    assert [(f.rule_id, f.ref.subject, f.severity.value) for f in out.findings] == [
        ("drift.orphaned.unmanaged", "ClusterRole/hand", "critical")]
    out = run([cr], [cr, other], orphans=False)
    assert out.findings == ()


def test_custom_cluster_scoped_kind_from_crd() -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "things.ex.com"},
           "spec": {"group": "ex.com", "scope": "Cluster", "names": {"kind": "Thing"}, "versions": []}}
    thing = {"apiVersion": "ex.com/v1", "kind": "Thing", "metadata": {"name": "t"}, "spec": {"a": 1}}
    out = run([thing], [thing, crd])
    assert [(d.ref.namespace, d.kind) for d in out.drifts if d.ref.kind == "Thing"] == [("", DriftKind.IN_SYNC)]


def test_formatting_helpers() -> None:
    assert format_path(("metadata", "labels", "app.kubernetes.io/name")) == 'metadata.labels["app.kubernetes.io/name"]'
    assert format_path(("spec", "ports", "[port=80,protocol=TCP]", "targetPort")) == \
        "spec.ports[port=80,protocol=TCP].targetPort"
    assert format_time("2026-11-20T03:12:44Z") == "2026-11-20T03:12Z"
    assert format_value(None) == "(absent)"
    assert format_value({"b": 1, "a": [1]}) == '{"a":[1],"b":1}'
    assert format_value("x" * 100).endswith("…") and len(format_value("x" * 100)) == 80


def test_crd_additional_properties_lists_keep_their_keys() -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "pools.ex.com"},
           "spec": {"group": "ex.com", "scope": "Namespaced", "names": {"kind": "Pool"}, "versions": [
               {"name": "v1", "storage": True, "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                   "spec": {"type": "object", "properties": {"zones": {"type": "object", "additionalProperties": {
                       "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                       "items": {"type": "object", "properties": {"name": {"type": "string"},
                                                                  "size": {"type": "integer"}}}}}}}}}}}]}}
    desired = {"apiVersion": "ex.com/v1", "kind": "Pool", "metadata": {"name": "p", "namespace": "shop"},
               "spec": {"zones": {"a": [{"name": "x", "size": 1}, {"name": "y", "size": 2}]}}}
    live = copy.deepcopy(desired)
    live["spec"]["zones"]["a"].reverse()
    assert run([desired, crd], [live, crd]).findings == ()
    live["spec"]["zones"]["a"][0]["size"] = 5
    assert [f.path for f in run([desired, crd], [live, crd]).findings] == ["spec.zones.a[name=y].size"]


def test_controller_made_objects_are_not_orphans() -> None:
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w", "namespace": "shop"},
              "spec": {"replicas": 1}}
    issued = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
              "metadata": {"name": "shop-tls", "namespace": "shop",
                           "annotations": {"cert-manager.io/certificate-name": "shop-tls"}}}
    istio = cm("istio-ca-root-cert")
    hand = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {"name": "hand", "namespace": "shop"}}
    out = run([deploy], [deploy, issued, istio, hand])
    assert [(f.rule_id, f.ref.name) for f in out.findings] == [("drift.orphaned.unmanaged", "hand")]


def test_argo_annotation_tracking_marks_stale_orphans() -> None:
    def tracked(name: str, app: str) -> dict[str, Any]:
        body = cm(name)
        body["metadata"]["annotations"] = {"argocd.argoproj.io/tracking-id": f"{app}:/ConfigMap:shop/{name}"}
        return body
    out = run([cm("kept")], [tracked("kept", "shop"), tracked("old", "shop"), tracked("theirs", "other"), cm("hand")])
    assert {(f.rule_id, f.ref.name) for f in out.findings} == {
        ("drift.orphaned.stale", "old"), ("drift.orphaned.unmanaged", "hand")}
