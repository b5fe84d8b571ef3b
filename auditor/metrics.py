"""Prometheus metrics of a run: text exposition format for node-exporter's textfile collector or a Pushgateway.

Series (all gauges):

- ``gitops_audit_last_success_timestamp_seconds``: when the last successful run finished (only written
  by a successful run; a failed run carries the previous value forward, see :func:`render_textfile`);
- ``gitops_audit_run_duration_seconds``: wall time of this run;
- ``gitops_audit_target_up{target,env,region}``: 1 when the target was audited, 0 when it was skipped;
- ``gitops_audit_findings{target,env,region,category,severity}``: counted (not suppressed) findings, every
  category and severity pair of every audited target, zeros included, so alerts see 0 rather than nothing;
- ``gitops_audit_objects{target,env,region,source}``: desired (rendered) and live objects per audited target.

Alert on staleness with ``time() - gitops_audit_last_success_timestamp_seconds > 26 * 3600``.
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from auditor.errors import ReportError
from auditor.model import AuditReport, Category, Severity
from auditor.util.fs import atomic_write

log = logging.getLogger("gitops_audit")

PREFIX = "gitops_audit_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@dataclass(frozen=True)
class Family:
    """One metric family: name, help text and samples ``(labels, value)``."""

    name: str
    help: str
    samples: tuple[tuple[tuple[tuple[str, str], ...], float], ...]
    type: str = "gauge"


def _escape_label(value: str) -> str:
    # Exposition format: backslash, double quote and line feed are the only escapes in label values.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def format_families(families: Iterable[Family]) -> str:
    """Families in the text exposition format (HELP, TYPE, samples), newline-terminated."""
    lines: list[str] = []
    for fam in families:
        lines.append(f"# HELP {fam.name} {_escape_help(fam.help)}")
        lines.append(f"# TYPE {fam.name} {fam.type}")
        for labels, value in fam.samples:
            if labels:
                inner = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels)
                lines.append(f"{fam.name}{{{inner}}} {_number(value)}")
            else:
                lines.append(f"{fam.name} {_number(value)}")
    return "\n".join(lines) + "\n"


def _epoch(text: str) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def families(report: AuditReport, *, success: bool, last_success: float | None = None) -> list[Family]:
    """The metric families of ``report`` (see the module docstring)."""
    out: list[Family] = []
    finished = _epoch(report.finished)
    started = _epoch(report.started)
    stamp = finished if success else last_success
    if stamp is not None:
        out.append(
            Family(
                PREFIX + "last_success_timestamp_seconds",
                "Unix time at which the last successful gitops-audit run finished.",
                (((), stamp),),
            )
        )
    duration = (finished - started) if finished is not None and started is not None else 0.0
    out.append(Family(PREFIX + "run_duration_seconds", "Wall time of the last gitops-audit run.", (((), duration),)))
    up: list[tuple[tuple[tuple[str, str], ...], float]] = []
    findings: list[tuple[tuple[tuple[str, str], ...], float]] = []
    objects: list[tuple[tuple[tuple[str, str], ...], float]] = []
    for result in report.results:
        name = result.target.name
        # env and region on every per-target series, so alerts and dashboards can aggregate by them.
        where = (("target", name), ("env", result.target.env), ("region", result.target.region))
        up.append((where, 1.0 if result.audited else 0.0))
        if not result.audited:
            continue  # counts of a skipped target would read as "clean"; target_up says why they are absent
        counts: dict[tuple[str, str], int] = {}
        for f in result.findings:
            if f.counts:
                key = (f.category.value, f.severity.value)
                counts[key] = counts.get(key, 0) + 1
        for cat in Category:
            for sev in Severity:
                labels = (*where, ("category", cat.value), ("severity", sev.value))
                findings.append((labels, float(counts.get((cat.value, sev.value), 0))))
        objects.append(((*where, ("source", "desired")), float(result.desired_count)))
        objects.append(((*where, ("source", "live")), float(result.live_count)))
    out.append(Family(PREFIX + "target_up", "1 when the target was audited in the last run, 0 when skipped.",
                      tuple(up)))
    out.append(Family(PREFIX + "findings", "Counted (not suppressed) findings of the last run.", tuple(findings)))
    out.append(Family(PREFIX + "objects", "Objects in the last run: desired (rendered from git) and live.",
                      tuple(objects)))
    return out


def render_textfile(report: AuditReport, *, success: bool, last_success: float | None = None) -> str:
    """Metrics of ``report`` in the Prometheus text format.

    ``success`` says whether the run counts as successful (the CLI's choice: an audit that completed,
    findings or not). The success timestamp is written only on success; a failed run writes
    ``last_success`` instead when given (:func:`read_last_success` of the previous file), so the
    textfile collector keeps exposing when the last good run was rather than nothing.
    """
    return format_families(families(report, success=success, last_success=last_success))


def read_last_success(path: str | Path) -> float | None:
    """The success timestamp of a metrics file written earlier; ``None`` when absent or unreadable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return None
    m = re.search(rf"^{PREFIX}last_success_timestamp_seconds\s+(\S+)\s*$", text, re.MULTILINE)
    if not m:
        return None
    try:
        return float(m.group(1))
    except ValueError:
        return None


def write_textfile(path: str | Path, text: str) -> Path:
    """Write the metrics file atomically (the collector never reads half a file); world-readable."""
    target = atomic_write(path, text)
    target.chmod(0o644)
    return target


def _job_path(job: str, grouping: Sequence[tuple[str, str]]) -> str:
    """``/metrics/job/<job>[/<label>/<value>…]``; values with ``/`` use the ``@base64`` form."""
    parts = ["metrics"]
    for name, value in (("job", job), *grouping):
        if not LABEL_NAME.match(name):
            raise ReportError(f"push metrics: invalid grouping label name {name!r}")
        if "/" in value or not value:
            encoded = base64.urlsafe_b64encode(value.encode()).decode() or "="
            parts += [f"{name}@base64", encoded]
        else:
            parts += [name, urllib.parse.quote(value, safe="")]
    return "/" + "/".join(parts)


def _redacted(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def push(
    url: str,
    text: str,
    job: str = "gitops-audit",
    *,
    replace: bool = True,
    grouping: Sequence[tuple[str, str]] = (),
    timeout: float = 10.0,
) -> None:
    """Send ``text`` to a Pushgateway at ``url`` as group ``job`` (plus ``grouping`` labels).

    ``replace`` (PUT) replaces every metric of the group: right after a successful run, so targets
    that left the config disappear. With ``replace=False`` (POST) only the pushed metric names are
    replaced: a failed run pushes without the success timestamp and must not erase the one the
    gateway holds. Credentials may be given as ``https://user:pass@host``; they become a Basic
    Authorization header and never appear in errors. Raises :class:`ReportError` (one line).
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ReportError(f"push metrics {_redacted(url)}: not an http(s) URL")
    base = _redacted(url).rstrip("/")
    target = base + _job_path(job, grouping)
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        target, data=text.encode("utf-8"), method="PUT" if replace else "POST"
    )
    request.add_header("Content-Type", CONTENT_TYPE)
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked above
            response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read(200).decode("utf-8", "replace").strip().splitlines()
        detail = f": {body[0][:200]}" if body else ""
        raise ReportError(f"push metrics {target}: HTTP {exc.code} {exc.reason}{detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ReportError(f"push metrics {target}: {reason}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--metrics-file``, ``--pushgateway`` and ``--pushgateway-job`` (for ``run`` and ``report merge``)."""
    group = parser.add_argument_group("metrics")
    group.add_argument("--metrics-file", metavar="PATH",
                       help="write Prometheus metrics here (node-exporter textfile collector), atomically")
    group.add_argument("--pushgateway", metavar="URL", default=os.environ.get("GITOPS_AUDIT_PUSHGATEWAY", ""),
                       help="push metrics to this Prometheus Pushgateway (default: $GITOPS_AUDIT_PUSHGATEWAY)")
    group.add_argument("--pushgateway-job", metavar="NAME", default="gitops-audit",
                       help="Pushgateway job name (default: gitops-audit)")


def emit(report: AuditReport, args: argparse.Namespace, *, success: bool) -> None:
    """Write and/or push the metrics the flags of :func:`add_arguments` ask for.

    A failed push is logged as a warning and does not change the exit code: the audit itself is done
    and its reports are written; the stale success timestamp will alert.
    """
    path = getattr(args, "metrics_file", None)
    url = getattr(args, "pushgateway", "") or ""
    if path:
        previous = None if success else read_last_success(path)
        write_textfile(path, render_textfile(report, success=success, last_success=previous))
    if url:
        try:
            push(url, render_textfile(report, success=success), getattr(args, "pushgateway_job", "gitops-audit"),
                 replace=success)
        except ReportError as exc:
            log.warning("%s", exc)
