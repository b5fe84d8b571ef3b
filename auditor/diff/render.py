"""Human and JSON renderings of a DriftOutcome (pure: outcome in, text out).

Text form, one block per object that is not in sync::

    ► Deployment/shop/web drifted
      spec.replicas: 3 → 5 (kubectl-scale, 2026-11-20T03:12Z)
      + spec.template.spec.containers[name=debug]: added out-of-band → {...} (kubectl-edit, …)
      ~ spec.replicas: 3 → 5 [suppressed by hpa:shop/web]

When a changed value is a map or list, the lines under it say what differs inside it, each
with its full path in the same syntax (rendered with deepdiff, the right tool for explaining an
already-drifted value; it never runs on the comparison hot path). Cluster-scoped objects are
shown without a namespace (``ClusterRole/name``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from auditor.diff.defaults import is_server_default
from auditor.diff.engine import INFO_RULES, DriftOutcome
from auditor.diff.text import format_path, format_value
from auditor.model import DriftKind, Finding, ObjectDrift, ObjectRef

_HEADLINE = {
    DriftKind.MODIFIED: "drifted",
    DriftKind.ADDED: "drifted (fields added out-of-band)",
    DriftKind.MISSING: "missing",
    DriftKind.ORPHANED: "orphaned",
    DriftKind.IN_SYNC: "in sync",
}


def inner_diff(expected: Any, actual: Any, base: Sequence[str] = (), kind: str = "", limit: int = 8) -> list[str]:
    """What differs inside two maps/lists, one short line each, in the report's path syntax.

    For display only (deepdiff explains an already-drifted value; it never runs on the comparison
    hot path). ``base`` is the finding's path as segments, so each line carries the full path
    (``rules[0].verbs[1]: added list``); with ``kind``, live-only fields that are the API's own
    defaults are left out, as the comparison left them out (an atomic list is explained by the
    entries that really differ).
    """
    if not isinstance(expected, dict | list) or not isinstance(actual, dict | list):
        return []
    from deepdiff import DeepDiff  # imported lazily: only drifted values are ever explained

    dd = DeepDiff(expected, actual, view="tree")
    lines: list[str] = []
    for report, items in dd.items():
        for item in items:
            segs = [*base, *(f"[{p}]" if isinstance(p, int) else str(p) for p in item.path(output_format="list"))]
            where = format_path(segs) or "."
            if report in ("values_changed", "type_changes"):
                lines.append(f"{where}: {format_value(item.t1, 40)} → {format_value(item.t2, 40)}")
            elif report.endswith("_added"):
                parent = item.up.t2 if item.up is not None else None
                if kind and (is_server_default(kind, tuple(segs), item.t2, parent)
                             or is_server_default(kind, tuple(segs[:-1]), parent, None)):
                    continue
                lines.append(f"{where}: added {format_value(item.t2, 60)}")
            elif report.endswith("_removed"):
                lines.append(f"{where}: removed {format_value(item.t1, 60)}")
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
        segments = f.details.get("segments") or []
        lines += [f"      {x}" for x in inner_diff(f.expected, f.actual, segments, f.ref.kind if f.ref else "")]
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


def in_sync(outcome: DriftOutcome) -> bool:
    """No counted finding besides events (``drift.rollout-restart``): the verdict of ``diff``."""
    return not any(f.counts and f.rule_id not in INFO_RULES for f in outcome.findings)


def render_json(outcome: DriftOutcome) -> str:
    """Machine form: objects with their changes, findings, unmatched rules."""
    doc = {
        "in_sync": in_sync(outcome),
        "objects": [_drift_dict(d) for d in outcome.drifts],
        "findings": [_finding_dict(f) for f in outcome.findings],
        "suppressed": sum(1 for f in outcome.findings if not f.counts),
        "unmatched_rules": list(outcome.unmatched_rules),
    }
    return json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n"
