"""The run shares equal parts of its targets' results (object identities, provenance, verdicts), and sharing
never changes a result: every report of an interned run is identical to the same run without it."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from auditor import pipeline, pipeline_intern, wiring
from auditor.config import load_config
from auditor.model import (
    AppObject,
    AuditReport,
    Category,
    CommitInfo,
    Credit,
    DriftKind,
    FieldChange,
    FileProvenance,
    Finding,
    InventoryItem,
    LiveProvenance,
    ObjectDrift,
    ObjectRef,
    Provenance,
    Severity,
    Target,
    TargetResult,
)
from auditor.report import formats
from tests.test_cli import FLEET, render, snapshot


def _result(name: str, *, line: int = 7, value: object = 2) -> TargetResult:
    """A result built from fresh objects every call, as each target's audit builds its own."""
    commit = CommitInfo("a" * 40, "Alice", "alice@example.com", "2026-12-01T00:00:00+00:00", trailers=(("k", "v"),))
    ref = ObjectRef("apps", "Deployment", "shop", "web")
    files = (FileProvenance("base/web.yaml", commit=commit, line=line, owners=("@team",)),
             FileProvenance(f"overlays/{name}/kustomization.yaml", role="kustomization", commit=commit))
    finding = Finding(name, Category.DRIFT, "drift.modified", Severity.HIGH, "replicas changed", ref=ref,
                      path="spec.replicas", provenance=Provenance(files, (LiveProvenance("kubectl", "Update"),)),
                      details={"n": [1]}, credit=Credit(git=files[0], live=LiveProvenance("kubectl")))
    return TargetResult(
        target=Target(name=name), audited=True, findings=(finding,),
        drift=(ObjectDrift(ref, DriftKind.MODIFIED, (FieldChange("spec.replicas", 1, value),)),
               ObjectDrift(ObjectRef("", "Service", "shop", "web"), DriftKind.IN_SYNC)),
        apps=(AppObject(ObjectRef("", "Service", "shop", "web"), "web", "Service/web", DriftKind.IN_SYNC),),
        inventory=(InventoryItem(ref, "modified", files[:1]), InventoryItem(ref, "modified", files)),
    )


def _same_everywhere(a: object, b: object) -> None:
    """``a`` and ``b`` are equal in every field, including those ``==`` skips (a finding's credit and details)."""
    assert repr(a) == repr(b)


def test_sharing_keeps_every_field_and_shares_across_targets() -> None:
    interner = pipeline_intern.Interner()
    first, second = _result("dev"), _result("prod", value=[3])
    one, two = interner.result(first), interner.result(second)
    _same_everywhere(one, first)
    _same_everywhere(two, second)
    # Equal values of two targets are one instance…
    assert two.apps[0] is one.apps[0]
    assert two.drift[1] is one.drift[1]
    assert two.inventory[0] is one.inventory[0]
    assert two.findings[0].ref is one.findings[0].ref is one.drift[0].ref
    assert two.findings[0].credit is one.findings[0].credit
    assert two.findings[0].provenance.files[0] is one.inventory[0].files[0]
    assert two.findings[0].provenance.files[0].commit is two.findings[0].provenance.files[1].commit
    # …values that differ are not: the overlay's own file, the drifted value, the findings themselves.
    assert two.inventory[1] is not one.inventory[1] and two.inventory[1].files[0] is one.inventory[1].files[0]
    assert two.drift[0].changes[0].actual == [3] and one.drift[0].changes[0].actual == 2
    assert two.findings[0] is not one.findings[0]
    assert two.findings[0].details is one.findings[0].details  # equal details are one dict


def test_values_equal_but_for_one_field_stay_apart() -> None:
    interner = pipeline_intern.Interner()
    base = interner.result(_result("dev"))
    other = interner.result(_result("dev", line=8))
    assert other.inventory[0] != base.inventory[0]
    assert other.inventory[0].files[0].line == 8 and base.inventory[0].files[0].line == 7
    assert other.inventory[0].files[0].commit is base.inventory[0].files[0].commit


def test_a_result_not_audited_is_passed_through() -> None:
    skipped = TargetResult(target=Target(name="x"), audited=False, skip_reason="cluster unreachable")
    assert pipeline_intern.Interner().result(skipped) is skipped


@pytest.mark.parametrize("cls", [ObjectRef, FileProvenance, CommitInfo, AppObject, InventoryItem, ObjectDrift,
                                 Provenance, Credit])
def test_shared_classes_hold_no_instance_dict(cls: type) -> None:
    # Slots: these are the values a run holds by the hundred thousand.
    assert "__slots__" in vars(cls) and "__dict__" not in vars(cls)


def _audit(config: Path) -> AuditReport:
    cfg = load_config(config)
    return pipeline.run_audit(wiring.run_options(cfg, argparse.Namespace(kubeconfig=None, worktree=False)),
                              cfg.targets)


def _fields(report: AuditReport) -> list[str]:
    """Every field of every result (a finding's credit and details too), stage timings left out."""
    return [repr(dataclasses.replace(r, timings={})) for r in report.results]


def test_a_fleet_run_is_the_same_with_and_without_sharing(
    make_repo: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    overlays = {f"overlays/{r}/kustomization.yaml": f"namespace: shop-{r}\nresources: [../../base]\n"
                for r in ("us", "eu")}
    repo = make_repo({**FLEET, **overlays})
    targets = ""
    for name in ("us", "eu", "dev"):
        live = render(repo, f"overlays/{name}")
        if name == "eu":
            live = [o for o in live if o["kind"] != "Service"]  # drift, so verdicts differ between targets
        snapshot(tmp_path / f"snap-{name}", live)
        targets += f"  - {{name: {name}, path: overlays/{name}, snapshot: snap-{name}}}\n"
    config = tmp_path / "gitops-audit.yaml"
    config.write_text("version: 1\nrepo: repo\nref: main\ntargets:\n" + targets)

    shared = _audit(config)
    with monkeypatch.context() as m:
        m.setattr(pipeline_intern.Interner, "result", lambda self, r: r)
        m.setattr(pipeline_intern.Interner, "apps", lambda self, apps: apps)
        m.setattr(pipeline_intern.Interner, "credit", lambda self, c: c)
        plain = _audit(config)
    assert _fields(shared) == _fields(plain)
    assert any(f.rule_id == "drift.missing" for f in shared.findings)

    # The run shared what its targets have in common: the base's files, commits and object rows.
    by_name = {r.target.name: r for r in shared.results}
    us, eu = by_name["us"], by_name["eu"]
    base_us = {i.files[0].path: i.files[0] for i in us.inventory if i.files[0].path.startswith("base/")}
    base_eu = {i.files[0].path: i.files[0] for i in eu.inventory if i.files[0].path.startswith("base/")}
    assert base_us and base_us.keys() == base_eu.keys()
    assert all(base_us[p] is base_eu[p] for p in base_us)
    unshared = {r.target.name: r for r in plain.results}
    assert not any(i.files[0] is j.files[0] for i in unshared["us"].inventory for j in unshared["eu"].inventory)

    # Every report format has the same bytes from shared and unshared results.
    again = dataclasses.replace(plain, results=tuple(pipeline_intern.Interner().result(r) for r in plain.results))
    assert formats.render_reports(again) == formats.render_reports(plain)


def _with_details(interner: pipeline_intern.Interner, name: str, details: dict[str, object]) -> Finding:
    r = _result(name)
    f = dataclasses.replace(r.findings[0], details=details, message="".join(["replicas ", "changed"]))
    return interner.result(dataclasses.replace(r, findings=(f,))).findings[0]


def test_equal_details_are_one_dict_of_the_same_types() -> None:
    def details() -> dict[str, object]:  # a fresh copy each call, as each finding gets
        return {"title": "".join(["Field ", "changed"]), "segments": ["spec", 1, ("a", "b")], "n": None,
                "nested": {"x": [1.0, True]}}

    interner = pipeline_intern.Interner()
    one, two = (_with_details(interner, name, details()) for name in ("dev", "prod"))
    assert one.details is two.details and one.message is two.message
    assert repr(one.details) == repr(details()) and type(one.details["segments"][2]) is tuple  # type: ignore[index]


@pytest.mark.parametrize("other", [
    {"n": True},  # 1 == True in Python, not in a report
    {"n": 1.0},
    {"n": "1"},
    {"n": [1]},
    {"m": 1},
])
def test_details_that_differ_in_type_or_key_stay_apart(other: dict[str, object]) -> None:
    interner = pipeline_intern.Interner()
    one = _with_details(interner, "dev", {"n": 1})
    two = _with_details(interner, "prod", other)
    assert two.details is not one.details and repr(two.details) == repr(other)


def test_details_with_other_values_or_too_deep_are_kept_as_they_are() -> None:
    deep: object = "leaf"
    for _ in range(12):
        deep = {"d": [deep]}
    interner = pipeline_intern.Interner()
    for details in ({"deep": deep}, {"kind": DriftKind.MODIFIED}, {"s": {1, 2}}):
        one = _with_details(interner, "dev", details)
        two = _with_details(interner, "prod", dict(details))
        assert one.details is details and two.details is not one.details and two.details == details
