"""How a target's GitOps controller applies desired state, and what was not rendered, reach the checks.

A target source describes its controller's semantics as a :class:`~auditor.render.controller.ControllerView`
(objects it does not correct or only creates, releases that were not rendered, orphans it keeps or
ignores, objects it heals by itself). Here that view becomes drift ignore rules, orphan exclusions and
finding adjustments, so the drift engine needs no controller knowledge and every suppressed difference
stays visible with its reason. Render gaps become "not rendered" coverage findings: each makes the
target partial unless the config accepts it (``accept_unrendered``); live state that could not be read
likewise (``accept_unread``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import replace

from auditor.cluster.objects import REASON_NOT_IN_SNAPSHOT, REASON_NOT_SERVED
from auditor.diff.options import DriftOptions, IgnoreRule
from auditor.model import Category, CoverageGap, Finding, Manifest, Severity, Target
from auditor.render.controller import ControllerView
from auditor.render.markers import DriftMarker
from auditor.render.options import AcceptRule

RULE_NOT_RENDERED = "coverage.not-rendered"
RULE_NOT_AUDITED = "coverage.not-audited"
RULE_RENDER_NOTE = "coverage.render-note"
RULE_SELF_HEAL = "drift.self-heal-failed"
_SELF_HEALED = frozenset({"drift.missing", "drift.modified"})


def marker_rules(markers: Sequence[DriftMarker], label: str = "") -> tuple[IgnoreRule, ...]:
    """``ignore`` → the whole object is not corrected by its controller; ``if-not-present`` → only "missing" counts."""
    prefix = f"{label}: " if label else ""
    rules = []
    for mk in markers:
        base = IgnoreRule(
            group=mk.ref.group, kind=mk.ref.kind, namespace=mk.ref.namespace,
            name="" if mk.name_pattern else mk.ref.name, name_pattern=mk.name_pattern, id=f"{prefix}{mk.reason}",
        )
        if mk.mode == "ignore":
            rules.append(base)
        elif mk.mode == "if-not-present":
            rules.append(replace(base, json_pointers=tuple(f"/{f}" for f in mk.fields)))
    return tuple(rules)


def is_controller_rule(rule_id: str, view: ControllerView) -> bool:
    """True for ignore rules made from the controller's markers (they may rightly match nothing)."""
    return bool(view.label) and rule_id.startswith(f"{view.label}: ")


def drift_options(base: DriftOptions, view: ControllerView, live: Sequence[Manifest]) -> DriftOptions:
    """Drift options for one target: the controller's ignore rules, live objects of unrendered releases excluded."""
    if not (view.markers or view.releases):
        return base
    excluded = tuple(m.ref.subject for m in live if view.excluded(m))
    return replace(
        base,
        ignore=(*base.ignore, *marker_rules(view.markers, view.label)),
        extra_system_objects=(*base.extra_system_objects, *excluded),
    )


def adjust_findings(findings: Sequence[Finding], view: ControllerView, live: Sequence[Manifest]) -> list[Finding]:
    """Merge-applied objects expect live-only fields; orphans the controller keeps or ignores; self-heal failures."""
    merge = {mk.ref: mk.reason for mk in view.markers if mk.mode == "merge"}
    live_by_ref = {m.ref: m for m in live}
    prefix = f"{view.label}: " if view.label else ""
    out = []
    healed: dict[str, int] = {}
    for f in findings:
        if f.rule_id == "drift.added" and f.ref in merge and not f.suppressed_by:
            f = replace(f, suppressed_by=f"{prefix}{merge[f.ref]}")
        elif f.rule_id.startswith("drift.orphaned.") and f.ref is not None and f.ref in live_by_ref:
            verdict = view.orphan_policy(live_by_ref[f.ref])
            if verdict is not None and verdict.action == "accept" and not f.suppressed_by:
                f = replace(f, suppressed_by=f"{prefix}{verdict.reason}")
            elif verdict is not None and verdict.action == "keep" and f.rule_id == "drift.orphaned.stale" \
                    and f.severity.rank > Severity.LOW.rank:
                f = replace(f, severity=Severity.LOW, message=f"{f.message} ({verdict.reason})")
        elif f.rule_id in _SELF_HEALED and f.ref is not None and f.ref in view.self_heal and f.counts:
            unit = view.self_heal[f.ref]
            f = replace(f, message=f"{f.message} (self-healing: {unit} should have corrected this)",
                        details={**f.details, "self_heal": unit})
            healed[unit] = healed.get(unit, 0) + 1
        out.append(f)
    target = findings[0].target if findings else ""
    for unit, count in sorted(healed.items()):
        out.append(Finding(
            target=target, category=Category.DRIFT, rule_id=RULE_SELF_HEAL, severity=Severity.HIGH,
            message=f"{unit} heals drift automatically, yet {count} drifted field(s) or object(s) persist: "
                    "its controller is failing to apply (sync errors, a webhook or another controller fighting it)",
            path=unit,
        ))
    return out


def accepted_by(gap: CoverageGap, target: Target, rules: Sequence[AcceptRule]) -> AcceptRule | None:
    """The first rule (``accept_unrendered`` or ``accept_unread``) that covers a gap of ``target``, if any."""
    kind = gap.group_kind.split(".", 1)[0]
    for rule in rules:
        if rule.target and not fnmatch.fnmatchcase(target.name, rule.target):
            continue
        if rule.kind and rule.kind not in (kind, gap.group_kind):
            continue
        name = f"{gap.namespace}/{gap.name}" if gap.namespace else gap.name
        if rule.name and not (fnmatch.fnmatchcase(name, rule.name) or fnmatch.fnmatchcase(gap.name, rule.name)):
            continue
        if rule.reason_contains and rule.reason_contains not in gap.reason:
            continue
        return rule
    return None


def render_gaps(target: Target, gaps: Sequence[CoverageGap],
                rules: Sequence[AcceptRule]) -> tuple[list[Finding], tuple[str, ...]]:
    """Findings for what was not rendered, and the parts that leave the target partial (not accepted).

    A gap is "not audited" (high, the target is partial) unless it is informational (a note: nothing is
    unknown) or an ``accept_unrendered`` rule covers it (shown as suppressed, with the rule's reason).
    """
    findings: list[Finding] = []
    partial: list[str] = []
    for g in gaps:
        where = f" in {g.namespace}" if g.namespace else ""
        what = f"{g.group_kind}{where}: {g.reason}"
        path = f"{g.group_kind}/{g.namespace}/{g.name}" if g.name else f"{g.group_kind}/{g.namespace}"
        if g.informational:
            findings.append(Finding(target=target.name, category=Category.COVERAGE, rule_id=RULE_RENDER_NOTE,
                                    severity=Severity.INFO, message=what, path=path))
            continue
        rule = accepted_by(g, target, rules)
        findings.append(Finding(
            target=target.name, category=Category.COVERAGE, rule_id=RULE_NOT_RENDERED, severity=Severity.HIGH,
            message=f"not audited: {what}", path=path,
            suppressed_by=f"accepted: {rule.reason}" if rule is not None else "",
        ))
        if rule is None:
            partial.append(what)
    return findings, tuple(partial)


def live_gaps(
    target: Target, gaps: Sequence[CoverageGap], orphan_only: frozenset[str], rules: Sequence[AcceptRule]
) -> tuple[list[Finding], tuple[str, ...]]:
    """Findings for live state that was not read, and the parts that leave the target partial (not accepted).

    A kind git declares that could not be read (forbidden, missing from a snapshot, items dropped) is
    unknown: medium, and the target is partial unless an ``accept_unread`` rule covers it. A kind the
    cluster does not serve is known to hold nothing: still reported, not partial. A kind read only to
    find orphans (git holds none) is low and never partial: nothing git declares went unread (e.g.
    Secrets under the default role, which grants none); not served or not in a snapshot, it has no
    objects to be orphaned: no finding.
    """
    out: list[Finding] = []
    partial: list[str] = []
    for g in gaps:
        where = f" in {g.namespace}" if g.namespace else ""
        if g.group_kind in orphan_only:
            if g.reason in (REASON_NOT_SERVED, REASON_NOT_IN_SNAPSHOT):
                continue  # nothing of that kind to be orphaned, as far as the cluster or snapshot shows
            message = f"{g.group_kind}{where} not read: {g.reason} (git holds none; read only to find orphans or " \
                      "custom resource schemas; grant get/list, or drop it from drift.orphan_kinds)"
            out.append(Finding(target=target.name, category=Category.COVERAGE, rule_id=RULE_NOT_AUDITED,
                               severity=Severity.LOW, message=message, path=f"{g.group_kind}/{g.namespace}"))
            continue
        known_empty = g.reason == REASON_NOT_SERVED
        rule = None if known_empty else accepted_by(g, target, rules)
        out.append(Finding(
            target=target.name, category=Category.COVERAGE, rule_id=RULE_NOT_AUDITED, severity=Severity.MEDIUM,
            message=f"{g.group_kind}{where} not audited: {g.reason}", path=f"{g.group_kind}/{g.namespace}",
            suppressed_by=f"accepted: {rule.reason}" if rule is not None else "",
        ))
        if not known_empty and rule is None:
            partial.append(f"live {g.group_kind}{where}: {g.reason}")
    return out, tuple(partial)
