"""The drift corpus: zero false positives and zero misses on realistic desired/live pairs."""

from __future__ import annotations

import pytest

from auditor.diff.engine import diff_target
from auditor.diff.options import DriftOptions
from auditor.model import DriftKind, LiveState, Target

from .corpus_support import Case, load_cases, to_manifest

CASES = load_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_corpus_case(case: Case) -> None:
    out = diff_target(
        Target(name="corpus", namespace="shop"),
        [to_manifest(b) for b in case.desired],
        LiveState(tuple(to_manifest(b) for b in case.live), "corpus"),
        DriftOptions(ignore=case.ignore),
    )
    counted = {(f.rule_id, f.path or f.ref.subject) for f in out.findings if f.counts}
    expected = {(e["rule"], e.get("path") or e["subject"]) for e in case.expect}
    assert counted == expected, [f.message for f in out.findings if f.counts]
    suppressed = {(f.rule_id, f.path, f.suppressed_by) for f in out.findings if not f.counts}
    assert suppressed == {(s["rule"], s["path"], s["suppressed_by"]) for s in case.suppressed}
    by_key = {(f.rule_id, f.path or f.ref.subject): f for f in out.findings}
    for e in case.expect:
        f = by_key[(e["rule"], e.get("path") or e["subject"])]
        if "severity" in e:
            assert f.severity.value == e["severity"], f.message
        if "manager" in e:
            assert f.provenance.live and f.provenance.live[0].manager == e["manager"], f.message
        if "expected" in e:
            assert f.expected == e["expected"]
        if "actual" in e:
            assert f.actual == e["actual"]
    if not case.expect:
        hidden = {f.ref for f in out.findings if not f.counts}
        assert all(d.kind == DriftKind.IN_SYNC for d in out.drifts if d.ref not in hidden), out.drifts


def test_corpus_covers_every_kind_of_the_issue() -> None:
    kinds = {(b["kind"], (b.get("spec") or {}).get("type", "")) for c in CASES for b in c.desired}
    for kind in ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job", "Ingress", "ConfigMap", "Secret",
                 "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding",
                 "PersistentVolumeClaim", "HorizontalPodAutoscaler", "NetworkPolicy", "PodDisruptionBudget"):
        assert any(k == kind for k, _ in kinds), kind
    service_types = {t for k, t in kinds if k == "Service"}
    assert {"", "NodePort", "LoadBalancer"} <= service_types
    assert any(b.get("spec", {}).get("clusterIP") == "None" for c in CASES for b in c.desired if b["kind"] == "Service")
    assert any("." in b["apiVersion"].split("/")[0] and b["kind"] not in ("Ingress",) and
               not b["apiVersion"].startswith(("rbac.", "networking.", "policy", "autoscaling", "batch", "apps"))
               for c in CASES for b in c.desired), "a custom resource"
