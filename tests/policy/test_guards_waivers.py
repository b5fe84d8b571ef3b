"""An invalid waiver ``expires`` never makes a waiver permanent: config refuses it, the runtime ignores it.

Before issue 20 a waiver whose date did not parse (reaching the policy stage without the config check,
e.g. through the Python API or a merged config) applied forever, reported only by a medium finding that
does not fail a run at the default threshold: the high finding it hid stayed hidden.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.config import load_config
from auditor.errors import ConfigError
from auditor.model import Category, FileProvenance, Finding, Manifest, ObjectRef, Provenance, Severity, Target
from auditor.policy.options import WAIVE_ANNOTATION, WAIVE_REASON_ANNOTATION, Waiver
from auditor.policy.waivers import EXPIRED_RULE, INVALID_RULE, UNUSED_RULE, apply_waivers, waiver_matches

TARGET = Target("prod-us", env="production")
TODAY = date(2026, 6, 1)
REF = ObjectRef("apps", "Deployment", "shop", "web")
BAD = ("2026-13-01", "2026-02-30", "31/12/2026", "2026-12-3", "tomorrow", "2026-12-31T00:00:00Z ")


def high() -> Finding:
    return Finding(TARGET.name, Category.POLICY, "k8s.rbac.wildcard", Severity.HIGH, "wildcard verbs", ref=REF)


def run(waiver: Waiver) -> list[Finding]:
    return apply_waivers([high()], {}, TARGET, [waiver], TODAY)


@pytest.mark.parametrize("expires", BAD)
def test_runtime_invalid_expiry_does_not_apply(expires: str) -> None:
    out = run(Waiver(rule="k8s.rbac.*", reason="accepted", expires=expires))
    by_rule = {f.rule_id: f for f in out}
    assert by_rule["k8s.rbac.wildcard"].counts and by_rule["k8s.rbac.wildcard"].suppressed_by == ""
    invalid = by_rule[INVALID_RULE]
    assert invalid.severity is Severity.MEDIUM and invalid.counts
    assert repr(expires) in invalid.message and "not applied" in invalid.message
    assert set(by_rule) == {"k8s.rbac.wildcard", INVALID_RULE}  # neither expired nor unused: invalid says it all


def test_valid_expiry_still_applies_until_the_day() -> None:
    tomorrow = run(Waiver(rule="k8s.rbac.*", reason="accepted", expires="2026-06-02"))
    assert [(f.rule_id, f.counts) for f in tomorrow] == [("k8s.rbac.wildcard", False)]
    today = run(Waiver(rule="k8s.rbac.*", reason="accepted", expires="2026-06-01"))
    assert sorted((f.rule_id, f.counts) for f in today) == [("k8s.rbac.wildcard", True), (EXPIRED_RULE, True)]
    forever = run(Waiver(rule="k8s.rbac.*", reason="accepted"))  # no expiry at all: a stated choice
    assert [(f.rule_id, f.counts) for f in forever] == [("k8s.rbac.wildcard", False)]


def test_invalid_expiry_on_a_waiver_matching_nothing_is_still_invalid() -> None:
    out = apply_waivers([], {}, TARGET, [Waiver(rule="x.y", reason="r", expires="2026-99-99")], TODAY)
    assert [f.rule_id for f in out] == [INVALID_RULE]
    assert UNUSED_RULE not in {f.rule_id for f in out}


def _config(tmp_path: Path, expires: str) -> Path:
    path = tmp_path / "gitops-audit.yaml"
    path.write_text(
        "version: 1\nrepo: .\ntargets:\n  - {name: a, path: ., snapshot: snap}\npolicy:\n  waivers:\n"
        f"    - rule: k8s.rbac.wildcard\n      reason: accepted\n      expires: {expires}\n"
    )
    return path


@pytest.mark.parametrize("expires", ["2026-13-01", "2026-02-30", '"2026-02-30"', '"31/12/2026"', "tomorrow",
                                     '"2026-1231"'])
def test_config_rejects_invalid_expiry_with_file_and_line(tmp_path: Path, expires: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(_config(tmp_path, expires))
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'gitops-audit.yaml'}:9: policy.waivers[0].expires: expected a date")
    assert "\n" not in msg


@pytest.mark.parametrize("expires", ["2026-12-31", '"2026-12-31"'])
def test_config_accepts_a_date(tmp_path: Path, expires: str) -> None:
    (w,) = load_config(_config(tmp_path, expires)).policy.waivers
    assert w.expires == "2026-12-31"


def test_cli_refuses_the_config_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--config", str(_config(tmp_path, "2026-02-30")), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "policy.waivers[0].expires" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


# --------------------------------------------------------------------------- apply_waivers, field by field
# (what the mutation run of bench/mutation.py found unguarded)

PROD = Target("prod-us", env="production")
WEB = ObjectRef("apps", "Deployment", "shop", "web")
DB = ObjectRef("apps", "StatefulSet", "data", "db")


def finding(ref: ObjectRef | None, rule: str = "k8s.rbac.wildcard", side: str = "desired", **kw: object) -> Finding:
    return Finding(PROD.name, Category.POLICY, rule, Severity.HIGH, f"{rule} on {ref}", ref=ref,
                   path=side, details={"source": side}, **kw)  # type: ignore[arg-type]


def manifest(ref: ObjectRef, annotations: dict[str, str], path: str = "base/web.yaml") -> Manifest:
    body = {"apiVersion": "apps/v1", "kind": ref.kind, "metadata": {"name": ref.name, "namespace": ref.namespace,
                                                                   "annotations": annotations}}
    return Manifest(ref, "apps/v1", body, provenance=Provenance(files=(FileProvenance(path),)))


@pytest.mark.parametrize(("waiver", "target", "ref", "matches"), [
    (Waiver("k8s.*", "r"), PROD, WEB, True),
    (Waiver("k8s.*", "r", target="prod-*"), PROD, WEB, True),
    (Waiver("k8s.*", "r", target="stag-*"), PROD, WEB, False),
    (Waiver("k8s.*", "r", env="production"), PROD, WEB, True),
    (Waiver("k8s.*", "r", env="staging"), PROD, WEB, False),
    (Waiver("k8s.*", "r", target="prod-*", env="staging"), PROD, WEB, False),
    (Waiver("k8s.*", "r", target="stag-*", env="production"), PROD, WEB, False),
    (Waiver("k8s.*", "r", kind="Deploy*"), PROD, WEB, True),
    (Waiver("k8s.*", "r", kind="StatefulSet"), PROD, WEB, False),
    (Waiver("k8s.*", "r", namespace="shop"), PROD, WEB, True),
    (Waiver("k8s.*", "r", namespace="data"), PROD, WEB, False),
    (Waiver("k8s.*", "r", name="w*"), PROD, WEB, True),
    (Waiver("k8s.*", "r", name="db"), PROD, WEB, False),
    (Waiver("other.*", "r"), PROD, WEB, False),
    (Waiver("k8s.*", "r"), PROD, None, True),  # a finding about no object: only unselective waivers
    (Waiver("k8s.*", "r", kind="Deployment"), PROD, None, False),
    (Waiver("k8s.*", "r", namespace="shop"), PROD, None, False),
    (Waiver("k8s.*", "r", name="web"), PROD, None, False),
])
def test_waiver_selectors(waiver: Waiver, target: Target, ref: ObjectRef | None, matches: bool) -> None:
    assert waiver_matches(waiver, target, ref, "k8s.rbac.wildcard") is matches


def test_config_waiver_details_and_first_match_wins() -> None:
    first = Waiver("k8s.rbac.*", "CNI needs it", owner="@net", expires="2026-12-31", name="web")
    second = Waiver("k8s.*", "broad", owner="@sec")
    out = apply_waivers([finding(WEB), finding(DB)], {}, PROD, [first, second], TODAY)
    by_ref = {f.ref: f for f in out if f.ref}
    assert by_ref[WEB].suppressed_by == first.label == "waiver:k8s.rbac.*[name=web]"
    assert by_ref[WEB].details == {"source": "desired", "waiver": {
        "kind": "config", "reason": "CNI needs it", "owner": "@net", "expires": "2026-12-31"}}
    assert by_ref[DB].suppressed_by == second.label == "waiver:k8s.*"
    assert [f.rule_id for f in out if f.ref is None] == []  # both used: no unused finding


def test_expired_waiver_details_list_what_it_covered() -> None:
    old = Waiver("k8s.rbac.*", "temporary", owner="@sec", expires="2026-01-01", env="prod*")
    out = apply_waivers([finding(WEB), finding(DB)], {}, PROD, [old], TODAY)
    (expired,) = [f for f in out if f.rule_id == EXPIRED_RULE]
    assert expired.message == (f"waiver {old.label} (owner @sec) expired on 2026-01-01; "
                               "2 finding(s) it covered are reported again")
    assert expired.path == old.label and expired.ref is None
    assert expired.details == {"rule": "k8s.rbac.*", "reason": "temporary", "owner": "@sec",
                               "expires": "2026-01-01", "waiver": old.label,
                               "findings": [finding(WEB).fingerprint, finding(DB).fingerprint]}
    assert all(f.counts for f in out)


def test_unused_and_other_targets_waivers() -> None:
    unused = Waiver("nothing.*", "old", owner="@a")
    elsewhere = Waiver("k8s.*", "theirs", env="staging")
    out = apply_waivers([finding(WEB)], {}, PROD, [elsewhere, unused], TODAY)
    (u,) = [f for f in out if f.rule_id == UNUSED_RULE]
    assert u.path == unused.label and u.severity is Severity.INFO
    assert u.details == {"rule": "nothing.*", "reason": "old", "owner": "@a", "expires": "", "waiver": unused.label}
    assert u.message == f"waiver {unused.label} matched no finding on this target; remove it if it is no longer needed"
    assert [f.rule_id for f in out].count(UNUSED_RULE) == 1  # the staging waiver is not this target's business


def test_annotation_waivers_side_by_side() -> None:
    ann = {WAIVE_ANNOTATION: "k8s.rbac.*, k8s.typo", WAIVE_REASON_ANNOTATION: " SEC-1 "}
    no_reason = {WAIVE_ANNOTATION: "k8s.rbac.*"}
    manifests = {("desired", WEB): manifest(WEB, ann), ("live", WEB): manifest(WEB, ann, path=""),
                 ("desired", DB): manifest(DB, no_reason, path="base/db.yaml"),
                 ("live", DB): manifest(DB, no_reason, path="")}
    findings = [finding(WEB), finding(WEB, side="live"), finding(DB), finding(DB, side="live"),
                finding(WEB, rule="policy.waiver.unused", side="desired"),
                finding(DB, suppressed_by="exception:data.main.exception")]
    out = apply_waivers(findings, manifests, PROD, [], TODAY)
    web = [f for f in out if f.ref == WEB and f.rule_id == "k8s.rbac.wildcard"]
    assert [(f.path, f.suppressed_by) for f in web] == [("desired", f"annotation:{WAIVE_ANNOTATION}"),
                                                        ("live", f"annotation:{WAIVE_ANNOTATION}")]
    assert web[0].details["waiver"] == {"kind": "annotation", "reason": "SEC-1"}
    # Findings already suppressed, and waiver findings, pass through untouched.
    assert findings[4] in out and findings[5] in out
    # No reason: the annotation does not apply, once per object and side, pointing at its document.
    invalid = [f for f in out if f.rule_id == INVALID_RULE]
    assert [(f.ref, f.path, f.details) for f in invalid] == [
        (DB, "desired", {"source": "desired"}), (DB, "live", {"source": "live"})]
    assert invalid[0].message == (f"StatefulSet/data/db: annotation {WAIVE_ANNOTATION} has no "
                                  f"{WAIVE_REASON_ANNOTATION}; the waiver is ignored")
    assert invalid[0].provenance.files[0].path == "base/db.yaml"
    assert [f.suppressed_by for f in out if f.ref == DB and f.rule_id == "k8s.rbac.wildcard"] == [
        "", "", "exception:data.main.exception"]
    # The glob that matched nothing is reported once, with the desired document's provenance.
    (typo,) = [f for f in out if f.rule_id == UNUSED_RULE and f.path == "annotation:k8s.typo"]
    assert typo.details == {"source": "desired", "sides": ["desired", "live"], "rule": "k8s.typo",
                            "reason": "SEC-1", "waiver": f"annotation:{WAIVE_ANNOTATION}"}
    assert typo.provenance.files[0].path == "base/web.yaml"
    assert "ConfigMap" not in typo.message and "Deployment/shop/web" in typo.message
    assert typo.message.endswith("check the rule id, or remove it if it is no longer needed")


def test_unused_annotation_findings_in_object_order() -> None:
    ann = {WAIVE_ANNOTATION: "k8s.none", WAIVE_REASON_ANNOTATION: "r"}
    refs = [ObjectRef("", "Service", "b", "x"), ObjectRef("", "ConfigMap", "z", "a"),
            ObjectRef("", "ConfigMap", "a", "b")]
    manifests = {("live", r): manifest(r, ann, path="") for r in refs}
    out = apply_waivers([], manifests, PROD, [], TODAY)
    assert [f.ref for f in out] == [refs[2], refs[1], refs[0]]
    assert all(f.details["source"] == "live" and not f.provenance.files[0].path for f in out)


def test_later_waivers_are_tried_after_an_invalid_or_expired_one() -> None:
    for first in (Waiver("k8s.*", "typo", expires="2026-02-30"), Waiver("k8s.*", "old", expires="2026-01-01")):
        second = Waiver("k8s.rbac.*", "current", owner="@net")
        out = apply_waivers([finding(WEB)], {}, PROD, [first, second], TODAY)
        (waived,) = [f for f in out if f.rule_id == "k8s.rbac.wildcard"]
        assert waived.suppressed_by == second.label


def test_waiver_findings_in_full_for_every_waiver() -> None:
    bad = Waiver("k8s.*", "typo", expires="2026-02-30")
    expired = Waiver("nothing.*", "old", expires="2026-01-01")  # no owner, matched nothing
    unused = Waiver("other.*", "later")
    out = apply_waivers([], {}, PROD, [bad, expired, unused], TODAY)
    assert [(f.rule_id, f.target, f.category, f.path) for f in out] == [
        (INVALID_RULE, PROD.name, Category.POLICY, bad.label),
        (EXPIRED_RULE, PROD.name, Category.POLICY, expired.label),
        (UNUSED_RULE, PROD.name, Category.POLICY, unused.label)]
    assert out[0].details == {"rule": "k8s.*", "reason": "typo", "owner": "", "expires": "2026-02-30",
                              "waiver": bad.label}
    assert out[0].message.endswith("is not an ISO date (YYYY-MM-DD); the waiver is not applied")
    assert out[1].message == f"waiver {expired.label} expired on 2026-01-01; 0 finding(s) it covered are reported again"
    assert out[1].details["findings"] == []


def test_waiver_findings_themselves_are_never_waived() -> None:
    everything = Waiver("*", "all")
    ann = {WAIVE_ANNOTATION: "policy.*", WAIVE_REASON_ANNOTATION: "noise"}
    own = finding(WEB, rule="policy.waiver.unused")
    out = apply_waivers([own], {("desired", WEB): manifest(WEB, ann)}, PROD, [everything], TODAY)
    assert own in out and own.counts  # passed through untouched
    # ...and they do not count as a use of an annotation glob either.
    assert [(f.rule_id, f.path) for f in out if f.ref == WEB and f is not own] == [
        (UNUSED_RULE, "annotation:policy.*")]


def test_a_reason_without_a_waive_annotation_is_nothing() -> None:
    manifests = {("desired", WEB): manifest(WEB, {WAIVE_REASON_ANNOTATION: "orphaned reason"})}
    assert apply_waivers([finding(WEB)], manifests, PROD, [], TODAY) == [finding(WEB)]


def test_invalid_and_unused_annotation_findings_sorted_by_object() -> None:
    a = ObjectRef("b.example.com", "Alpha", "ns", "x")
    b = ObjectRef("a.example.com", "Beta", "ns", "x")
    no_reason = {WAIVE_ANNOTATION: "k8s.*"}
    out = apply_waivers([finding(b), finding(a)], {("desired", b): manifest(b, no_reason),
                                                 ("desired", a): manifest(a, no_reason)}, PROD, [], TODAY)
    assert [f.ref for f in out if f.rule_id == INVALID_RULE] == [b, a]  # (side, ref) order: group first
    unused_ann = {WAIVE_ANNOTATION: "none.*", WAIVE_REASON_ANNOTATION: "r"}
    out = apply_waivers([], {("live", b): manifest(b, unused_ann), ("live", a): manifest(a, unused_ann)}, PROD, [],
                        TODAY)
    assert [f.ref for f in out] == [a, b]  # by kind first
