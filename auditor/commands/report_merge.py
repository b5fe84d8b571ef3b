"""``gitops-audit report merge PART… --out DIR``: one report from the partial reports of a sharded run.

Each PART is a ``report.json``, a run directory holding one, or a reports directory (its ``latest``
run is used), e.g. the ``--out`` of each shard. The parts must come from one audit: the same
commit(s), repository, ref, config and tool version, and no target twice; ``--max-age`` refuses
parts that finished too long ago, so a shard that failed tonight is never replaced by yesterday's.

The merged report is what an unsharded run over the same targets gives, apart from its run id and
timings: targets in config order (``--config``/``$GITOPS_AUDIT_CONFIG``, else sorted by name; with a
config, every target it defines must be in some part, so a missing shard is refused),
findings new/persisting against the history in ``--out``, written with every format, the history
index and the ``latest`` pointer. Exit code: the merged report's (0, 1, 3), 2 for unusable parts.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditor.errors import ReportError, UsageError
from auditor.model import AuditReport, Severity, TargetResult, ToolInfo
from auditor.provenance.ledger import union_ledgers

SEVERITY_CHOICES = tuple(s.value for s in Severity)


def register(subparsers: Any) -> None:
    """Add ``report`` with its ``merge`` subcommand."""
    from auditor import metrics

    parser = subparsers.add_parser("report", help="work with written reports (merge shards)")
    sub = parser.add_subparsers(dest="report_command", required=True, metavar="SUBCOMMAND")
    p = sub.add_parser(
        "merge",
        help="merge the partial reports of a sharded run into one report",
        description="Merge partial reports (one per shard of --shard K/N or an Indexed Job) into the report "
        "an unsharded run would have written. PART: a report.json, a run directory, or a reports directory "
        "(its latest run). Exit: 0 clean, 1 findings at/above --fail-on, 2 unusable parts, 3 partial audit.",
    )
    p.add_argument("parts", nargs="+", metavar="PART", help="partial report (file or directory)")
    p.add_argument("--out", required=True, metavar="DIR", help="reports directory to write the merged run into")
    p.add_argument("--config", "-c", metavar="FILE",
                   help="config whose target order the report follows (default: $GITOPS_AUDIT_CONFIG, "
                   "else ./gitops-audit.yaml, else targets sorted by name)")
    p.add_argument("--keep", type=int, default=30, metavar="N", help="keep the last N runs (default: 30)")
    p.add_argument("--fail-on", choices=SEVERITY_CHOICES, help="exit 1 at this severity or worse "
                   "(default: the parts' fail_on)")
    p.add_argument("--max-age", type=float, default=0, metavar="SECONDS",
                   help="refuse parts that finished more than SECONDS ago (default: no limit)")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the report path")
    metrics.add_arguments(p)
    p.set_defaults(func=handler)


def resolve_part(path: Path) -> Path:
    """The report.json a PART names (file, run directory, or reports directory → latest run)."""
    from auditor.report.history import latest_run_id

    if path.is_file():
        return path
    if (path / "report.json").is_file():
        return path / "report.json"
    if path.is_dir():
        run_id = latest_run_id(path)
        if run_id and (path / run_id / "report.json").is_file():
            return path / run_id / "report.json"
    raise UsageError(f"merge reports: {path}: no report.json (expected a report, a run or a reports directory)")


def load_parts(paths: Sequence[Path]) -> list[AuditReport]:
    """Read every part; :class:`UsageError` names the part that cannot be read."""
    from auditor.report import json_report

    parts = []
    for path in paths:
        file = resolve_part(path)
        try:
            parts.append(json_report.load(file.read_bytes()))
        except (OSError, ReportError) as exc:
            raise UsageError(f"merge reports: {file}: {exc}") from None
    return parts


def _epoch(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def check_parts(parts: Sequence[AuditReport], *, max_age: float = 0, now: datetime | None = None) -> None:
    """Refuse parts that are not pieces of one audit (:class:`UsageError`, one line)."""
    if not parts:
        raise UsageError("merge reports: no parts given")
    # Only parts that audited something carry a commit; an empty shard (no targets) agrees with any.
    for attr in ("commit", "repo_url", "ref"):
        values = {getattr(p, attr) for p in parts if p.results and getattr(p, attr)}
        if len(values) > 1:
            raise UsageError(f"merge reports: the parts audited different {attr.replace('_', ' ')}s: "
                             f"{', '.join(sorted(values))}")
    for attr in ("config_sha256", "tool_version", "fail_on"):
        values = {str(getattr(p, attr)) for p in parts if getattr(p, attr)}
        if len(values) > 1:
            raise UsageError(f"merge reports: the parts differ in {attr}: {', '.join(sorted(values))}")
    seen: dict[str, str] = {}
    for p in parts:
        for r in p.results:
            if r.target.name in seen:
                raise UsageError(f"merge reports: target {r.target.name} is in two parts "
                                 f"({seen[r.target.name]} and {p.run_id})")
            seen[r.target.name] = p.run_id
    if max_age > 0:
        clock = (now or datetime.now(UTC)).timestamp()
        for p in parts:
            finished = _epoch(p.finished)
            if finished is None or clock - finished > max_age:
                raise UsageError(f"merge reports: part {p.run_id} finished at {p.finished or 'an unknown time'}, "
                                 f"more than {max_age:g}s ago (did that shard fail?)")


def check_coverage(parts: Sequence[AuditReport], expected: Sequence[str]) -> None:
    """Every target the config defines must be in some part: a missing shard is an error, not a gap."""
    present = {r.target.name for p in parts for r in p.results}
    missing = [name for name in expected if name not in present]
    if missing:
        shown = ", ".join(missing[:10]) + (f" (+{len(missing) - 10} more)" if len(missing) > 10 else "")
        raise UsageError(f"merge reports: no part holds target(s) {shown}: is a shard missing?")


def merge_reports(
    parts: Sequence[AuditReport], *, run_id: str, order: Sequence[str] = ()
) -> AuditReport:
    """One report from checked parts: targets in ``order`` (then by name), times spanning every part."""
    from auditor.pipeline_fleet import line_up

    position = {name: i for i, name in enumerate(order)}
    results: list[TargetResult] = [r for p in parts for r in p.results]
    results.sort(key=lambda r: (position.get(r.target.name, len(position)), r.target.name))
    # Each shard lined its own targets up; line the whole fleet up again (fleet matrix, skew).
    lined = line_up([(r.target.name, r.apps) for r in results if r.apps])
    results = [dataclasses.replace(r, apps=lined[r.target.name]) if r.target.name in lined else r for r in results]
    tools: dict[tuple[str, str, str], ToolInfo] = {}
    for p in parts:
        for t in p.tools:
            tools.setdefault((t.name, t.path, t.version), t)
    first = next((p for p in parts if p.results), parts[0])
    started = min((p.started for p in parts if p.started), default="")
    finished = max((p.finished for p in parts if p.finished), default="")
    return AuditReport(
        run_id=run_id,
        tool_version=first.tool_version,
        started=started,
        finished=finished,
        repo_url=first.repo_url,
        commit=first.commit,
        ref=first.ref,
        results=tuple(results),
        fail_on=first.fail_on,
        tools=tuple(tools.values()),
        config_path=first.config_path,
        config_sha256=first.config_sha256,
        audit_window=first.audit_window,
        ledger=union_ledgers([p.ledger for p in parts]),
        scope=first.scope,
    )


def _config_order(config: str | None) -> tuple[tuple[str, ...], bytes, str]:
    from auditor.config import find_config, load_config
    from auditor.wiring import run_scope

    path = find_config(config)
    if path is None:
        if config:
            raise UsageError(f"merge reports: config {config} not found")
        return (), b"", ""
    cfg = load_config(path)
    return tuple(t.name for t in cfg.targets), cfg.raw, run_scope(cfg, argparse.Namespace())


def handler(args: argparse.Namespace) -> int:
    """Merge, compare with the history in ``--out``, write every format; exit with the verdict."""
    from auditor import metrics
    from auditor.pipeline import credit_approvals, new_run_id
    from auditor.report.history import compare_with_previous, previous_run, write_run

    if args.keep < 1:
        raise UsageError("--keep must be at least 1")
    parts = load_parts([Path(p) for p in args.parts])
    check_parts(parts, max_age=args.max_age)
    order, raw, scope = _config_order(args.config)
    check_coverage(parts, order)
    merged = merge_reports(parts, run_id=new_run_id(), order=order)
    # Approvals of credited commits come from the whole run's ledger, not each shard's.
    merged = dataclasses.replace(merged, results=credit_approvals(merged.results, merged.ledger))
    if args.fail_on:
        merged = dataclasses.replace(merged, fail_on=Severity(args.fail_on))
    out = Path(args.out)
    # The merged run has the unsharded run's scope: it is compared with earlier whole runs.
    merged = dataclasses.replace(merged, scope=scope)
    merged = compare_with_previous(merged, previous_run(out, scope))
    # The config's bytes are the evidence only when they are the ones the shards hashed.
    config_bytes = raw if raw and merged.config_sha256 in ("", _sha(raw)) else b""
    paths = write_run(merged, out, keep=args.keep, config_bytes=config_bytes)
    metrics.emit(merged, args, success=not merged.partial)
    if args.quiet:
        print(paths.html)
    else:
        from auditor.report.terminal import summary

        print(summary(merged, color=False))
        print(f"Merged {len(parts)} parts ({len(merged.results)} targets): {paths.run_dir}")
    return merged.exit_code()


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
