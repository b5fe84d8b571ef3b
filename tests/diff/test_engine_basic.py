"""Engine basics: modified with attribution, added out-of-band, missing, orphans, HPA, ignore rules."""

from __future__ import annotations

import copy
from typing import Any

from auditor.diff.engine import diff_target
from auditor.diff.options import DriftOptions, IgnoreRule
from auditor.model import DriftKind, LiveState, Manifest, ObjectRef, Severity, Target, split_api_version

TARGET = Target(name="prod", namespace="shop")


def manifest(body: dict[str, Any]) -> Manifest:
    group, _ = split_api_version(body["apiVersion"])
    meta = body["metadata"]
    return Manifest(ObjectRef(group, body["kind"], meta.get("namespace", ""), meta["name"]), body["apiVersion"], body)


def mf(manager: str, fields: dict[str, Any], time: str, operation: str = "Update", sub: str = "") -> dict[str, Any]:
    e = {"manager": manager, "operation": operation, "apiVersion": "apps/v1", "time": time,
         "fieldsType": "FieldsV1", "fieldsV1": fields}
    if sub:
        e["subresource"] = sub
    return e


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "creationTimestamp": None},
                "spec": {"containers": [{
                    "name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
                    "resources": {"limits": {"cpu": "0.5", "memory": "1024Mi"}},
                }]},
            },
        },
    }


def live_of(d: dict[str, Any]) -> dict[str, Any]:
    live = copy.deepcopy(d)
    del live["spec"]["template"]["metadata"]["creationTimestamp"]
    c = live["spec"]["template"]["spec"]["containers"][0]
    c["ports"][0]["protocol"] = "TCP"
    c["resources"]["limits"] = {"cpu": "500m", "memory": "1Gi"}
    c["imagePullPolicy"] = "IfNotPresent"
    live["metadata"].update(uid="u1", resourceVersion="42", generation=2, creationTimestamp="2026-11-01T00:00:00Z")
    live["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "2"}
    live["metadata"]["managedFields"] = [
        mf("kustomize-controller", {"f:spec": {"f:replicas": {}}}, "2026-11-19T10:00:00Z", "Apply"),
    ]
    live["status"] = {"replicas": 3}
    return live


def run(desired: list[dict[str, Any]], live: list[dict[str, Any]], **opts: Any):
    return diff_target(TARGET, [manifest(b) for b in desired],
                       LiveState(tuple(manifest(b) for b in live), "test"), DriftOptions(**opts))


def test_in_sync_despite_defaults_and_quantities() -> None:
    out = run([deployment()], [live_of(deployment())])
    assert [d.kind for d in out.drifts] == [DriftKind.IN_SYNC]
    assert out.findings == ()


def test_modified_attributed_to_manager() -> None:
    live = live_of(deployment())
    live["spec"]["replicas"] = 5
    live["metadata"]["managedFields"].append(
        mf("kubectl-scale", {"f:spec": {"f:replicas": {}}}, "2026-11-20T03:12:44Z", sub="scale"))
    out = run([deployment()], [live])
    (f,) = out.findings
    assert f.rule_id == "drift.modified"
    assert f.path == "spec.replicas"
    assert (f.expected, f.actual) == (3, 5)
    assert f.severity == Severity.MEDIUM
    assert f.message == "spec.replicas: 3 → 5 (kubectl-scale, 2026-11-20T03:12Z)"
    assert f.provenance.live[0].manager == "kubectl-scale"
    assert out.drifts[0].kind == DriftKind.MODIFIED


def test_added_container_out_of_band_collapsed_to_item() -> None:
    live = live_of(deployment())
    live["spec"]["template"]["spec"]["containers"].append({"name": "debug", "image": "busybox"})
    live["metadata"]["managedFields"].append(mf("kubectl-edit", {"f:spec": {"f:template": {"f:spec": {
        "f:containers": {'k:{"name":"debug"}': {".": {}, "f:image": {}, "f:name": {}}}}}}}, "2026-11-21T01:00:00Z"))
    out = run([deployment()], [live])
    (f,) = out.findings
    assert f.rule_id == "drift.added"
    assert f.path == "spec.template.spec.containers[name=debug]"
    assert f.actual == {"name": "debug", "image": "busybox"}
    assert f.severity == Severity.HIGH
    assert out.drifts[0].kind == DriftKind.ADDED


def test_missing_and_orphans() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "shop"}, "data": {"a": "1"}}
    stale = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old", "namespace": "shop", "labels": {
        "kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}}}
    hand = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "hand", "namespace": "shop"}}
    root = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt", "namespace": "shop"}}
    other_ns = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "other"}}
    live = live_of(deployment())
    live["metadata"]["labels"].update({"kustomize.toolkit.fluxcd.io/name": "apps",
                                        "kustomize.toolkit.fluxcd.io/namespace": "flux-system"})
    out = run([deployment(), cm], [live, stale, hand, root, other_ns])
    rules = {(f.rule_id, f.ref.name) for f in out.findings}
    assert rules == {("drift.missing", "cfg"), ("drift.orphaned.stale", "old"), ("drift.orphaned.unmanaged", "hand")}


def test_hpa_suppresses_replicas_and_ignore_rule_counts() -> None:
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "minReplicas": 2, "maxReplicas": 9}}
    live = live_of(deployment())
    live["spec"]["replicas"] = 7
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
    out = run([deployment(), hpa], [live, copy.deepcopy(hpa)],
              ignore=(IgnoreRule(kind="Deployment", json_pointers=("/spec/template/spec/containers/0/image",),
                                 id="img"), IgnoreRule(kind="Nope", id="typo")))
    by_path = {f.path: f for f in out.findings}
    assert by_path["spec.replicas"].suppressed_by == "hpa:shop/web"
    assert by_path["spec.template.spec.containers[name=web].image"].suppressed_by == "img"
    assert out.unmatched_rules == ("typo",)
    dep = next(d for d in out.drifts if d.ref.kind == "Deployment")
    assert dep.kind == DriftKind.IN_SYNC and len(dep.changes) == 2
