"""Human and JSON renderings of a DriftOutcome (pure: outcome in, text out).

Text form, one block per object that is not in sync::

    ► Deployment/shop/web drifted
      spec.replicas: 3 → 5 (kubectl-scale, 2026-11-20T03:12Z)
      + spec.template.spec.containers[name=debug]: added out-of-band → {...} (kubectl-edit, …)
      ~ spec.replicas: 3 → 5 [suppressed by hpa:shop/web]

When a changed value is a map or list, the lines under it say what differs inside it
(rendered with deepdiff, which is the right tool for explaining an already-drifted value;
it never runs on the comparison hot path).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from auditor.diff.engine import DriftOutcome
from auditor.diff.text import format_value
from auditor.model import DriftKind, Finding, ObjectDrift, ObjectRef

_HEADLINE = {
    DriftKind.MODIFIED: "drifted",
    DriftKind.ADDED: "drifted (fields added out-of-band)",
    DriftKind.MISSING: "missing",
    DriftKind.ORPHANED: "orphaned",
    DriftKind.IN_SYNC: "in sync",
}


def inner_diff(expected: Any, actual: Any, limit: int = 8) -> list[str]:
    """What differs inside two maps/lists, one short line each (deepdiff), for display only."""
    if not isinstance(expected, dict | list) or not isinstance(actual, dict | list):
        return []
    from deepdiff import DeepDiff  # imported lazily: only drifted values are ever explained

    dd = DeepDiff(expected, actual, verbose_level=2)
    lines: list[str] = []
    for kind, entries in dd.items():
        if not isinstance(entries, Mapping):
            continue
        for where, change in entries.items():
            where_s = str(where).replace("root", "", 1) or "."
            if kind == "values_changed" or kind == "type_changes":
                lines.append(f"{where_s}: {format_value(change.get('old_value'), 40)} → "
                             f"{format_value(change.get('new_value'), 40)}")
            elif kind.endswith("_added"):
                lines.append(f"{where_s}: added {format_value(change, 60)}")
            elif kind.endswith("_removed"):
                lines.append(f"{where_s}: removed {format_value(change, 60)}")
    lines.sort()
    if len(lines) > limit:
        lines = [*lines[:limit], f"… {len(lines) - limit} more"]
    return lines


def _finding_line(f: Finding) -> list[str]:
    prefix = "+ " if f.details.get("drift_kind") == DriftKind.ADDED.value else ""
    if f.suppressed_by:
        prefix = "~ " + prefix
    text = f.message
    if f.suppressed_by:
        text += f" [suppressed by {f.suppressed_by}]"
    lines = [f"  {prefix}{text}"]
    if f.ref is None or f.ref.kind != "Secret":
        lines += [f"      {x}" for x in inner_diff(f.expected, f.actual)]
    return lines


def render_text(outcome: DriftOutcome, show_in_sync: bool = True) -> str:
    """Human report: ``► Kind/ns/name drifted`` blocks, then ignore rules that matched nothing."""
    by_ref: dict[ObjectRef, list[Finding]] = {}
    for f in outcome.findings:
        if f.ref is not None:
            by_ref.setdefault(f.ref, []).append(f)
    out: list[str] = []
    for d in outcome.drifts:
        fs = sorted(by_ref.get(d.ref, []), key=lambda f: (bool(f.suppressed_by), f.path))
        if d.kind == DriftKind.IN_SYNC and not fs:
            if show_in_sync:
                out.append(f"✓ {d.ref.subject} in sync" + (f" ({d.note})" if d.note else ""))
            continue
        head = _HEADLINE[d.kind]
        if d.kind == DriftKind.IN_SYNC:
            head = "in sync (suppressed differences below)"
        out.append(f"► {d.ref.subject} {head}")
        if d.kind in (DriftKind.MISSING, DriftKind.ORPHANED):
            for f in fs:
                why = d.note if d.kind == DriftKind.ORPHANED and d.note else "in git but not in the cluster"
                out.append(f"  {why} [{f.severity.value}]"
                           + (f" [suppressed by {f.suppressed_by}]" if f.suppressed_by else ""))
            continue
        for f in fs:
            out.extend(_finding_line(f))
        if d.note:
            out.append(f"  note: {d.note}")
    for rule in outcome.unmatched_rules:
        out.append(f"! ignore rule matched nothing: {rule}")
    return "\n".join(out) + ("\n" if out else "")


def _drift_dict(d: ObjectDrift) -> dict[str, Any]:
    return {
        "ref": d.ref.as_dict(),
        "subject": d.ref.subject,
        "kind": d.kind.value,
        "note": d.note,
        "changes": [
            {
                "path": c.path,
                "kind": c.kind.value,
                "expected": c.expected,
                "actual": c.actual,
                "live": None if c.live is None else {"manager": c.live.manager, "operation": c.live.operation,
                                                     "time": c.live.time},
                "suppressed_by": c.suppressed_by,
            }
            for c in d.changes
        ],
    }


def _finding_dict(f: Finding) -> dict[str, Any]:
    return {
        "rule_id": f.rule_id,
        "severity": f.severity.value,
        "message": f.message,
        "subject": f.ref.subject if f.ref else "",
        "path": f.path,
        "expected": f.expected,
        "actual": f.actual,
        "suppressed_by": f.suppressed_by,
        "fingerprint": f.fingerprint,
        "details": dict(f.details),
    }


def render_json(outcome: DriftOutcome) -> str:
    """Machine form: objects with their changes, findings, unmatched rules."""
    doc = {
        "in_sync": not any(f.counts for f in outcome.findings),
        "objects": [_drift_dict(d) for d in outcome.drifts],
        "findings": [_finding_dict(f) for f in outcome.findings],
        "suppressed": sum(1 for f in outcome.findings if not f.counts),
        "unmatched_rules": list(outcome.unmatched_rules),
    }
    return json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n"
