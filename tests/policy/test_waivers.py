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


def obj(name: str, annotations: dict[str, str] | None = None) -> Manifest:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "bad": True,
            "metadata": {"name": name, "namespace": "shop", "annotations": annotations or {}}}
    return Manifest(ObjectRef("", "ConfigMap", "shop", name), "v1", body)


def findings(tmp_path: Path, docs: list[Manifest], waivers: tuple[Waiver, ...] = ()) -> list:
    (tmp_path / "p.rego").write_text(POLICY)
    ps = load_policies(PolicyOptions(dirs=(str(tmp_path),), builtin=False, waivers=waivers))
    return list(evaluate_target(ps, TARGET, docs, [], today=TODAY))


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
