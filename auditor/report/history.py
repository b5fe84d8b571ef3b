"""Report history: run directories, ``latest``, the index, retention, comparison with the previous run.

Runs are compared by finding fingerprint.

Layout written by :func:`write_run`::

    reports/
      index.html                 runs with totals and a trend chart
      latest                     symlink to the newest run dir (or a file holding its run id)
      <run-id>/
        report.html report.json findings.csv junit.xml report.sarif evidence.zip summary.json

A run directory is staged under a hidden temporary name and renamed into place, so readers
never see a half-written run; ``latest`` and ``index.html`` are replaced atomically afterwards.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from auditor.errors import ReportError
from auditor.model import AuditReport, Finding, FindingStatus
from auditor.report import bundle, html_report, json_report
from auditor.report._common import fingerprint, gc_paused, parse_time, totals
from auditor.report.formats import BUNDLE, FILES, bundle_members, write_reports
from auditor.report.signing import SigningKey
from auditor.util.fs import atomic_write

log = logging.getLogger(__name__)

RUN_ID_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$")
"""Run ids are used as directory names: no separators, no leading dot."""
LATEST = "latest"
INDEX = "index.html"
SUMMARY = "summary.json"


@dataclass(frozen=True)
class RunSummary:
    """The small per-run record the history index and trend chart are built from."""

    run_id: str
    started: str
    commit: str
    by_severity: tuple[tuple[str, int], ...]
    """Counted findings per severity, worst first."""
    by_category: tuple[tuple[str, int], ...]
    counted: int
    suppressed: int
    partial: bool
    exit_code: int
    targets: int = 0
    not_audited: int = 0
    new: int = 0
    resolved: int = 0
    scope: str = ""
    """Scope of the run (config + selected targets): trends and comparisons stay within one scope."""

    @classmethod
    def from_report(cls, report: AuditReport) -> RunSummary:
        """Summarise a report."""
        findings = [f for r in report.results for f in r.findings]  # order does not matter here
        t = totals(findings)
        return cls(
            run_id=report.run_id,
            started=report.started,
            commit=report.commit,
            by_severity=t.by_severity,
            by_category=t.by_category,
            counted=t.counted,
            suppressed=t.suppressed,
            partial=report.partial,
            exit_code=report.exit_code(),
            targets=len(report.results),
            not_audited=sum(1 for r in report.results if not r.audited),
            new=sum(1 for f in findings if f.counts and f.status is FindingStatus.NEW)
            if report.previous_run_id
            else 0,
            resolved=len(report.resolved),
            scope=report.scope,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON form (``summary.json``)."""
        d = dataclasses.asdict(self)
        d["by_severity"] = dict(self.by_severity)
        d["by_category"] = dict(self.by_category)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSummary:
        """Inverse of :meth:`as_dict`."""
        return cls(
            run_id=str(d["run_id"]),
            started=str(d.get("started", "")),
            commit=str(d.get("commit", "")),
            by_severity=tuple((str(k), int(v)) for k, v in dict(d.get("by_severity", {})).items()),
            by_category=tuple((str(k), int(v)) for k, v in dict(d.get("by_category", {})).items()),
            counted=int(d.get("counted", 0)),
            suppressed=int(d.get("suppressed", 0)),
            partial=bool(d.get("partial", False)),
            exit_code=int(d.get("exit_code", 0)),
            targets=int(d.get("targets", 0)),
            not_audited=int(d.get("not_audited", 0)),
            new=int(d.get("new", 0)),
            resolved=int(d.get("resolved", 0)),
            scope=str(d.get("scope", "")),
        )


@dataclass(frozen=True)
class RunPaths:
    """Where :func:`write_run` put each file of a run."""

    run_dir: Path
    html: Path
    json: Path
    csv: Path
    junit: Path
    sarif: Path
    bundle: Path
    summary: Path
    index: Path
    latest: Path
    key_id: str = ""
    """Key id that signed the evidence bundle; empty when it is unsigned."""


def _check_run_id(run_id: str) -> None:
    if not RUN_ID_RE.match(run_id):
        raise ReportError(f"write report: unsafe run id {run_id!r}")


def run_dirs(out_dir: Path) -> list[Path]:
    """Run directories under ``out_dir``, oldest first (run ids sort by time).

    A run directory holds its report or summary (runs are renamed into place complete). Other
    directories beside the runs are not runs: an Indexed Job keeps ``shards/`` and ``metrics/`` in the
    merged reports directory, and their names sort after every run id, so they were taken for the
    newest run (``--shard-costs /reports`` on the first night, the history index, ``--keep``).
    """
    if not out_dir.is_dir():
        return []
    dirs = [
        p
        for p in out_dir.iterdir()
        if p.name != LATEST and RUN_ID_RE.match(p.name) and p.is_dir() and not p.is_symlink()
        and ((p / FILES["json"]).is_file() or (p / SUMMARY).is_file())
    ]
    return sorted(dirs, key=lambda p: p.name)


def report_file(path: Path) -> Path | None:
    """The report.json ``path`` names: the file itself, a run directory's, or a reports directory's latest run's."""
    if path.is_file():
        return path
    if (path / FILES["json"]).is_file():
        return path / FILES["json"]
    run_id = latest_run_id(path) if path.is_dir() else None
    if run_id and (path / run_id / FILES["json"]).is_file():
        return path / run_id / FILES["json"]
    return None


def latest_run_id(out_dir: Path) -> str | None:
    """The run id ``reports/latest`` points at (symlink or pointer file); else the newest run dir."""
    link = out_dir / LATEST
    run_id: str | None = None
    try:
        if link.is_symlink():
            run_id = Path(os.readlink(link)).name
        elif link.is_file():
            run_id = link.read_text("utf-8").strip()
    except OSError:
        run_id = None
    if run_id and RUN_ID_RE.match(run_id) and (out_dir / run_id).is_dir():
        return run_id
    dirs = run_dirs(out_dir)
    return dirs[-1].name if dirs else None


def previous_run(out_dir: Path, scope: str = "") -> AuditReport | None:
    """The newest earlier run of the same ``scope`` (any run ``latest`` points at when no scope is given).

    Runs of another scope (an ad-hoc single-target run written into the same directory) are never
    compared with: their findings would show up as resolved, and their absence as new. Unreadable
    history is logged and only loses the comparison.
    """
    out_dir = Path(out_dir)
    if scope:
        candidates = [s.run_id for s in load_summaries(out_dir) if s.scope == scope]
        run_id = candidates[-1] if candidates else None
    else:
        run_id = latest_run_id(out_dir)
    if run_id is None:
        return None
    path = out_dir / run_id / FILES["json"]
    try:
        return json_report.load(path.read_bytes())
    except (OSError, ReportError) as exc:
        # A damaged previous run must not stop tonight's audit; it only loses the comparison.
        log.warning("read previous report %s: %s", path, exc)
        return None


def _utc_z(text: str) -> str:
    dt = parse_time(text)
    if dt is None:
        return text
    # Keep the precision runs are stamped with (milliseconds), so first_seen equals that run's start.
    spec = "milliseconds" if dt.microsecond else "seconds"
    return dt.astimezone(UTC).isoformat(timespec=spec).replace("+00:00", "Z")


@gc_paused
def compare_with_previous(report: AuditReport, previous: AuditReport | None) -> AuditReport:
    """Mark each finding new/persisting by fingerprint, date it (first/last seen), list resolved findings.

    ``first_seen`` carries over from the previous run's finding (its run time when older reports
    lack it); ``last_seen`` is this run's start. A previous finding only counts as resolved when its
    target was audited this time: a target that could not be read proves nothing. The caller passes
    a previous run of the same scope (:func:`previous_run`).
    """
    now = _utc_z(report.started)
    if previous is None:
        results = tuple(
            dataclasses.replace(
                r,
                findings=tuple(
                    dataclasses.replace(f, status=FindingStatus.NEW, first_seen=now, last_seen=now)
                    for f in r.findings
                ),
            )
            for r in report.results
        )
        return dataclasses.replace(report, results=results, resolved=(), previous_run_id="")
    then = _utc_z(previous.started)
    before = {fingerprint(f): f for r in previous.results for f in r.findings}

    def dated(f: Finding) -> Finding:
        old = before.get(fingerprint(f))
        if old is None:
            return dataclasses.replace(f, status=FindingStatus.NEW, first_seen=now, last_seen=now)
        return dataclasses.replace(f, status=FindingStatus.PERSISTING, first_seen=old.first_seen or then,
                                   last_seen=now)

    results = tuple(dataclasses.replace(r, findings=tuple(dated(f) for f in r.findings)) for r in report.results)
    current = {fingerprint(f) for r in results for f in r.findings}
    audited = {r.target.name for r in report.results if r.audited}
    resolved = tuple(
        dataclasses.replace(f, first_seen=f.first_seen or then, last_seen=f.last_seen or then)
        for f in previous.findings
        if fingerprint(f) not in current and f.target in audited
    )
    return dataclasses.replace(report, results=results, resolved=resolved, previous_run_id=previous.run_id)


def load_summaries(out_dir: Path) -> list[RunSummary]:
    """Summaries of every run in ``out_dir``, oldest first (runs without a readable summary skipped)."""
    out: list[RunSummary] = []
    for d in run_dirs(Path(out_dir)):
        try:
            out.append(RunSummary.from_dict(json.loads((d / SUMMARY).read_text("utf-8"))))
            continue
        except (OSError, ValueError, KeyError, TypeError):
            pass
        try:
            out.append(RunSummary.from_report(json_report.load((d / FILES["json"]).read_bytes())))
        except (OSError, ReportError):
            log.warning("skip run %s in history: no readable summary or report", d.name)
    return out


def _set_latest(out_dir: Path, run_id: str) -> Path:
    link = out_dir / LATEST
    if link.is_dir() and not link.is_symlink():
        raise ReportError(f"write report: {link} is a directory; remove it so it can point at the latest run")
    tmp = out_dir / f".{LATEST}.{os.getpid()}.tmp"
    try:
        tmp.unlink(missing_ok=True)
        os.symlink(run_id, tmp, target_is_directory=True)
        os.replace(tmp, link)
    except (OSError, NotImplementedError):
        # No symlink support (some Windows setups, some volume types): a pointer file does the job.
        tmp.unlink(missing_ok=True)
        os.chmod(atomic_write(link, run_id + "\n"), 0o644)
    return link


STALE_STAGING_SECONDS = 24 * 3600
"""Staging directories left by a crashed run are removed once they are this old."""


def _remove_stale_staging(out_dir: Path) -> None:
    now = time.time()
    for p in out_dir.iterdir():
        # Only our own staging names (".<run-id>.<random>"), never other hidden entries.
        if p.name.startswith(".") and p.is_dir() and not p.is_symlink():
            parts = p.name[1:].split(".")
            if len(parts) >= 2 and RUN_ID_RE.match(parts[0]):
                try:
                    old = now - p.stat().st_mtime > STALE_STAGING_SECONDS
                except OSError:
                    continue
                if old:
                    shutil.rmtree(p, ignore_errors=True)


def _apply_retention(out_dir: Path, keep: int, current: str) -> list[str]:
    _remove_stale_staging(out_dir)
    if keep <= 0:
        return []
    dirs = run_dirs(out_dir)
    doomed = [d for d in dirs[: max(0, len(dirs) - keep)] if d.name != current]
    removed = []
    for d in doomed:
        # Only remove what looks like one of our runs, never an arbitrary directory.
        if (d / FILES["json"]).exists() or (d / SUMMARY).exists():
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d.name)
    return removed


def write_index(out_dir: Path) -> Path:
    """(Re)write ``reports/index.html`` from the run summaries."""
    summaries = load_summaries(out_dir)
    latest = latest_run_id(out_dir) or ""
    scope = next((s.scope for s in summaries if s.run_id == latest), "")
    # The trend follows the latest run's scope: an ad-hoc run of one target is listed, not charted.
    trend_runs = [s for s in summaries if s.scope == scope]
    page = html_report.render_index(summaries, latest=latest, trend_runs=trend_runs)
    path = atomic_write(Path(out_dir) / INDEX, page)
    os.chmod(path, 0o644)
    return path


@gc_paused
def write_run(
    report: AuditReport,
    out_dir: Path,
    *,
    keep: int = 30,
    config_bytes: bytes = b"",
    state: Mapping[str, bundle.Source] | None = None,
    signing_key: SigningKey | None = None,
    controls: Mapping[str, Sequence[str]] | None = None,
) -> RunPaths:
    """Write every format of ``report`` into ``out_dir/<run-id>/`` and update the history.

    The evidence bundle holds the reports and ``state`` (name → bytes or file, the run's evidence
    spool) and is signed with ``signing_key`` when one is given. Points ``latest`` at the run,
    rewrites the index and drops runs beyond the newest ``keep`` (0 keeps all).
    """
    out_dir = Path(out_dir)
    _check_run_id(report.run_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    config_sha = hashlib.sha256(config_bytes).hexdigest() if config_bytes else report.config_sha256
    if config_sha != report.config_sha256:
        # The bytes the run actually read are the authority for the evidence manifest.
        report = dataclasses.replace(report, config_sha256=config_sha)
    key_id = signing_key.key_id if signing_key is not None else ""
    if report.signing_key_id != key_id:
        report = dataclasses.replace(report, signing_key_id=key_id)
    # Trends and the HTML history compare like with like: runs of the same scope only.
    history = [s for s in load_summaries(out_dir) if s.run_id != report.run_id and s.scope == report.scope]
    summary = RunSummary.from_report(report)
    run_dir = out_dir / report.run_id
    stage = Path(tempfile.mkdtemp(prefix=f".{report.run_id}.", dir=out_dir))
    try:
        files = write_reports(report, stage, history, controls=controls, shown=run_dir)
        members = bundle_members(files, state)
        summary_text = json.dumps(summary.as_dict(), indent=2, sort_keys=True) + "\n"
        try:
            os.chmod(atomic_write(stage / SUMMARY, summary_text.encode()), 0o644)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(run_dir / SUMMARY)) from None
        try:
            with open(stage / BUNDLE, "wb") as fh:  # streamed: the state members can be large
                bundle.build_to(fh, report, members, config_sha256=config_sha, key=signing_key)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(run_dir / BUNDLE)) from None
        os.chmod(stage / BUNDLE, 0o644)
        # mkdtemp makes the directory 0700; a run directory is meant to be read by the report server.
        os.chmod(stage, 0o755)  # noqa: S103
        if run_dir.exists():
            shutil.rmtree(run_dir)
        os.replace(stage, run_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    latest = _set_latest(out_dir, report.run_id)
    _apply_retention(out_dir, keep, report.run_id)
    index = write_index(out_dir)
    return RunPaths(
        run_dir=run_dir,
        html=run_dir / FILES["html"],
        json=run_dir / FILES["json"],
        csv=run_dir / FILES["csv"],
        junit=run_dir / FILES["junit"],
        sarif=run_dir / FILES["sarif"],
        bundle=run_dir / BUNDLE,
        summary=run_dir / SUMMARY,
        index=index,
        latest=latest,
        key_id=key_id,
    )
