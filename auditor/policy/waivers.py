"""Waivers: accepted risks that hide policy findings (kept in reports as suppressed, never dropped)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from fnmatch import fnmatchcase

from auditor.model import Category, Finding, Manifest, ObjectRef, Severity, Target
from auditor.policy.options import WAIVE_ANNOTATION, WAIVE_REASON_ANNOTATION, Waiver

EXPIRED_RULE = "policy.waiver.expired"
UNUSED_RULE = "policy.waiver.unused"
INVALID_RULE = "policy.waiver.invalid"


def _glob(pattern: str, value: str) -> bool:
    return not pattern or fnmatchcase(value, pattern)


def _expiry(waiver: Waiver) -> date | None:
    if not waiver.expires:
        return None
    try:
        return date.fromisoformat(waiver.expires)
    except ValueError:
        return None


def waiver_matches(waiver: Waiver, target: Target, ref: ObjectRef | None, rule_id: str) -> bool:
    """True when the waiver's rule and selectors match this finding."""
    if not fnmatchcase(rule_id, waiver.rule):
        return False
    if not (_glob(waiver.target, target.name) and _glob(waiver.env, target.env)):
        return False
    if ref is None:
        return not (waiver.kind or waiver.namespace or waiver.name)
    return _glob(waiver.kind, ref.kind) and _glob(waiver.namespace, ref.namespace) and _glob(waiver.name, ref.name)


def annotation_waivers(manifest: Manifest | None) -> tuple[set[str], str]:
    """Rule ids (globs) waived by the object's annotations, and the stated reason."""
    if manifest is None:
        return set(), ""
    ann = manifest.annotations
    raw = ann.get(WAIVE_ANNOTATION) or ""
    rules = {r.strip() for r in str(raw).split(",") if r.strip()}
    return rules, str(ann.get(WAIVE_REASON_ANNOTATION) or "").strip()


def apply_waivers(
    findings: Sequence[Finding],
    manifests: Mapping[tuple[str, ObjectRef], Manifest],
    target: Target,
    waivers: Sequence[Waiver],
    today: date,
) -> list[Finding]:
    """Mark waived findings (``suppressed_by``), and add findings for expired, unused and invalid waivers.

    ``manifests`` maps (side, ref) to the document a finding came from, to read its annotations.
    An annotation waiver needs a reason (``gitops-audit.io/waive-reason``); without one it does not apply
    and a low finding says so when it would have applied. A rule glob of an annotation (with a reason) that
    matches no finding of that object, on either side, is reported once as unused (info), as config waivers
    are, so a typo in a rule id shows. Waiver findings themselves are never waived.
    """
    annotated = _annotated_objects(manifests)
    matched: set[tuple[ObjectRef, str]] = set()
    used: set[int] = set()
    expired_hits: dict[int, list[Finding]] = {}
    invalid_annotations: dict[tuple[str, ObjectRef], Manifest] = {}
    out: list[Finding] = []
    for f in findings:
        if f.ref is not None and f.ref in annotated and not f.rule_id.startswith("policy.waiver."):
            # Any finding of the object counts, whichever side: one annotation covers git and cluster.
            matched.update((f.ref, g) for g in annotated[f.ref].globs if fnmatchcase(f.rule_id, g))
        if f.suppressed_by or f.rule_id.startswith("policy.waiver."):
            out.append(f)
            continue
        side = str(f.details.get("source", ""))
        manifest = manifests.get((side, f.ref)) if f.ref else None
        rules, reason = annotation_waivers(manifest)
        if rules and any(fnmatchcase(f.rule_id, r) for r in rules):
            if reason:
                out.append(
                    dataclasses.replace(
                        f,
                        suppressed_by=f"annotation:{WAIVE_ANNOTATION}",
                        details={**f.details, "waiver": {"kind": "annotation", "reason": reason}},
                    )
                )
                continue
            if manifest is not None and f.ref is not None:
                invalid_annotations[(side, f.ref)] = manifest
        applied = False
        for i, w in enumerate(waivers):
            if not waiver_matches(w, target, f.ref, f.rule_id):
                continue
            exp = _expiry(w)
            if w.expires and exp is None:
                continue  # an unreadable expiry never makes a waiver permanent (reported as invalid below)
            if exp is not None and exp <= today:
                expired_hits.setdefault(i, []).append(f)
                continue
            used.add(i)
            out.append(
                dataclasses.replace(
                    f,
                    suppressed_by=w.label,
                    details={
                        **f.details,
                        "waiver": {"kind": "config", "reason": w.reason, "owner": w.owner, "expires": w.expires},
                    },
                )
            )
            applied = True
            break
        if not applied:
            out.append(f)
    out.extend(_waiver_findings(waivers, target, today, used, expired_hits))
    for (side, ref), _manifest in sorted(invalid_annotations.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        out.append(
            Finding(
                target=target.name,
                category=Category.POLICY,
                rule_id=INVALID_RULE,
                severity=Severity.LOW,
                message=(
                    f"{ref.subject}: annotation {WAIVE_ANNOTATION} has no {WAIVE_REASON_ANNOTATION}; "
                    "the waiver is ignored"
                ),
                ref=ref,
                path=side,
                provenance=_manifest.provenance,
                details={"source": side},
            )
        )
    out.extend(_unused_annotation_findings(annotated, matched, target))
    return out


@dataclasses.dataclass
class _Annotated:
    """An object's annotation waivers that have a reason, merged over its sides."""

    globs: dict[str, list[str]]
    """Rule glob → sides whose document lists it."""
    reason: str
    manifest: Manifest
    """The desired document when there is one (its provenance points at git), else the live one."""


def _annotated_objects(manifests: Mapping[tuple[str, ObjectRef], Manifest]) -> dict[ObjectRef, _Annotated]:
    out: dict[ObjectRef, _Annotated] = {}
    for (side, ref), manifest in sorted(manifests.items(), key=lambda kv: (kv[0][0] != "desired", kv[0][0])):
        rules, reason = annotation_waivers(manifest)
        if not rules or not reason:
            continue  # without a reason the annotation never applies; INVALID_RULE covers it
        entry = out.setdefault(ref, _Annotated({}, reason, manifest))
        for glob in sorted(rules):
            entry.globs.setdefault(glob, []).append(side)
    return out


def _unused_annotation_findings(
    annotated: Mapping[ObjectRef, _Annotated], matched: set[tuple[ObjectRef, str]], target: Target
) -> list[Finding]:
    out: list[Finding] = []
    for ref in sorted(annotated, key=lambda r: (r.kind, r.namespace, r.name, r.group)):
        entry = annotated[ref]
        for glob, sides in entry.globs.items():
            if (ref, glob) in matched:
                continue
            out.append(
                Finding(
                    target=target.name,
                    category=Category.POLICY,
                    rule_id=UNUSED_RULE,
                    severity=Severity.INFO,
                    message=(
                        f"{ref.subject}: annotation waiver {glob} ({WAIVE_ANNOTATION}) matched no finding of "
                        "this object on this target; check the rule id, or remove it if it is no longer needed"
                    ),
                    ref=ref,
                    path=f"annotation:{glob}",
                    provenance=entry.manifest.provenance,
                    details={
                        "source": sides[0],
                        "sides": list(sides),
                        "rule": glob,
                        "reason": entry.reason,
                        "waiver": f"annotation:{WAIVE_ANNOTATION}",
                    },
                )
            )
    return out


def _waiver_findings(
    waivers: Sequence[Waiver],
    target: Target,
    today: date,
    used: Iterable[int],
    expired_hits: Mapping[int, list[Finding]],
) -> list[Finding]:
    used_set = set(used)
    out: list[Finding] = []
    for i, w in enumerate(waivers):
        # Only waivers whose target/env selectors fit this target are this target's business.
        if not (_glob(w.target, target.name) and _glob(w.env, target.env)):
            continue
        info = {"rule": w.rule, "reason": w.reason, "owner": w.owner, "expires": w.expires, "waiver": w.label}
        if w.expires and _expiry(w) is None:
            out.append(
                Finding(
                    target.name, Category.POLICY, INVALID_RULE, Severity.MEDIUM,
                    f"waiver {w.label}: expires {w.expires!r} is not an ISO date (YYYY-MM-DD); "
                    "the waiver is not applied",
                    path=w.label, details=info,
                )
            )
            continue
        exp = _expiry(w)
        if exp is not None and exp <= today:
            hits = expired_hits.get(i, [])
            owner = f" (owner {w.owner})" if w.owner else ""
            out.append(
                Finding(
                    target.name, Category.POLICY, EXPIRED_RULE, Severity.MEDIUM,
                    f"waiver {w.label}{owner} expired on {w.expires}; "
                    f"{len(hits)} finding(s) it covered are reported again",
                    path=w.label,
                    details={**info, "findings": [h.fingerprint for h in hits]},
                )
            )
        elif i not in used_set:
            out.append(
                Finding(
                    target.name, Category.POLICY, UNUSED_RULE, Severity.INFO,
                    f"waiver {w.label} matched no finding on this target; remove it if it is no longer needed",
                    path=w.label, details=info,
                )
            )
    return out
