"""Fleet-wide views of a report for the HTML page: overview, app x cluster matrix, version skew, env comparison.

Targets are lined up by :class:`~auditor.model.AppObject` (workload identity and fleet-wide object
key, computed by the pipeline), so one application living in ``shop-dev``, ``shop-staging`` and ``shop``
is one row. Everything here is plain data for the template or the page's JSON block; secret payloads
are masked again (:func:`~auditor.report._common.mask_for`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from auditor.model import AuditReport, Category, DriftKind, Finding, ObjectRef, TargetResult
from auditor.report._common import SEVERITIES, fingerprint, image_rows, mask_for, totals

MAX_MATRIX_APPS = 300
MAX_SKEW_ROWS = 400
MAX_ENV_FIELDS = 20000
MAX_ENV_DRIFT = 20000

_STATE_RANK = {"missing": 3, "drifted": 2, "orphaned": 1, "in-sync": 0}
_STATE_OF = {
    DriftKind.IN_SYNC: "in-sync",
    DriftKind.MODIFIED: "drifted",
    DriftKind.ADDED: "drifted",
    DriftKind.MISSING: "missing",
    DriftKind.ORPHANED: "orphaned",
}
_CONTAINER_IMAGE = re.compile(r"(?:initContainers|containers)\[name=([^\]]+)\]\.image$")


def _worst(findings: Sequence[Finding]) -> Finding | None:
    best: Finding | None = None
    for f in findings:  # findings are sorted worst first within a target; keep the first of the worst
        if f.counts and f.category is not Category.COVERAGE and (best is None or f.severity.rank > best.severity.rank):
            best = f
    return best


def _severity_class(f: Finding | None) -> str:
    return f.severity.value if f is not None else "ok"


def overview(report: AuditReport) -> list[dict[str, Any]]:
    """One row per target: status, counts per category, and its worst finding (the first screen)."""
    rows = []
    for r in report.results:
        t = totals(r.findings)
        worst = _worst(r.findings) if r.audited else None
        any_worst = worst or next((f for f in r.findings if f.counts), None)
        rows.append(
            {
                "name": r.target.name,
                "env": r.target.env,
                "region": r.target.region,
                "audited": r.audited,
                "skip_reason": r.skip_reason,
                "status": _severity_class(any_worst) if r.audited else "skipped",
                "drift": t.category(Category.DRIFT),
                "policy": t.category(Category.POLICY),
                "change_control": t.category(Category.CHANGE_CONTROL),
                "coverage": t.category(Category.COVERAGE),
                "counted": t.counted,
                "suppressed": t.suppressed,
                "by_severity": [(s.value, t.severity(s)) for s in SEVERITIES if t.severity(s)],
                "worst": None
                if any_worst is None
                else {
                    "severity": any_worst.severity.value,
                    "category": any_worst.category.value,
                    "rule": any_worst.rule_id,
                    "subject": any_worst.ref.subject if any_worst.ref else "(repository)",
                    "message": any_worst.message,
                    "fingerprint": fingerprint(any_worst),
                },
            }
        )
    return rows


def _apps_or_images(r: TargetResult) -> dict[ObjectRef, tuple[str, str]]:
    """Ref → (app, key) for a target; without AppObjects (older reports) the ref's own name."""
    return {a.ref: (a.app, a.key) for a in r.apps}


def fleet_matrix(report: AuditReport) -> dict[str, Any]:
    """App x target matrix of drift states, apps with problems first; objects per app for the expanded view."""
    targets = [r for r in report.results if r.audited]
    apps: dict[str, dict[str, Any]] = {}
    # One cell per (state, object) however many targets show it: a cell per object per target was
    # ~76 MB at 96 targets x 1,500 objects. Cells are read, never changed.
    shown: dict[tuple[str, ObjectRef], dict[str, str]] = {}
    for ti, r in enumerate(targets):
        for a in r.apps:
            state = _STATE_OF[a.state]
            app = apps.setdefault(a.app, {"name": a.app, "cells": {}, "objects": {}})
            cell = app["cells"].setdefault(ti, {"counts": defaultdict(int), "state": "in-sync"})
            cell["counts"][state] += 1
            if _STATE_RANK[state] > _STATE_RANK[cell["state"]]:
                cell["state"] = state
            obj = app["objects"].setdefault(a.key, {})
            seen = shown.get((state, a.ref))
            if seen is None:
                seen = shown[(state, a.ref)] = {"state": state, "subject": a.ref.subject}
            obj[ti] = seen
    rows = []
    for app in apps.values():
        cells: list[dict[str, Any] | None] = []
        for ti in range(len(targets)):
            c = app["cells"].get(ti)
            if c is None:
                cells.append(None)
                continue
            n = sum(v for k, v in c["counts"].items() if k != "in-sync")
            cells.append({"state": c["state"], "problems": n, "objects": sum(c["counts"].values()),
                          "counts": sorted(c["counts"].items())})
        worst = max((_STATE_RANK[c["state"]] for c in cells if c), default=0)
        objects = []
        for key, per in sorted(app["objects"].items()):
            ocells = [per.get(ti) for ti in range(len(targets))]
            objects.append({"key": key, "cells": ocells,
                            "problem": any(c and c["state"] != "in-sync" for c in ocells)})
        rows.append({"name": app["name"], "cells": cells, "worst": worst, "objects": objects,
                     "problem": worst > 0})
    rows.sort(key=lambda x: (-x["worst"], x["name"]))
    return {
        "targets": [{"name": r.target.name, "env": r.target.env, "region": r.target.region} for r in targets],
        "rows": rows[:MAX_MATRIX_APPS],
        "total": len(rows),
        "problems": sum(1 for x in rows if x["problem"]),
    }


def _envs(report: AuditReport) -> list[str]:
    return list(dict.fromkeys(r.target.env or r.target.name for r in report.results if r.audited))


def version_skew(report: AuditReport) -> dict[str, Any]:
    """Image (and chart) per app and container, one column per environment, regions folded in."""
    envs = _envs(report)
    table: dict[tuple[str, str], dict[str, list[dict[str, str]]]] = defaultdict(lambda: defaultdict(list))
    charts: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for r in report.results:
        if not r.audited:
            continue
        env = r.target.env or r.target.name
        ident = _apps_or_images(r)
        by_subject = {ref.subject: v for ref, v in ident.items()}
        for a in r.apps:
            label = a.chart or (f"{a.app} {a.version}" if a.version else "")
            if label:
                charts[a.app][env].add(label)
        for workload, container, desired, live in image_rows(r):
            app = by_subject.get(workload, (workload, workload))[0]
            table[(app, container)][env].append(
                {"target": r.target.name, "region": r.target.region, "desired": desired, "live": live}
            )
        for d in r.drift:  # reports without images rows still show drifted images
            for c in d.changes:
                m = _CONTAINER_IMAGE.search(c.path)
                if m and not c.suppressed_by and not r.images:
                    app = ident.get(d.ref, (d.ref.subject, ""))[0]
                    table[(app, m.group(1))][env].append(
                        {"target": r.target.name, "region": r.target.region, "desired": str(c.expected or ""),
                         "live": str(c.actual or "")}
                    )
    rows = []
    for (app, container), per_env in table.items():
        cells: list[dict[str, Any] | None] = []
        running: set[str] = set()
        drifted = False
        for env in envs:
            items = per_env.get(env, [])
            if not items:
                cells.append(None)
                continue
            images: dict[str, list[str]] = defaultdict(list)
            cell_drift = []
            for it in items:
                shown = it["live"] or it["desired"]
                images[shown].append(it["region"] or it["target"])
                running.add(shown)
                if it["live"] and it["desired"] and it["live"] != it["desired"]:
                    cell_drift.append({"where": it["region"] or it["target"], "git": _tag(it["desired"]),
                                       "image": it["desired"]})
            drifted = drifted or bool(cell_drift)
            shown_images = [{"image": img, "tag": _tag(img), "where": sorted(set(w))}
                            for img, w in sorted(images.items())]
            cells.append({
                "images": shown_images,
                "split": len(images) > 1,
                "drift": cell_drift,
            })
        rows.append({"app": app, "container": container, "cells": cells, "skew": len(running) > 1,
                     "drifted": drifted})
    rows.sort(key=lambda x: (not x["skew"], not x["drifted"], x["app"], x["container"]))
    chart_rows = [
        {"app": app, "cells": [sorted(per_env.get(env, ())) for env in envs],
         "skew": len({c for v in per_env.values() for c in v}) > 1}
        for app, per_env in sorted(charts.items())
    ]
    return {"envs": envs, "rows": rows[:MAX_SKEW_ROWS], "total": len(rows), "charts": chart_rows[:MAX_SKEW_ROWS]}


def _tag(image: str) -> str:
    """The tag or digest of an image reference (what differs between environments)."""
    if "@" in image:
        return "@" + image.rsplit("@", 1)[1][:19]
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest (implicit)"


def env_payload(report: AuditReport) -> dict[str, Any]:
    """Data for the page's environment comparison: objects per target, differing git fields, live drift.

    ``targets``: [name, env, region]; ``objects``: key → [app, kind]; ``held``: per target, key → state;
    ``fields``: [key, path, {target index: desired value}] for fields that differ in git;
    ``drift``: [target index, key, path, desired, live] for counted field drift.
    ``held`` and ``fields`` are iterators, made one target or field at a time as they are written:
    together they grow with objects x targets (~32 MB at 96 targets x 1,500 objects).
    """
    audited = [r for r in report.results if r.audited and r.apps]
    index = {r.target.name: i for i, r in enumerate(audited)}
    objects: dict[str, list[str]] = {}
    for r in audited:
        for a in r.apps:
            objects.setdefault(a.key, [a.app, a.ref.kind])

    def held() -> Iterator[dict[str, str]]:
        for r in audited:
            yield {a.key: _STATE_OF[a.state] for a in r.apps}

    def fields() -> Iterator[list[Any]]:
        for f in report.fleet_fields[:MAX_ENV_FIELDS]:
            ref = ObjectRef("", f.key.partition("/")[0], "", "")
            yield [f.key, f.path, {str(index[t]): mask_for(ref, f.path, v) for t, v in f.values if t in index}]

    drift: list[list[Any]] = []
    for r in audited:
        keys = {a.ref: a.key for a in r.apps}
        for d in r.drift:
            key = keys.get(d.ref)
            if key is None:
                continue
            for c in d.changes:
                if c.suppressed_by or len(drift) >= MAX_ENV_DRIFT:
                    continue
                drift.append([index[r.target.name], key, c.path, mask_for(d.ref, c.path, c.expected),
                              mask_for(d.ref, c.path, c.actual)])
    return {
        "targets": [[r.target.name, r.target.env, r.target.region] for r in audited],
        "objects": objects,
        "held": held(),
        "fields": fields(),
        "drift": drift,
    }
