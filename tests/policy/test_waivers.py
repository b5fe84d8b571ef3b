"""Waivers: annotation and config waivers suppress (never drop) findings; expired and unused are reported."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from auditor.model import Manifest, ObjectRef, Severity, Target
from auditor.policy.audit import evaluate_target, load_policies
from auditor.policy.options import PolicyOptions, Waiver

POLICY = """package main
import rego.v1
deny contains {"msg": sprintf("%s is bad", [input.metadata.name]), "rule_id": "demo.bad"} if input.bad
"""
TARGET = Target("prod-us", env="production")
TODAY = date(2026, 6, 1)


def obj(name: str, annotations: dict[str, str] | None = None, *, bad: bool = True) -> Manifest:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "bad": bad,
            "metadata": {"name": name, "namespace": "shop", "annotations": annotations or {}}}
    return Manifest(ObjectRef("", "ConfigMap", "shop", name), "v1", body)


def findings(
    tmp_path: Path, docs: list[Manifest], waivers: tuple[Waiver, ...] = (), live: list[Manifest] | None = None
) -> list:
    (tmp_path / "p.rego").write_text(POLICY)
    ps = load_policies(PolicyOptions(dirs=(str(tmp_path),), builtin=False, waivers=waivers, workers=0))
    return list(evaluate_target(ps, TARGET, docs, live or [], today=TODAY))


def unused(out: list) -> list[tuple[str, str]]:
    return [(f.ref.name if f.ref else "", f.path) for f in out if f.rule_id == "policy.waiver.unused"]


def test_annotation_waiver_with_reason(tmp_path: Path) -> None:
    waived = obj("a", {"gitops-audit.io/waive": "other.rule, demo.bad", "gitops-audit.io/waive-reason": "JIRA-1"})
    out = findings(tmp_path, [waived, obj("b")])
    by_name = {f.ref.name: f for f in out if f.rule_id == "demo.bad"}
    assert by_name["a"].suppressed_by == "annotation:gitops-audit.io/waive"
    assert by_name["a"].details["waiver"]["reason"] == "JIRA-1"
    assert not by_name["a"].counts
    assert by_name["b"].counts


def test_annotation_without_reason_does_not_apply(tmp_path: Path) -> None:
    out = findings(tmp_path, [obj("a", {"gitops-audit.io/waive": "demo.bad"})])
    assert [f.counts for f in out if f.rule_id == "demo.bad"] == [True]
    assert "policy.waiver.invalid" in {f.rule_id for f in out}
    assert not unused(out)


def test_annotation_without_reason_matching_nothing_is_not_reported(tmp_path: Path) -> None:
    out = findings(tmp_path, [obj("a", {"gitops-audit.io/waive": "demo.bda"})])
    assert [f.rule_id for f in out] == ["demo.bad"]


WAIVE_TYPO = {"gitops-audit.io/waive": "demo.bad, demo.bda", "gitops-audit.io/waive-reason": "JIRA-2"}


def test_unused_annotation_glob_is_reported_once_per_object(tmp_path: Path) -> None:
    # The same annotation on the desired and the live object: one report, not one per side.
    out = findings(tmp_path, [obj("a", WAIVE_TYPO), obj("b")], live=[obj("a", WAIVE_TYPO)])
    assert unused(out) == [("a", "annotation:demo.bda")]
    f = next(f for f in out if f.rule_id == "policy.waiver.unused")
    assert f.severity is Severity.INFO and f.counts
    assert "demo.bda" in f.message and "ConfigMap/shop/a" in f.message
    assert f.details["sides"] == ["desired", "live"] and f.details["reason"] == "JIRA-2"
    assert all(not g.counts for g in out if g.rule_id == "demo.bad" and g.ref and g.ref.name == "a")


def test_annotation_used_on_one_side_only_is_not_unused(tmp_path: Path) -> None:
    ann = {"gitops-audit.io/waive": "demo.bad", "gitops-audit.io/waive-reason": "drift accepted"}
    # Only the cluster copy breaks the rule: the annotation is in use, through its live finding.
    out = findings(tmp_path, [obj("a", ann, bad=False)], live=[obj("a", ann)])
    assert [(f.rule_id, f.path, f.counts) for f in out] == [("demo.bad", "live", False)]
    # Only git breaks it (the live object is in sync or has no finding): in use as well.
    out = findings(tmp_path, [obj("a", ann)], live=[obj("a", ann, bad=False)])
    assert [(f.rule_id, f.path, f.counts) for f in out] == [("demo.bad", "desired", False)]


def test_annotation_on_a_clean_object_is_unused(tmp_path: Path) -> None:
    ann = {"gitops-audit.io/waive": "demo.*", "gitops-audit.io/waive-reason": "old"}
    out = findings(tmp_path, [obj("a", ann, bad=False)], live=[obj("a", ann, bad=False)])
    assert unused(out) == [("a", "annotation:demo.*")]


def test_config_waiver_selects_by_glob(tmp_path: Path) -> None:
    w = Waiver(rule="demo.*", reason="accepted", owner="team-shop", expires="2026-12-31", name="a*", env="prod*")
    out = findings(tmp_path, [obj("alpha"), obj("beta")], (w,))
    by_name = {f.ref.name: f for f in out if f.rule_id == "demo.bad"}
    assert by_name["alpha"].suppressed_by == w.label
    assert by_name["alpha"].details["waiver"]["owner"] == "team-shop"
    assert by_name["beta"].suppressed_by == ""
    assert not [f for f in out if f.rule_id.startswith("policy.waiver")]


def test_expired_waiver_is_a_finding_and_stops_applying(tmp_path: Path) -> None:
    w = Waiver(rule="demo.bad", reason="temporary", expires="2026-06-01")  # expires today
    out = findings(tmp_path, [obj("a")], (w,))
    bad = [f for f in out if f.rule_id == "demo.bad"]
    assert [f.counts for f in bad] == [True]
    expired = [f for f in out if f.rule_id == "policy.waiver.expired"]
    assert len(expired) == 1 and expired[0].severity is Severity.MEDIUM
    assert "expired on 2026-06-01" in expired[0].message


def test_unused_waiver_is_reported_as_info(tmp_path: Path) -> None:
    w = Waiver(rule="demo.other", reason="old")
    out = findings(tmp_path, [obj("a")], (w,))
    unused = [f for f in out if f.rule_id == "policy.waiver.unused"]
    assert len(unused) == 1 and unused[0].severity is Severity.INFO


def test_waiver_for_other_target_is_not_reported(tmp_path: Path) -> None:
    w = Waiver(rule="demo.bad", reason="x", target="staging-*")
    out = findings(tmp_path, [obj("a")], (w,))
    assert [f.rule_id for f in out] == ["demo.bad"]


def test_policy_exception_results_are_kept_suppressed(tmp_path: Path) -> None:
    (tmp_path / "exc.rego").write_text(
        "package main\nimport rego.v1\ndeny_label contains \"no label\" if input.bad\n"
        "exception contains [\"label\"] if input.metadata.name == \"a\"\n"
    )
    out = findings(tmp_path, [obj("a"), obj("b")])
    label = {f.ref.name: f for f in out if f.rule_id == "main.deny_label"}
    assert label["a"].suppressed_by == "exception:data.main.exception"
    assert label["b"].counts
