"""Self-contained HTML report (and the history index page), rendered with Jinja2.

Security model of the page:
- Everything is inline; the page loads nothing from anywhere (no external URL of any kind).
- A strict Content-Security-Policy ``<meta>`` is the first element of ``<head>``. The inline
  script and stylesheet are allowed by their sha256 hashes, computed here at render time, so
  no ``unsafe-inline`` is needed and injected markup could not run even if it got in.
- Jinja2 autoescaping is on and no data goes through ``|safe``. Findings travel to the page as
  JSON in a ``<script type="application/json">`` data block, escaped so ``</script>``, ``<!--``
  and line separators cannot end or confuse it; the script builds the table with
  ``textContent`` only.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections import Counter, defaultdict
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup

from auditor.model import AuditReport, Category, Finding, FindingStatus, TargetResult
from auditor.report import fleet_view
from auditor.report._common import (
    CATEGORIES,
    SEVERITIES,
    duration_seconds,
    gc_paused,
    human_duration,
    parse_time,
    totals,
)
from auditor.report._text import Sink
from auditor.report.frameworks_view import frameworks_view_model
from auditor.report.html_data import write_data
from auditor.report.html_evidence import evidence_view
from auditor.util.text import visible

if TYPE_CHECKING:  # pragma: no cover - typing only; history imports this module at run time
    from auditor.report.history import RunSummary

MAX_RESOLVED_ROWS = 500
MAX_GAP_ROWS = 500

def csp_hash(text: str) -> str:
    """The CSP source expression allowing exactly this inline script/style text."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def csp(script: str | None, style: str) -> str:
    """A strict policy: nothing loads, only the hashed inline script/style run, no forms, no base."""
    script_src = csp_hash(script) if script is not None else "'none'"
    return (
        f"default-src 'none'; script-src {script_src}; style-src {csp_hash(style)}; "
        "img-src data:; font-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'none'"
    )


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("auditor.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # Controls and bidi characters from a repository or cluster are shown (<U+202E>), never obeyed.
        finalize=lambda v: visible(v) if isinstance(v, str) and not isinstance(v, Markup) else v,
    )


@lru_cache(maxsize=4)
def _asset(name: str) -> str:
    return resources.files("auditor.report").joinpath("templates", name).read_text("utf-8")


# --------------------------------------------------------------------------- view model


def _context_of(r: TargetResult) -> str:
    t = r.target
    return t.context or (f"snapshot:{t.snapshot}" if t.snapshot else "")


def _api_server(r: TargetResult) -> str:
    """The API server URL; empty for snapshot targets (whose source is already shown)."""
    if r.live_source and r.live_source.rstrip("/") != r.target.snapshot.rstrip("/"):
        return "" if r.target.snapshot and not r.target.context else r.live_source
    return ""


def _worst_class(findings: Sequence[Finding]) -> str:
    worst = -1
    for f in findings:
        if f.counts and f.severity.rank > worst:
            worst = f.severity.rank
    return "ok" if worst < 0 else SEVERITIES[len(SEVERITIES) - 1 - worst].value


def _matrix(report: AuditReport) -> dict[str, Any]:
    """Environment x region matrix: counted findings per cell, worst severity, audit status."""
    import pandas as pd  # imported lazily: a plain CLI call should not pay for pandas

    none = "(none)"
    targets = pd.DataFrame(
        [
            (r.target.name, r.target.env or none, r.target.region or none, r.audited)
            for r in report.results
        ],
        columns=["target", "env", "region", "audited"],
    )
    if targets.empty:
        return {"envs": [], "regions": [], "cells": {}}
    rows = [(f.target, f.severity.rank) for r in report.results for f in r.findings if f.counts]
    found = pd.DataFrame(rows, columns=["target", "rank"]).merge(targets, on="target", how="inner")
    agg = found.groupby(["env", "region"])["rank"].agg(["size", "max"]) if not found.empty else None
    by_sev = (
        found.pivot_table(index=["env", "region"], columns="rank", aggfunc="size", fill_value=0)
        if not found.empty
        else None
    )
    cells: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for (env, region), group in targets.groupby(["env", "region"], sort=False):
        count, worst = 0, -1
        sev_counts: dict[str, int] = {}
        if agg is not None and (env, region) in agg.index:
            count = int(agg.loc[(env, region), "size"])
            worst = int(agg.loc[(env, region), "max"])
            assert by_sev is not None
            line = by_sev.loc[(env, region)]
            for s in SEVERITIES:
                n = int(line.get(s.rank, 0))
                if n:
                    sev_counts[s.value] = n
        not_audited = [str(n) for n, a in zip(group["target"], group["audited"], strict=True) if not a]
        if not_audited:
            cls = "skipped"
        elif worst < 0:
            cls = "ok"
        else:
            cls = SEVERITIES[len(SEVERITIES) - 1 - worst].value
        cells[str(env)][str(region)] = {
            "count": count,
            "cls": cls,
            "targets": [str(t) for t in group["target"]],
            "not_audited": not_audited,
            "by_severity": sev_counts,
        }
    return {
        "envs": [str(e) for e in pd.unique(targets["env"])],
        "regions": [str(r) for r in pd.unique(targets["region"])],
        "cells": dict(cells),
    }


def _run_time(p: RunSummary) -> str:
    """``YYYY-MM-DD HH:MM`` of a run: its start time, else the time its id begins with."""
    when = parse_time(p.started)
    if when is None:
        m = _RUN_ID_TIME.match(p.run_id)
        if m is None:
            return p.run_id
        return f"{m[1]}-{m[2]}-{m[3]} {m[4]}:{m[5]}"
    return when.strftime("%Y-%m-%d %H:%M")


_RUN_ID_TIME = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})")


def _trend(points: Sequence[RunSummary]) -> dict[str, Any]:
    """Inline-SVG trend geometry: one polyline per severity band plus the total, dates on the x-axis."""
    width, height, pad_l, pad_r, pad_t, pad_b = 720, 190, 44, 40, 12, 34
    if not points:
        return {"series": [], "width": width, "height": height}
    n = len(points)
    top = max([p.counted for p in points] + [1])
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b

    def xy(i: int, v: int) -> tuple[float, float]:
        x = pad_l + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)
        y = pad_t + plot_h - plot_h * v / top
        return round(x, 1), round(y, 1)

    times = [_run_time(p) for p in points]
    series = []
    for key in ("total", *[s.value for s in SEVERITIES]):
        values = [p.counted if key == "total" else dict(p.by_severity).get(key, 0) for p in points]
        if key != "total" and not any(values):
            continue
        coords = [xy(i, v) for i, v in enumerate(values)]
        series.append(
            {
                "key": key,
                "points": " ".join(f"{x},{y}" for x, y in coords),
                "dots": [
                    {"x": x, "y": y, "label": f"{times[i]} UTC (run {points[i].run_id}): {values[i]} {key}"}
                    for i, (x, y) in enumerate(coords)
                ],
            }
        )
    ticks = [{"y": round(pad_t + plot_h - plot_h * v / top, 1), "label": v} for v in sorted({0, top // 2, top})]
    # Up to 6 dated ticks, evenly spread; the time of day only when two ticks fall on one day.
    picks = sorted({round(i * (n - 1) / 5) for i in range(6)}) if n > 1 else [0]
    days = [times[i][:10] for i in picks]
    same_day = len(set(days)) < len(days)
    xticks = [
        {"x": xy(i, 0)[0], "label": times[i] if same_day else times[i][:10],
         "anchor": "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"}
        for i in picks
    ]
    return {
        "series": series,
        "width": width,
        "height": height,
        "ticks": ticks,
        "xticks": xticks,
        "x0": pad_l,
        "x1": width - pad_r,
        "base_y": height - 12,
        "axis_y": pad_t + plot_h,
        "n": n,
    }


def view_model(report: AuditReport, history: Sequence[RunSummary] = ()) -> dict[str, Any]:
    """Everything the template shows, as plain data (also handy for tests)."""
    from auditor.report.history import RunSummary as _RunSummary

    findings = report.findings
    t = totals(findings)
    cat_sev: Counter[tuple[str, str]] = Counter(
        (f.category.value, f.severity.value) for f in findings if f.counts
    )
    status = Counter(f.status.value for f in findings if f.counts)
    targets = []
    for r in report.results:
        rt = totals(r.findings)
        targets.append(
            {
                "name": r.target.name,
                "env": r.target.env,
                "region": r.target.region,
                "path": r.target.path,
                "context": _context_of(r),
                "live_source": _api_server(r),
                "identity": r.identity,
                "audited": r.audited,
                "skip_reason": r.skip_reason,
                "commit": r.commit,
                "desired": r.desired_count,
                "live": r.live_count,
                "counted": rt.counted,
                "suppressed": rt.suppressed,
                "drift": rt.category(Category.DRIFT),
                "policy": rt.category(Category.POLICY),
                "change_control": rt.category(Category.CHANGE_CONTROL),
                "worst": _worst_class(r.findings) if r.audited else "skipped",
            }
        )
    gaps = [
        {"target": f.target, "subject": f.ref.subject if f.ref else "", "message": f.message}
        for f in findings
        if f.category is Category.COVERAGE
    ]
    # Run ids sort by time; the current run joins the history at its place (a re-rendered
    # older run, e.g. after a shard merge, is not drawn as the newest point).
    points = [h for h in history if h.run_id != report.run_id]
    points.append(_RunSummary.from_report(report))
    points.sort(key=lambda h: h.run_id)
    resolved = sorted(report.resolved, key=Finding.sort_key)
    return {
        "report": report,
        "duration": human_duration(duration_seconds(report)),
        "exit_code": report.exit_code(),
        "totals": t,
        "severities": [s.value for s in SEVERITIES],
        "categories": [c.value for c in CATEGORIES],
        "cat_sev": {f"{c}|{s}": n for (c, s), n in cat_sev.items()},
        "targets": targets,
        "not_audited": [x for x in targets if not x["audited"]],
        "gaps": gaps[:MAX_GAP_ROWS],
        "gaps_total": len(gaps),
        "matrix": _matrix(report),
        "overview": fleet_view.overview(report),
        "fleet": fleet_view.fleet_matrix(report),
        "skew": fleet_view.version_skew(report),
        "new": status.get(FindingStatus.NEW.value, 0) if report.previous_run_id else 0,
        "persisting": status.get(FindingStatus.PERSISTING.value, 0),
        "resolved": [
            {
                "target": f.target,
                "severity": f.severity.value,
                "category": f.category.value,
                "rule": f.rule_id,
                "subject": f.ref.subject if f.ref else "",
                "path": f.path,
                "message": f.message,
            }
            for f in resolved[:MAX_RESOLVED_ROWS]
        ],
        "resolved_total": len(resolved),
        "trend": _trend(points),
        "history_runs": len(points),
        "frameworks_view": frameworks_view_model(report),
    }


@gc_paused
def write(report: AuditReport, out: Sink, history: Sequence[RunSummary] = ()) -> None:
    """Append the self-contained HTML report; its findings data is written finding by finding.

    The page is rendered piece by piece around a random marker where the data goes (nothing in a
    report can guess it), and the data is written in its place.
    """
    css, js = _asset("report.css"), _asset("report.js")
    vm = view_model(report, history)
    mark = f"gitops-audit-data-{secrets.token_hex(16)}"
    pieces = _env().get_template("report.html.j2").generate(
        csp=csp(js, css),
        css=Markup(css),  # noqa: S704 - static asset shipped with the package, not data
        js=Markup(js),  # noqa: S704 - static asset shipped with the package, not data
        data=Markup(mark),  # noqa: S704 - a random token of hex digits
        fail_on=report.fail_on.value,
        **vm,
        **evidence_view(report),
    )
    for piece in pieces:  # the page is written as the template makes it
        if mark in piece:  # one expression's output: the marker is never cut between pieces
            head, tail = piece.split(mark, 1)
            out.append(head)
            write_data(report, out)
            out.append(tail)
        else:
            out.append(piece)


def render(report: AuditReport, history: Sequence[RunSummary] = ()) -> str:
    """The self-contained HTML report as one string (see :func:`write`)."""
    out: list[str] = []
    write(report, out, history)
    return "".join(out)


def render_index(
    summaries: Sequence[RunSummary], *, latest: str = "", trend_runs: Sequence[RunSummary] | None = None
) -> str:
    """The history index page: runs (newest first) with totals, and the trend chart. No script.

    ``trend_runs`` (default: all) are the runs charted: the latest run's scope, so that runs of
    another scope do not distort the trend.
    """
    css = _asset("report.css")
    ordered = sorted(summaries, key=lambda s: s.run_id)
    charted = sorted(trend_runs, key=lambda s: s.run_id) if trend_runs is not None else ordered
    return _env().get_template("index.html.j2").render(
        csp=csp(None, css),
        css=Markup(css),  # noqa: S704 - static asset shipped with the package, not data
        runs=list(reversed(ordered)),
        latest=latest,
        trend=_trend(charted),
        severities=[s.value for s in SEVERITIES],
        categories=[c.value for c in CATEGORIES],
    )
