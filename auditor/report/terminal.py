"""Terminal output: a compact summary per target and category, progress lines and JSON log records."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from auditor.model import AuditReport, Category, Severity, TargetResult
from auditor.report._common import (
    CATEGORIES,
    SEVERITIES,
    duration_seconds,
    human_duration,
    plural,
    totals,
)
from auditor.util.text import terminal_safe

_RESET = "\x1b[0m"
_COLORS: Mapping[str, str] = {
    Severity.CRITICAL.value: "\x1b[1;31m",
    Severity.HIGH.value: "\x1b[31m",
    Severity.MEDIUM.value: "\x1b[33m",
    Severity.LOW.value: "\x1b[36m",
    Severity.INFO.value: "\x1b[2m",
    "ok": "\x1b[32m",
    "skipped": "\x1b[35m",
    "bold": "\x1b[1m",
}
_CAT_SHORT: Mapping[Category, str] = {
    Category.DRIFT: "drift",
    Category.POLICY: "policy",
    Category.CHANGE_CONTROL: "change",
    Category.COVERAGE: "coverage",
}


def _one_line(text: str) -> str:
    return terminal_safe(text, one_line=True)


def _paint(text: str, key: str, color: bool) -> str:
    return f"{_COLORS[key]}{text}{_RESET}" if color else text


def _worst(result: TargetResult) -> Severity | None:
    worst: Severity | None = None
    for f in result.findings:
        if f.counts and (worst is None or f.severity.rank > worst.rank):
            worst = f.severity
    return worst


def summary(report: AuditReport, *, color: bool) -> str:
    """A few lines: one per target (status, counts per category, worst severity), then totals.

    Text that came from git or the cluster (target names, skip reasons) loses escape sequences and
    control characters, and shows bidi characters as ``<U+202E>``: a crafted name cannot move the
    cursor, retitle or clear the terminal, or reorder what is read.
    """
    width = max([len(terminal_safe(r.target.name, one_line=True)) for r in report.results] + [6])
    lines: list[str] = []
    head = f"gitops-audit {report.tool_version}  run {report.run_id}  commit {report.commit[:12] or '-'}"
    lines.append(_paint(head, "bold", color))
    for r in report.results:
        name = terminal_safe(r.target.name, one_line=True).ljust(width)
        if not r.audited:
            reason = terminal_safe(r.skip_reason, one_line=True)
            lines.append(f"  {name}  {_paint('NOT AUDITED', 'skipped', color)}  {reason}")
            continue
        t = totals(r.findings)
        parts = [f"{_CAT_SHORT[c]} {t.category(c)}" for c in CATEGORIES]
        worst = _worst(r)
        key = worst.value if worst is not None else "ok"
        # Pad before painting so escape codes do not count toward the column width.
        status = _paint(key.ljust(8), key, color)
        sup = f"  ({t.suppressed} suppressed)" if t.suppressed else ""
        lines.append(f"  {name}  {status}  " + "  ".join(parts) + sup)
    t = totals(report.findings)
    sev = "  ".join(
        _paint(f"{s.value} {t.severity(s)}", s.value, color) if t.severity(s) else f"{s.value} 0"
        for s in SEVERITIES
    )
    suppressed = f"  ({t.suppressed} suppressed)" if t.suppressed else ""
    lines.append(f"Total {plural(t.counted, 'finding')}: {sev}{suppressed}")
    if report.previous_run_id:
        new = sum(1 for f in report.findings if f.counts and f.status.value == "new")
        lines.append(
            f"Compared with {report.previous_run_id}: {new} new, {len(report.resolved)} resolved"
        )
    skipped = [r for r in report.results if not r.audited]
    verdict = f"exit {report.exit_code()}"
    if skipped:
        verdict += f" (partial: {len(skipped)} of {plural(len(report.results), 'target')} not audited)"
    elif report.failing():
        verdict += f" ({plural(len(report.failing()), 'finding')} at or above {report.fail_on.value})"
    lines.append(f"Duration {human_duration(duration_seconds(report))}; {verdict}")
    return "\n".join(lines)


def top_findings(report: AuditReport, *, limit: int = 10, color: bool = False) -> str:
    """The findings behind exit code 1, worst first, one line each (severity, target, object, rule, message).

    Empty when nothing is at or above ``fail_on``. Text from git or the cluster is stripped of control
    characters; long messages are cut so each finding stays on one line of a CI log.
    """
    order = {r.target.name: i for i, r in enumerate(report.results)}
    failing = sorted(report.failing(),
                     key=lambda f: (-f.severity.rank, order.get(f.target, 0), *f.sort_key()))
    if not failing:
        return ""
    shown = failing[:limit]
    rows = [
        (f.severity.value, _one_line(f.target), _one_line(f.ref.subject if f.ref else "(repository)"),
         _one_line(f.rule_id), _one_line(f.message))
        for f in shown
    ]
    w = [min(max(len(r[i]) for r in rows), cap) for i, cap in ((1, 28), (2, 48), (3, 36))]
    more = f", showing {len(shown)}" if len(failing) > len(shown) else ""
    lines = [f"Findings at or above {report.fail_on.value} ({len(failing)}{more}):"]
    for sev, target, subject, rule, message in rows:
        text = f"{target:<{w[0]}}  {subject:<{w[1]}}  {rule:<{w[2]}}  {message}"
        if len(text) > 200:
            text = text[:199] + "…"
        lines.append(f"  {_paint(sev.ljust(8), sev, color)}  {text}")
    if more:
        lines.append(f"  … {plural(len(failing) - len(shown), 'more finding')} in the reports")
    return "\n".join(lines)


def progress(target: str, stage: str, *, stream: TextIO | None = None, color: bool = False) -> None:
    """One progress line while targets are processed (``[target] reading live state…``) on stderr."""
    out = stream if stream is not None else sys.stderr
    label = _paint(f"[{terminal_safe(target, one_line=True)}]", "bold", color)
    out.write(f"{label} {terminal_safe(stage, one_line=True)}\n")
    out.flush()


def log_records(report: AuditReport) -> list[dict[str, Any]]:
    """Structured log records for ``--log-format json`` (one per target, then one for the run)."""
    records: list[dict[str, Any]] = []
    for r in report.results:
        t = totals(r.findings)
        records.append(
            {
                "event": "target",
                "run_id": report.run_id,
                "target": r.target.name,
                "env": r.target.env,
                "region": r.target.region,
                "audited": r.audited,
                "skip_reason": r.skip_reason,
                "findings": t.counted,
                "suppressed": t.suppressed,
                "by_severity": dict(t.by_severity),
                "by_category": dict(t.by_category),
            }
        )
    t = totals(report.findings)
    records.append(
        {
            "event": "run",
            "run_id": report.run_id,
            "commit": report.commit,
            "started": report.started,
            "finished": report.finished,
            "partial": report.partial,
            "exit_code": report.exit_code(),
            "findings": t.counted,
            "by_severity": dict(t.by_severity),
        }
    )
    return records


def log_lines(report: AuditReport) -> str:
    """:func:`log_records` as JSON lines."""
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in log_records(report))
