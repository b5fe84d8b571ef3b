"""JUnit XML: one testsuite per target, for CI systems that display test results.

Mapping: a finding at or above the run's ``fail_on`` is a *failure*; a finding below it is a
passing testcase; a suppressed (waived/ignored) finding is *skipped*; a target that could not
be audited is one *error* testcase. A clean audited target gets one passing ``audit`` testcase so
every suite has at least one case.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

from auditor.model import AuditReport, Finding, Severity, TargetResult
from auditor.report._common import clean_text, duration_seconds, fingerprint, gc_paused, masked, show, utc_z
from auditor.report._text import Sink


def _case_name(f: Finding) -> str:
    subject = f.ref.subject if f.ref else "(repository)"
    return f"{f.rule_id} {subject}" + (f" {f.path}" if f.path else "")


def _text(f: Finding) -> str:
    expected, actual = masked(f)
    lines = [f.message]
    if f.path:
        lines.append(f"path: {f.path}")
    if expected is not None or actual is not None:
        lines.append(f"expected: {show(expected) if expected is not None else '(absent)'}")
        lines.append(f"actual: {show(actual) if actual is not None else '(absent)'}")
    git, live = f.credit.git, f.credit.live
    if git is not None:
        where = git.path + (f":{git.line}" if git.line else "")
        lines.append(f"git: {where}")
        if git.commit is not None:
            c = git.commit
            lines.append(f"git commit: {c.sha} {c.author_name} <{c.author_email}> {utc_z(c.author_date)} {c.subject}")
        if git.owners:
            lines.append("git owners: " + ", ".join(git.owners))
    if f.credit.approval:
        lines.append(f"approval: {f.credit.approval}")
    if live is not None:
        lines.append(f"live: {live.manager}" + (f" {live.operation}" if live.operation else "")
                     + (f" at {utc_z(live.time)}" if live.time else ""))
    prim = f.provenance.primary
    if prim is not None and (git is None or prim.path != git.path):
        lines.append(f"object source: {prim.path}" + (f":{prim.line}" if prim.line else ""))
    if f.owners:
        lines.append("owners: " + ", ".join(f.owners))
    lines.append(f"fingerprint: {fingerprint(f)}")
    return "\n".join(lines)


def _el(parent: ET.Element, tag: str, attrs: Mapping[str, str]) -> ET.Element:
    return ET.SubElement(parent, tag, {k: clean_text(v) for k, v in attrs.items()})


def _suite(report: AuditReport, r: TargetResult, threshold: Severity) -> tuple[ET.Element, tuple[int, int, int, int]]:
    """One target's ``testsuite`` element and its (tests, failures, errors, skipped)."""
    name = clean_text(r.target.name)
    suite = ET.Element("testsuite", {k: clean_text(v) for k, v in {
        "name": name, "timestamp": report.started, "hostname": r.live_source or r.target.live_source}.items()})
    props = ET.SubElement(suite, "properties")
    for key, value in (
        ("env", r.target.env),
        ("region", r.target.region),
        ("context", r.target.context),
        ("path", r.target.path),
        ("commit", r.commit or report.commit),
        ("run_id", report.run_id),
    ):
        _el(props, "property", {"name": key, "value": value})
    if not r.audited:
        case = _el(suite, "testcase", {"name": "audit", "classname": f"{name}.audit"})
        err = _el(case, "error", {"message": f"not audited: {r.skip_reason}", "type": "NotAudited"})
        err.text = clean_text(r.skip_reason)
    for f in sorted(r.findings, key=Finding.sort_key):
        attrs = {"name": _case_name(f), "classname": f"{name}.{f.category.value}"}
        if _file(f):
            attrs["file"] = _file(f)
        case = _el(suite, "testcase", attrs)
        if not f.counts:
            _el(case, "skipped", {"message": f"suppressed by {f.suppressed_by}"})
        elif f.severity.at_least(threshold):
            fail = _el(case, "failure", {"message": f.message, "type": f"{f.severity.value}"})
            fail.text = clean_text(_text(f))
        else:
            out = ET.SubElement(case, "system-out")
            out.text = clean_text(f"[{f.severity.value}] " + _text(f))
    if r.audited and not r.findings:
        _el(suite, "testcase", {"name": "audit", "classname": f"{name}.audit"})
    counts = _counts(r, threshold)
    for k, v in zip(("tests", "failures", "errors", "skipped"), counts, strict=True):
        suite.set(k, str(v))
    # Seconds spent on this target (render, live read, checks), as CI dashboards expect.
    suite.set("time", f"{sum(float(x) for x in r.timings.values()):.3f}")
    return suite, counts


def _counts(r: TargetResult, threshold: Severity) -> tuple[int, int, int, int]:
    """(tests, failures, errors, skipped) of one target.

    One case per finding, and one ``audit`` case when the target is clean or was not audited (an error).
    """
    failures = sum(1 for f in r.findings if f.counts and f.severity.at_least(threshold))
    skipped = sum(1 for f in r.findings if not f.counts)
    if not r.audited:
        return 1 + len(r.findings), failures, 1, skipped
    return len(r.findings) or 1, failures, 0, skipped


@gc_paused
def write(report: AuditReport, out: Sink, fail_on: Severity | None = None) -> None:
    """Append the JUnit XML text, one testsuite (target) made at a time.

    The same text as indenting and serializing the whole tree (a test pins it): the root's totals
    are counted first, then each suite is indented at its depth and written on its own.
    """
    threshold = fail_on or report.fail_on
    totals = [0, 0, 0, 0]
    for r in report.results:
        for i, n in enumerate(_counts(r, threshold)):
            totals[i] += n
    root = ET.Element("testsuites", {"name": f"gitops-audit {report.run_id}"})
    for k, v in zip(("tests", "failures", "errors", "skipped"), totals, strict=True):
        root.set(k, str(v))
    root.set("time", f"{duration_seconds(report) or 0.0:.3f}")
    out.append('<?xml version="1.0" encoding="UTF-8"?>\n')
    if not report.results:
        out.append(ET.tostring(root, encoding="unicode") + "\n")
        return
    root.text = _MARK
    head = ET.tostring(root, encoding="unicode")
    out.append(head[: head.index(_MARK)])
    for r in report.results:
        suite, _ = _suite(report, r, threshold)
        ET.indent(suite, level=1)
        out.append("\n  " + ET.tostring(suite, encoding="unicode"))
    out.append("\n</testsuites>\n")


_MARK = "gitops-audit-suites"
"""Stands for the suites while the root's start tag is serialized (only letters: nothing escapes it)."""


def render(report: AuditReport, fail_on: Severity | None = None) -> str:
    """The JUnit XML text as one string (see :func:`write`)."""
    out: list[str] = []
    write(report, out, fail_on)
    return "".join(out)


def _file(f: Finding) -> str:
    prim = f.provenance.primary
    return prim.path if prim else ""
