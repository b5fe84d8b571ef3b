"""``gitops-audit report merge PART… --out DIR``: one report from the partial reports of a sharded run.

Each PART is a ``report.json``, a run directory holding one, or a reports directory (its ``latest``
run is used), e.g. the ``--out`` of each shard. The parts must come from one audit: the same
commit(s), repository, ref, config and tool version, and no target twice.

Shards record which part they are (index K of N, and how targets were assigned). A merge of parts of a
sharded run checks that they agree on N and on the assignment, refuses a shard given twice, and never
leaves a gap silently: a shard that is missing (failed, not run, or older than ``--max-age``) makes the
merged report partial (exit 3), with one not-audited entry per target the config expected and no part
holds (per missing shard when there is no config). ``--shards N`` says how many parts to expect (else
the parts say it), and ``--wait SECONDS`` polls the PART paths until every shard has a fresh part (an
Indexed Job's merge starts with the shards and ends as soon as the last finishes), or the time is up.

The merged report is what an unsharded run over the same targets gives, apart from its run id and
timings: targets in config order (``--config``/``$GITOPS_AUDIT_CONFIG``, else sorted by name),
findings new/persisting against the history in ``--out``, written with every format, the history
index and the ``latest`` pointer. Exit code: the merged report's (0, 1, 3), 2 for unusable parts.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditor.errors import ReportError, UsageError
from auditor.model import AuditReport, Severity, Target, TargetResult, ToolInfo
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
        "(its latest run). A missing shard makes the merged run partial. "
        "Exit: 0 clean, 1 findings at/above --fail-on, 2 unusable parts, 3 partial audit.",
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
                   help="a part that finished more than SECONDS ago is from an earlier run: its shard counts "
                   "as missing (default: no limit)")
    p.add_argument("--shards", type=int, metavar="N", help="how many shards the run has (default: as the parts say)")
    p.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                   help="wait up to SECONDS for every shard's part to appear (polls the PART paths)")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the report path")
    metrics.add_arguments(p)
    p.set_defaults(func=handler)


def resolve_part(path: Path) -> Path:
    """The report.json a PART names (file, run directory, or reports directory → latest run)."""
    from auditor.report.history import report_file

    file = report_file(path)
    if file is not None:
        return file
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


def stale(part: AuditReport, max_age: float, now: datetime | None = None) -> bool:
    """True when ``part`` finished more than ``max_age`` seconds ago (an earlier run's part)."""
    if max_age <= 0:
        return False
    finished = _epoch(part.finished)
    return finished is None or (now or datetime.now(UTC)).timestamp() - finished > max_age


def fresh_parts(parts: Sequence[AuditReport], *, max_age: float = 0,
                now: datetime | None = None) -> tuple[list[AuditReport], list[str]]:
    """Parts of this run, and a warning per part of an earlier run dropped (its shard is then missing).

    Parts that do not say which shard they are cannot be replaced by a gap: an old one is refused.
    """
    kept: list[AuditReport] = []
    dropped: list[str] = []
    for p in parts:
        if not stale(p, max_age, now):
            kept.append(p)
            continue
        when = p.finished or "an unknown time"
        if p.shard is None:
            raise UsageError(f"merge reports: part {p.run_id} finished at {when}, more than {max_age:g}s ago "
                             "(did that shard fail?)")
        dropped.append(f"shard {p.shard.index} of {p.shard.count}: its newest part ({p.run_id}) finished at "
                       f"{when}, more than {max_age:g}s ago: counted as missing")
    return kept, dropped


def check_parts(parts: Sequence[AuditReport], *, max_age: float = 0, now: datetime | None = None,
                shards: int | None = None) -> None:
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
    _check_shards(parts, shards)
    seen: dict[str, str] = {}
    for p in parts:
        for r in p.results:
            if r.target.name in seen:
                raise UsageError(f"merge reports: target {r.target.name} is in two parts "
                                 f"({seen[r.target.name]} and {p.run_id})")
            seen[r.target.name] = p.run_id
    if max_age > 0:
        for p in parts:
            if stale(p, max_age, now):
                raise UsageError(f"merge reports: part {p.run_id} finished at {p.finished or 'an unknown time'}, "
                                 f"more than {max_age:g}s ago (did that shard fail?)")


def _check_shards(parts: Sequence[AuditReport], shards: int | None) -> None:
    """Parts of a sharded run agree on the shard count and the assignment, and none is given twice."""
    marked = [p for p in parts if p.shard is not None]
    if not marked:
        return
    if len(marked) != len(parts):
        raise UsageError("merge reports: some parts are shards of a run and some are not")
    counts = {p.shard.count for p in marked if p.shard is not None} | ({shards} if shards else set())
    if len(counts) > 1:
        raise UsageError(f"merge reports: the parts are shards of runs of different sizes: "
                         f"{', '.join(str(c) for c in sorted(counts))} shards")
    bases = {p.shard.basis for p in marked if p.shard is not None}
    if len(bases) > 1:
        raise UsageError("merge reports: the shards assigned targets differently (" + ", ".join(sorted(bases))
                         + "): a target may be in two parts or in none; give every shard the same --shard-costs")
    seen: dict[int, str] = {}
    for p in marked:
        assert p.shard is not None
        if p.shard.index in seen:
            raise UsageError(f"merge reports: shard {p.shard.index} of {p.shard.count} is given twice "
                             f"({seen[p.shard.index]} and {p.run_id})")
        seen[p.shard.index] = p.run_id


def missing_shards(parts: Sequence[AuditReport], shards: int | None = None) -> tuple[int, list[int]]:
    """(N, indexes 0..N-1 that no part holds); (0, []) when the parts are not shards and N is not given."""
    count = shards or next((p.shard.count for p in parts if p.shard is not None), 0)
    present = {p.shard.index for p in parts if p.shard is not None}
    return count, [k for k in range(count) if k not in present]


def gap_results(parts: Sequence[AuditReport], expected: Sequence[str], count: int,
                missing: Sequence[int]) -> list[TargetResult]:
    """Not-audited results for what no part holds: the config's targets, else one per missing shard."""
    present = {r.target.name for p in parts for r in p.results}
    which = ", ".join(str(k) for k in missing)
    why = (f"in no part of the sharded run: shard {which} of {count} is missing (failed, not run, or older "
           "than --max-age)" if missing else "in no part of the sharded run (is a shard missing?)")
    absent = [name for name in expected if name not in present]
    if absent:
        return [TargetResult(target=Target(name=name), audited=False, skip_reason=why) for name in absent]
    return [TargetResult(target=Target(name=f"shard {k} of {count}"), audited=False,
                         skip_reason=f"shard {k} of {count} is missing (failed, not run, or older than --max-age): "
                         "its targets were not audited") for k in missing]


def check_coverage(parts: Sequence[AuditReport], expected: Sequence[str]) -> list[str]:
    """The config's targets that no part holds (each becomes a not-audited result of the merged run)."""
    present = {r.target.name for p in parts for r in p.results}
    return [name for name in expected if name not in present]


def merge_reports(
    parts: Sequence[AuditReport], *, run_id: str, order: Sequence[str] = (),
    gaps: Sequence[TargetResult] = (),
) -> AuditReport:
    """One report from checked parts: targets in ``order`` (then by name), times spanning every part.

    ``gaps`` (targets no part holds) join the results, so a missing shard leaves the run partial.
    """
    from auditor.pipeline_fleet import line_up

    position = {name: i for i, name in enumerate(order)}
    results: list[TargetResult] = [r for p in parts for r in p.results] + list(gaps)
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


def wait_for_parts(paths: Sequence[Path], *, max_age: float, shards: int | None, wait: float,
                   poll: float = 2.0) -> list[AuditReport]:
    """Poll ``paths`` until every shard has a fresh part, or ``wait`` seconds have passed; the parts found.

    A path without a report yet is skipped (its shard has not finished); what is still missing at the
    deadline is the merge's business (a partial run).
    """
    deadline = time.monotonic() + wait
    while True:
        parts = []
        for path in paths:
            try:
                parts.extend(load_parts([path]))
            except UsageError:
                continue  # nothing there yet
        try:
            fresh, _ = fresh_parts(parts, max_age=max_age)
        except UsageError:
            fresh = []  # an old part that is not a shard: refused after the wait
        count, missing = missing_shards(fresh, shards)
        if fresh and count and not missing:
            return parts
        if time.monotonic() >= deadline:
            return parts
        time.sleep(min(poll, max(0.0, deadline - time.monotonic())))


def handler(args: argparse.Namespace) -> int:
    """Merge, compare with the history in ``--out``, write every format; exit with the verdict."""
    from auditor import metrics
    from auditor.pipeline import credit_approvals, new_run_id
    from auditor.pipeline_catalog import evidenced_controls
    from auditor.report.history import compare_with_previous, previous_run, write_run

    if args.keep < 1:
        raise UsageError("--keep must be at least 1")
    if args.shards is not None and args.shards < 1:
        raise UsageError("--shards must be at least 1")
    paths = [Path(p) for p in args.parts]
    if args.wait > 0:
        parts = wait_for_parts(paths, max_age=args.max_age, shards=args.shards, wait=args.wait)
    else:
        parts = load_parts(paths)
    parts, dropped = fresh_parts(parts, max_age=args.max_age)
    if not parts:
        raise UsageError("merge reports: no part of this run was found" + (f" ({dropped[0]})" if dropped else ""))
    check_parts(parts, shards=args.shards)
    order, raw, scope = _config_order(args.config)
    count, missing = missing_shards(parts, args.shards)
    gaps = gap_results(parts, order, count, missing) if missing or check_coverage(parts, order) else []
    for line in dropped:
        print(f"warning: merge reports: {line}", file=sys.stderr)
    if missing:
        print(f"warning: merge reports: shard(s) {', '.join(map(str, missing))} of {count} missing: "
              f"{len(gaps)} target(s) not audited, the merged run is partial", file=sys.stderr)
    merged = merge_reports(parts, run_id=new_run_id(), order=order, gaps=gaps)
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
    written = write_run(merged, out, keep=args.keep, config_bytes=config_bytes, controls=evidenced_controls(merged))
    metrics.emit(merged, args, success=not merged.partial)
    if args.quiet:
        print(written.html)
    else:
        from auditor.report.terminal import summary

        print(summary(merged, color=False))
        print(f"Merged {len(parts)} parts ({len(merged.results)} targets): {written.run_dir}")
    return merged.exit_code()


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
