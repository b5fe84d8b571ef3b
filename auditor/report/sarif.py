"""SARIF 2.1.0 for code scanning: one run per target, rules with help, results located in git.

Each target is its own ``run`` so ``automationDetails.id`` (``gitops-audit/<target>/<run-id>``)
keeps targets apart in code-scanning UIs that group alerts by category. Results point at the
repository-relative source file (and line) that produced the object; findings without a
source file point at the target's overlay ``kustomization.yaml``. ``partialFingerprints``
carries the finding fingerprint so alerts are tracked across runs. Suppressed findings are
emitted with a SARIF ``suppressions`` entry rather than dropped.
"""

from __future__ import annotations

import re
from typing import Any

from auditor.model import AuditReport, Finding, Severity, TargetResult
from auditor.report._common import (
    controls,
    fingerprint,
    gc_paused,
    masked,
    remediation,
    rule_description,
    show,
    utc_z,
)
from auditor.report._text import Rows, Sink, write_pretty

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
FINGERPRINT_KEY = "gitopsAudit/v1"

_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# GitHub code scanning reads ``security-severity`` (0.0-10.0) to label alerts.
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}


def _location(f: Finding, r: TargetResult) -> dict[str, Any]:
    # The credited line (the overlay line that set a drifted value) before the object's origin file.
    prim = f.credit.git if f.credit.git is not None and f.credit.git.path else f.provenance.primary
    if prim is not None and prim.path:
        uri, line = prim.path, prim.line or 1
    else:
        base = r.target.path.strip("/")
        uri, line = (f"{base}/kustomization.yaml" if base else "kustomization.yaml"), 1
    loc: dict[str, Any] = {
        "physicalLocation": {
            "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": line},
        }
    }
    if f.ref is not None:
        loc["logicalLocations"] = [
            {"name": f.ref.name, "fullyQualifiedName": f.ref.subject, "kind": "resource"}
        ]
    return loc


def _credit(f: Finding) -> dict[str, Any]:
    """The finding's credit as result properties: git side and cluster side in separate keys."""
    out: dict[str, Any] = {}
    git, live = f.credit.git, f.credit.live
    if git is not None:
        out["gitFile"] = git.path
        if git.line:
            out["gitLine"] = git.line
        if git.commit is not None:
            out["gitCommit"] = git.commit.sha
            out["gitAuthor"] = f"{git.commit.author_name} <{git.commit.author_email}>"
            out["gitDate"] = utc_z(git.commit.author_date)
        if git.owners:
            out["gitOwners"] = list(git.owners)
    if f.credit.approval:
        out["approval"] = f.credit.approval
    if live is not None:
        out["liveManager"] = live.manager
        if live.operation:
            out["liveOperation"] = live.operation
        if live.time:
            out["liveTime"] = utc_z(live.time)
    if f.first_seen:
        out["firstSeen"] = f.first_seen
    if f.last_seen:
        out["lastSeen"] = f.last_seen
    return out


def _rule_name(rule_id: str) -> str:
    """PascalCase name from a rule id (``drift.orphaned.stale`` → ``DriftOrphanedStale``)."""
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[^0-9A-Za-z]+", rule_id) if p) or "Rule"


def _rule(f: Finding) -> dict[str, Any]:
    desc = rule_description(f)
    help_text = remediation(f) or desc
    rule: dict[str, Any] = {
        "id": f.rule_id,
        "name": _rule_name(f.rule_id),
        "shortDescription": {"text": desc},
        "fullDescription": {"text": f"{desc} ({f.category.value})"},
        "help": {"text": help_text, "markdown": help_text},
        "defaultConfiguration": {"level": _LEVEL[f.severity]},
        "properties": {
            "category": f.category.value,
            "tags": [f.category.value, "kubernetes", "gitops"],
            "security-severity": _SECURITY_SEVERITY[f.severity],
        },
    }
    ids = controls(f)
    if ids:
        # Code-scanning UIs filter by tag: each control is a tag too (``soc2:CC8.1``).
        rule["properties"]["controls"] = ids
        rule["properties"]["tags"] += ids
    return rule


def _message(f: Finding) -> str:
    parts = [f.message]
    if f.ref is not None:
        parts.append(f"Object: {f.ref.subject}")
    if f.path:
        parts.append(f"Field: {f.path}")
    expected, actual = masked(f)
    if expected is not None or actual is not None:
        parts.append(f"Expected: {show(expected)}; actual: {show(actual)}")
    return "\n".join(parts)


def _run(report: AuditReport, r: TargetResult) -> dict[str, Any]:
    findings = sorted(r.findings, key=Finding.sort_key)
    rules: dict[str, dict[str, Any]] = {}
    for f in findings:
        # First (worst, by sort order) occurrence defines the rule's default level.
        rules.setdefault(f.rule_id, _rule(f))
    index = {rid: i for i, rid in enumerate(rules)}
    results = []
    for f in findings:
        res: dict[str, Any] = {
            "ruleId": f.rule_id,
            "ruleIndex": index[f.rule_id],
            "level": _LEVEL[f.severity],
            "message": {"text": _message(f)},
            "locations": [_location(f, r)],
            "partialFingerprints": {FINGERPRINT_KEY: fingerprint(f)},
            "baselineState": "unchanged" if f.status.value == "persisting" else "new",
            "properties": {
                "severity": f.severity.value,
                "category": f.category.value,
                "target": r.target.name,
                "security-severity": _SECURITY_SEVERITY[f.severity],
            },
        }
        if not report.previous_run_id:
            del res["baselineState"]
        if f.owners:
            res["properties"]["owners"] = list(f.owners)
        res["properties"].update(_credit(f))
        if f.suppressed_by:
            res["suppressions"] = [{"kind": "external", "justification": f.suppressed_by}]
        results.append(res)
    invocation: dict[str, Any] = {"executionSuccessful": r.audited}
    if report.started:
        invocation["startTimeUtc"] = report.started
    if report.finished:
        invocation["endTimeUtc"] = report.finished
    if not r.audited:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": f"target not audited: {r.skip_reason}"}}
        ]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "gitops-audit",
                "version": report.tool_version,
                "semanticVersion": report.tool_version,
                "rules": list(rules.values()),
            }
        },
        "automationDetails": {"id": f"gitops-audit/{r.target.name}/{report.run_id}"},
        "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "root of the audited git repository"}}},
        "invocations": [invocation],
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": {
            "target": r.target.name,
            "env": r.target.env,
            "region": r.target.region,
            "commit": r.commit or report.commit,
        },
    }
    commit = r.commit or report.commit
    # repositoryUri must be an absolute URI; a local checkout path is not one.
    if "://" in report.repo_url and commit:
        run["versionControlProvenance"] = [
            {"repositoryUri": report.repo_url, "revisionId": commit, "mappedTo": {"uriBaseId": "%SRCROOT%"}}
        ]
        if report.ref:
            run["versionControlProvenance"][0]["branch"] = report.ref
    return run


@gc_paused
def write(report: AuditReport, out: Sink) -> None:
    """Append the SARIF log as JSON text, one run (target) made at a time."""
    log = {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": Rows(report.results, lambda r: _run(report, r)),
    }
    write_pretty(log, out)
    out.append("\n")


def render(report: AuditReport) -> str:
    """The SARIF log as one string (see :func:`write`)."""
    out: list[str] = []
    write(report, out)
    return "".join(out)
