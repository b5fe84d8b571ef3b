"""Checks per target (inventory → evaluated counts), finding annotation, and the framework scores."""

from __future__ import annotations

from auditor.catalog.checks import Inventory, annotate, evaluated, inventory_of, rule_checks
from auditor.catalog.load import frameworks, load_catalog, rego_sources
from auditor.catalog.scoring import Tally, framework_views, frameworks_json, rule_tallies
from auditor.model import (
    Category,
    Finding,
    Manifest,
    ObjectRef,
    RuleCheck,
    Severity,
    Target,
    TargetResult,
)
from auditor.policy.builtin import builtin_policy_dir

CATALOG = load_catalog(rego_sources([builtin_policy_dir()]))


def _m(kind: str, name: str, ns: str = "shop", group: str = "apps") -> Manifest:
    return Manifest(ObjectRef(group, kind, ns, name), f"{group}/v1", {"kind": kind})


def test_inventory_counts_desired_and_live_only_objects() -> None:
    desired = [_m("Deployment", "web"), _m("Deployment", "api"), _m("Role", "r", group="rbac.authorization.k8s.io")]
    live = [_m("Deployment", "web"), _m("Deployment", "debug", ns="ops")]
    inv = inventory_of(desired, live, policy_packages=frozenset())
    assert inv.kinds == {"Deployment": 3, "Role": 1}
    assert inv.namespaces_with_workloads == 2
    assert (inv.desired_objects, inv.live_objects) == (3, 2)


def test_evaluated_counts_follow_kinds_units_and_conditions() -> None:
    inv = Inventory(
        kinds={"Deployment": 3, "Pod": 1, "Job": 2, "RoleBinding": 4},
        namespaces_with_workloads=2,
        desired_objects=10,
        live_objects=12,
        files=7,
        policy_packages=frozenset({"gitops_audit.pod_security", "gitops_audit.probes", "gitops_audit.images",
                                   "gitops_audit.rbac_bindings.combined", "gitops_audit.resources.combined"}),
        change_control="on",
    )
    rules = CATALOG.rules
    assert evaluated(rules["pod_security.privileged"], inv) == 6  # every workload kind
    assert evaluated(rules["probes.readiness_missing"], inv) == 4  # not Jobs
    assert evaluated(rules["rbac.cluster_admin_binding"], inv) == 4
    assert evaluated(rules["resources.namespace_without_quota"], inv) == 2
    assert evaluated(rules["resources.cpu_request_missing"], inv) == 0  # package not evaluated
    assert evaluated(rules["images.digest_not_pinned"], inv) == 0  # production only
    assert evaluated(rules["images.registry_not_allowed"], inv) == 0  # allowed_registries not set
    assert evaluated(rules["drift.modified"], inv) == 10
    assert evaluated(rules["drift.orphaned.unmanaged"], inv) == 12
    assert evaluated(rules["drift.self-heal-failed"], inv) == 1
    assert evaluated(rules["change-control.unowned-file"], inv) == 7
    assert evaluated(rules["change-control.unapproved-commit"], inv) == 1
    assert evaluated(rules["change-control.no-codeowners"], inv) == 0
    assert evaluated(rules["change-control.unsigned-commit"], inv) == 0  # opt-in
    no_owners = Inventory(change_control="no-codeowners")
    assert evaluated(rules["change-control.no-codeowners"], no_owners) == 1
    assert evaluated(rules["change-control.unowned-file"], no_owners) == 0
    checks = {c.rule_id: c for c in rule_checks(CATALOG, inv)}
    assert "coverage.not-audited" not in checks  # no controls
    assert checks["pod_security.privileged"].controls == CATALOG.rules["pod_security.privileged"].control_ids


def test_checks_of_the_tools_own_input_and_transport_rules() -> None:
    """Rules main's hardening added: bidi names on every object, the live read's transport once per live target."""
    rules = CATALOG.rules
    live = Inventory(kinds={"Deployment": 3, "ConfigMap": 2}, cluster_read=True, policy_packages=None)
    assert evaluated(rules["input.bidi-characters"], live) == 5  # whether or not Rego policies run
    assert evaluated(rules["cluster.plain-http"], live) == 1
    assert evaluated(rules["cluster.tls-not-verified"], live) == 1
    snapshot = Inventory(kinds={"Deployment": 3})
    assert evaluated(rules["cluster.plain-http"], snapshot) == 0
    assert evaluated(rules["drift.stale-field"], Inventory(desired_objects=4)) == 4
    checks = {c.rule_id for c in rule_checks(CATALOG, live)}
    assert {"input.bidi-characters", "cluster.plain-http"} <= checks
    assert "drift.rollout-restart" not in checks  # an event: no controls, never a failed check


def test_annotate_adds_controls_and_missing_texts_only() -> None:
    drift = Finding("t", Category.DRIFT, "drift.modified", Severity.MEDIUM, "m", details={"pointer": "/x"})
    out = annotate(drift, CATALOG)
    assert "soc2:CC8.1" in out.details["controls"] and out.details["pointer"] == "/x"
    assert out.details["title"] == CATALOG.rules["drift.modified"].title
    policy = Finding("t", Category.POLICY, "acme.x", Severity.HIGH, "m", details={"title": "Mine", "namespace": "acme"})
    assert annotate(policy, CATALOG) is policy  # unknown rule: unchanged


WEB = ObjectRef("apps", "Deployment", "shop", "web")
API = ObjectRef("apps", "Deployment", "shop", "api")


def _f(
    rule: str, ref: ObjectRef | None, path: str = "desired", waived: str = "", cat: Category = Category.POLICY
) -> Finding:
    return Finding("t", cat, rule, Severity.HIGH, f"{rule} {ref}", ref=ref, path=path, suppressed_by=waived,
                   details={"controls": ["soc2:CC6.1"]})


def _result(findings: list[Finding], checks: list[RuleCheck], audited: bool = True) -> TargetResult:
    return TargetResult(Target("t"), audited=audited, findings=tuple(findings), checks=tuple(checks))


def test_tallies_count_subjects_not_findings() -> None:
    r = _result(
        [_f("a", WEB), _f("a", WEB, "live"), _f("a", WEB, "desired#2"), _f("a", API, waived="waiver:x")],
        [RuleCheck("a", 5, ("soc2:CC6.1",))],
    )
    (t,) = rule_tallies([r]).values()
    assert t == Tally(evaluated=5, failed=1, waived=1, findings=3)
    assert (t.passed, t.score) == (3, 75.0)


def test_target_rules_fail_once_and_unknown_checks_count_failures() -> None:
    cc = [_f("cc", None, path=sha, cat=Category.CHANGE_CONTROL) for sha in ("a1", "b2", "c3")]
    r = _result([*cc, _f("old", WEB)], [RuleCheck("cc", 1, ("soc2:CC8.1",))])
    tallies = rule_tallies([r])
    assert tallies["cc"] == Tally(1, 1, 0, 3)
    assert tallies["old"] == Tally(1, 1, 0, 1)  # no check entry: its failures only


def test_skipped_targets_count_nothing() -> None:
    assert rule_tallies([_result([_f("a", WEB)], [RuleCheck("a", 5)], audited=False)]) == {}


def test_framework_views_and_scores() -> None:
    r1 = _result([_f("a", WEB)], [RuleCheck("a", 4, ("soc2:CC6.1", "nist-800-53:AC-6")),
                                  RuleCheck("b", 2, ("soc2:CC8.1",))])
    r2 = _result([], [RuleCheck("a", 4, ("soc2:CC6.1", "nist-800-53:AC-6"))])
    views = {v.key: v for v in framework_views([r1, r2], frameworks()[0])}
    soc2 = views["soc2"]
    assert [c.control for c in soc2.controls] == ["CC6.1", "CC8.1"]  # the framework's order
    cc61 = soc2.controls[0]
    assert (cc61.tally.evaluated, cc61.tally.failed, cc61.tally.passed, cc61.status) == (8, 1, 7, "failed")
    assert soc2.controls[1].status == "passed" and soc2.controls[1].tally.score == 100.0
    assert soc2.score == round((87.5 + 100.0) / 2, 1)
    assert set(views) == {"soc2", "nist-800-53"}
    doc = frameworks_json([r1, r2], frameworks()[0], {"b": "drift"})
    assert [f["key"] for f in doc["frameworks"]] == ["soc2", "nist-800-53"]  # type: ignore[index]
    assert doc["change_management"] == [{"rule_id": "b", "category": "drift", "evaluated": 2, "passed": 2,
                                        "failed": 0, "waived": 0, "findings": 0, "score": 100.0}]


def test_control_without_evaluation_is_not_a_pass() -> None:
    t = Tally()
    assert t.score is None and t.passed == 0
