"""JSON report: everything in the AuditReport, with ``schema_version``; ``load`` reads it back.

The JSON file is the machine-readable record of a run: the previous-run comparison and shard
merging read it back with :func:`load`, so every field of the model round-trips. Secret values
are masked on the way out (masking is idempotent, so the round trip stays exact).
Schema: ``auditor/report/schema/report.schema.json`` (draft 2020-12).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from auditor.catalog.load import data_rules, frameworks
from auditor.catalog.scoring import frameworks_json
from auditor.errors import ReportError
from auditor.model import (
    AppObject,
    Approval,
    AuditReport,
    Category,
    CommitInfo,
    Credit,
    DriftKind,
    FieldChange,
    FileProvenance,
    Finding,
    FindingStatus,
    FleetField,
    InventoryItem,
    LedgerEntry,
    ListRecord,
    LiveProvenance,
    ObjectDrift,
    ObjectRef,
    Provenance,
    RuleCheck,
    Severity,
    ShardInfo,
    Target,
    TargetResult,
    ToolInfo,
)
from auditor.report import _shape
from auditor.report._common import (
    controls,
    duration_seconds,
    fingerprint,
    gc_paused,
    image_rows,
    mask_for,
    masked,
    totals,
)
from auditor.report._text import Rows, Sink, write_pretty

SCHEMA_VERSION = 1
"""Bumped on any incompatible change of the JSON layout; :func:`load` refuses newer versions."""


def schema_text() -> str:
    """The shipped JSON Schema of the report, as text."""
    return resources.files("auditor.report").joinpath("schema/report.schema.json").read_text("utf-8")


# --------------------------------------------------------------------------- dump


def _commit(c: CommitInfo | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "sha": c.sha,
        "author_name": c.author_name,
        "author_email": c.author_email,
        "author_date": c.author_date,
        "committer_name": c.committer_name,
        "committer_email": c.committer_email,
        "commit_date": c.commit_date,
        "subject": c.subject,
        "signed": c.signed,
        "trailers": [[k, v] for k, v in c.trailers],
        "parents": c.parents,
    }


def _live(lp: LiveProvenance | None) -> dict[str, Any] | None:
    if lp is None:
        return None
    return {"manager": lp.manager, "operation": lp.operation, "time": lp.time}


def _file(f: FileProvenance) -> dict[str, Any]:
    return {"path": f.path, "role": f.role, "commit": _commit(f.commit), "line": f.line, "owners": list(f.owners),
            **({"repo": f.repo} if f.repo else {})}


def _provenance(p: Provenance) -> dict[str, Any]:
    return {"files": [_file(f) for f in p.files], "live": [_live(lp) for lp in p.live]}


def _credit(c: Credit) -> dict[str, Any]:
    return {"git": _file(c.git) if c.git is not None else None, "live": _live(c.live), "approval": c.approval}


def _approval(a: Approval) -> dict[str, Any]:
    return {"approver": a.approver, "source": a.source, "reference": a.reference, "time": a.time,
            "code_owner": a.code_owner}


def ledger_dict(e: LedgerEntry) -> dict[str, Any]:
    """One change-ledger entry as a JSON-ready dict."""
    return {
        "commit": _commit(e.commit),
        "files": list(e.files),
        "targets": list(e.targets),
        "owners": {f: list(o) for f, o in e.owners},
        "codeowners_rules": {f: r for f, r in e.codeowners_rules},
        "pull_request": e.pull_request,
        "approvals": [_approval(a) for a in e.approvals],
        "independent_approval": e.independent_approval,
        "verdict": e.verdict,
        "approval_source": e.approval_source,
        "lookup_error": e.lookup_error,
    }


def _inventory(i: InventoryItem) -> dict[str, Any]:
    # Commits by sha only: the full records are in the report-level ``commits`` table (an object of a
    # large fleet has many files, and a fleet has few commits).
    return {
        "object": i.ref.as_dict(),
        "drift": i.drift,
        "files": [
            {"path": f.path, "role": f.role, "line": f.line, "commit": f.commit.sha if f.commit else None,
             "owners": list(f.owners), **({"repo": f.repo} if f.repo else {})}
            for f in i.files
        ],
    }


def _ref(ref: ObjectRef | None) -> dict[str, str] | None:
    return ref.as_dict() if ref is not None else None


def finding_dict(f: Finding) -> dict[str, Any]:
    """One finding as a JSON-ready dict (secrets masked, fingerprint and subject included)."""
    expected, actual = masked(f)
    return {
        "fingerprint": fingerprint(f),
        "target": f.target,
        "category": f.category.value,
        "rule_id": f.rule_id,
        "severity": f.severity.value,
        "message": f.message,
        "object": _ref(f.ref),
        "subject": f.ref.subject if f.ref else "",
        "path": f.path,
        "expected": expected,
        "actual": actual,
        "provenance": _provenance(f.provenance),
        "owners": list(f.owners),
        "suppressed_by": f.suppressed_by,
        "status": f.status.value,
        "first_seen": f.first_seen,
        "last_seen": f.last_seen,
        "credit": _credit(f.credit),
        # The controls are top-level (once): details.controls would repeat them in every finding.
        "details": {k: v for k, v in f.details.items() if k != "controls"},
        "controls": controls(f),
    }


def _change(c: FieldChange, ref: ObjectRef) -> dict[str, Any]:
    return {
        "path": c.path,
        "expected": mask_for(ref, c.path, c.expected),
        "actual": mask_for(ref, c.path, c.actual),
        "kind": c.kind.value,
        "live": _live(c.live),
        "suppressed_by": c.suppressed_by,
    }


def _drift(d: ObjectDrift) -> dict[str, Any]:
    return {
        "object": d.ref.as_dict(),
        "kind": d.kind.value,
        "changes": [_change(c, d.ref) for c in d.changes],
        "note": d.note,
    }


def _target(t: Target) -> dict[str, Any]:
    return {
        "name": t.name,
        "env": t.env,
        "region": t.region,
        "path": t.path,
        "context": t.context,
        "snapshot": t.snapshot,
        "repo": t.repo,
        "ref": t.ref,
        "namespace": t.namespace,
        "labels": [[k, v] for k, v in t.labels],
    }


def _result(r: TargetResult) -> dict[str, Any]:
    findings = sorted(r.findings, key=Finding.sort_key)
    return {
        "target": _target(r.target),
        "audited": r.audited,
        "skip_reason": r.skip_reason,
        "partial": r.partial,
        "not_audited": list(r.not_audited),
        # Only when set: a complete target's entry (and the golden files) stay as they were.
        **({"incomplete": list(r.incomplete)} if r.incomplete else {}),
        "commit": r.commit,
        "desired_count": r.desired_count,
        "live_count": r.live_count,
        "live_source": r.live_source,
        "identity": r.identity,
        "reads": [
            {
                "source": x.source,
                "resource": x.resource,
                "namespace": x.namespace,
                "resource_version": x.resource_version,
                "time": x.time,
                "count": x.count,
            }
            for x in r.reads
        ],
        "timings": {k: float(v) for k, v in r.timings.items()},
        "totals": totals(r.findings).as_dict(),
        "images": [list(row) for row in image_rows(r)],
        "apps": [
            {"object": a.ref.as_dict(), "app": a.app, "key": a.key, "state": a.state.value, "chart": a.chart,
             "version": a.version}
            for a in r.apps
        ],
        "drift": [_drift(d) for d in r.drift],
        "findings": [finding_dict(f) for f in findings],
        "checks": [{"rule_id": c.rule_id, "evaluated": c.evaluated, "controls": list(c.controls)} for c in r.checks],
        "inventory": [_inventory(i) for i in r.inventory],
    }


def frameworks_section(report: AuditReport) -> dict[str, Any]:
    """The per-framework view (auditor.catalog.scoring): controls, checks passed and failed, scores."""
    categories = {rule_id: info.category for rule_id, info in data_rules().items()}
    return frameworks_json(report.results, frameworks()[0], categories)


def to_dict(report: AuditReport, *, lazy_targets: bool = False) -> dict[str, Any]:
    """The whole report as a JSON-ready dict (``lazy_targets``: targets made while :func:`render` writes them)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": report.run_id,
        "tool": "gitops-audit",
        "tool_version": report.tool_version,
        "started": report.started,
        "finished": report.finished,
        "duration_seconds": duration_seconds(report),
        "repo_url": report.repo_url,
        "commit": report.commit,
        "ref": report.ref,
        "fail_on": report.fail_on.value,
        "config_path": report.config_path,
        "config_sha256": report.config_sha256,
        "previous_run_id": report.previous_run_id,
        "audit_window": report.audit_window,
        "partial": report.partial,
        "exit_code": report.exit_code(),
        "tools": [{"name": t.name, "path": t.path, "version": t.version} for t in report.tools],
        "totals": totals(report.findings).as_dict(),
        "scope": report.scope,
        "signing_key_id": report.signing_key_id,
        "targets": Rows(report.results, _result) if lazy_targets else [_result(r) for r in report.results],
        "resolved": [finding_dict(f) for f in sorted(report.resolved, key=Finding.sort_key)],
        **({"shard": {"index": report.shard.index, "count": report.shard.count, "basis": report.shard.basis}}
           if report.shard is not None else {}),
        "fleet_fields": [
            {"key": f.key, "path": f.path, "values": [[t, _masked_field(f.key, f.path, v)] for t, v in f.values]}
            for f in report.fleet_fields
        ],
        "frameworks": frameworks_section(report),
        "ledger": [ledger_dict(e) for e in report.ledger],
        "commits": _commit_table(report),
    }


def _masked_field(key: str, path: str, value: Any) -> Any:
    """A fleet field value as it may be written (Secret payloads never, whatever the pipeline kept)."""
    kind = key.partition("/")[0]
    return mask_for(ObjectRef("", kind, "", ""), path, value)


def _commit_table(report: AuditReport) -> dict[str, Any]:
    """Every commit the inventories name, by sha."""
    table: dict[str, Any] = {}
    for r in report.results:
        for item in r.inventory:
            for f in item.files:
                if f.commit is not None and f.commit.sha not in table:
                    table[f.commit.sha] = _commit(f.commit)
    return dict(sorted(table.items()))


@gc_paused
def write(report: AuditReport, out: Sink) -> None:
    """Append the report as pretty-printed JSON text (deterministic, newline-terminated), target by target."""
    write_pretty(to_dict(report, lazy_targets=True), out)
    out.append("\n")


def render(report: AuditReport) -> str:
    """The report as one string (see :func:`write`)."""
    out: list[str] = []
    write(report, out)
    return "".join(out)


# --------------------------------------------------------------------------- load


def _load_commit(d: Mapping[str, Any] | None) -> CommitInfo | None:
    if d is None:
        return None
    return CommitInfo(
        sha=d["sha"],
        author_name=d.get("author_name", ""),
        author_email=d.get("author_email", ""),
        author_date=d.get("author_date", ""),
        committer_name=d.get("committer_name", ""),
        committer_email=d.get("committer_email", ""),
        commit_date=d.get("commit_date", ""),
        subject=d.get("subject", ""),
        signed=d.get("signed", False),
        trailers=tuple((str(k), str(v)) for k, v in d.get("trailers", [])),
        parents=int(d.get("parents", 1)),
    )


def _load_live(d: Mapping[str, Any] | None) -> LiveProvenance | None:
    if d is None:
        return None
    return LiveProvenance(manager=d["manager"], operation=d.get("operation", ""), time=d.get("time", ""))


def _load_file(f: Mapping[str, Any], commits: Mapping[str, CommitInfo] | None = None) -> FileProvenance:
    raw = f.get("commit")
    commit = (commits or {}).get(raw) if isinstance(raw, str) else _load_commit(raw)
    return FileProvenance(
        path=f["path"], role=f.get("role", "resource"), commit=commit, line=f.get("line"),
        owners=tuple(f.get("owners", ())), repo=str(f.get("repo", "")),
    )


def _load_credit(d: Mapping[str, Any] | None) -> Credit:
    if not d:
        return Credit()
    git = d.get("git")
    return Credit(git=_load_file(git) if git else None, live=_load_live(d.get("live")),
                  approval=str(d.get("approval", "")))


def _load_approval(d: Mapping[str, Any]) -> Approval:
    return Approval(str(d["approver"]), str(d["source"]), str(d.get("reference", "")), str(d.get("time", "")),
                    str(d.get("code_owner", "")))


def _load_ledger(d: Mapping[str, Any]) -> LedgerEntry:
    commit = _load_commit(d["commit"])
    assert commit is not None
    return LedgerEntry(
        commit=commit,
        files=tuple(d.get("files", ())),
        targets=tuple(d.get("targets", ())),
        owners=tuple((str(f), tuple(o)) for f, o in (d.get("owners") or {}).items()),
        codeowners_rules=tuple((str(f), str(r)) for f, r in (d.get("codeowners_rules") or {}).items()),
        pull_request=str(d.get("pull_request", "")),
        approvals=tuple(_load_approval(a) for a in d.get("approvals", ())),
        independent_approval=bool(d.get("independent_approval", False)),
        verdict=str(d.get("verdict", "")),
        approval_source=str(d.get("approval_source", "")),
        lookup_error=str(d.get("lookup_error", "")),
    )


def _load_provenance(d: Mapping[str, Any] | None) -> Provenance:
    if not d:
        return Provenance()
    files = tuple(_load_file(f) for f in d.get("files", ()))
    live = tuple(x for x in (_load_live(lp) for lp in d.get("live", ())) if x is not None)
    return Provenance(files=files, live=live)


def _load_ref(d: Mapping[str, Any] | None) -> ObjectRef | None:
    if d is None:
        return None
    return ObjectRef(d["group"], d["kind"], d["namespace"], d["name"])


def _load_details(d: Mapping[str, Any]) -> dict[str, Any]:
    details = dict(d.get("details") or {})
    if d.get("controls"):
        ids = d["controls"]
        # details are free-form (not shape-checked): the top-level controls list is checked here
        if not isinstance(ids, list) or not all(isinstance(x, str) for x in ids):
            raise TypeError(f"controls: expected a list of strings, got {type(ids).__name__}")
        details["controls"] = list(ids)
    return details


def load_finding(d: Mapping[str, Any]) -> Finding:
    """A finding from its JSON dict."""
    return Finding(
        target=d["target"],
        category=Category(d["category"]),
        rule_id=d["rule_id"],
        severity=Severity(d["severity"]),
        message=d["message"],
        ref=_load_ref(d.get("object")),
        path=d.get("path", ""),
        expected=d.get("expected"),
        actual=d.get("actual"),
        provenance=_load_provenance(d.get("provenance")),
        owners=tuple(d.get("owners", ())),
        suppressed_by=d.get("suppressed_by", ""),
        status=FindingStatus(d.get("status", "new")),
        details=_load_details(d),
        credit=_load_credit(d.get("credit")),
        first_seen=str(d.get("first_seen", "")),
        last_seen=str(d.get("last_seen", "")),
    )


def _load_drift(d: Mapping[str, Any]) -> ObjectDrift:
    ref = _load_ref(d["object"])
    assert ref is not None
    return ObjectDrift(
        ref=ref,
        kind=DriftKind(d["kind"]),
        changes=tuple(
            FieldChange(
                path=c["path"],
                expected=c.get("expected"),
                actual=c.get("actual"),
                kind=DriftKind(c.get("kind", "modified")),
                live=_load_live(c.get("live")),
                suppressed_by=c.get("suppressed_by", ""),
            )
            for c in d.get("changes", ())
        ),
        note=d.get("note", ""),
    )


def _load_target(d: Mapping[str, Any]) -> Target:
    return Target(
        name=d["name"],
        env=d.get("env", ""),
        region=d.get("region", ""),
        path=d.get("path", ""),
        context=d.get("context", ""),
        snapshot=d.get("snapshot", ""),
        repo=d.get("repo", ""),
        ref=d.get("ref", ""),
        namespace=d.get("namespace", "default"),
        labels=tuple((str(k), str(v)) for k, v in d.get("labels", ())),
    )


def _load_inventory(d: Mapping[str, Any], commits: Mapping[str, CommitInfo]) -> InventoryItem:
    ref = _load_ref(d["object"])
    assert ref is not None
    return InventoryItem(ref, str(d.get("drift", "")), tuple(_load_file(f, commits) for f in d.get("files", ())))


def _load_result(d: Mapping[str, Any], commits: Mapping[str, CommitInfo] | None = None) -> TargetResult:
    extra: dict[str, Any] = {}
    if "images" in _RESULT_FIELDS:
        extra["images"] = tuple(tuple(str(x) for x in row) for row in d.get("images", ()))
    return TargetResult(
        **extra,
        target=_load_target(d["target"]),
        audited=d["audited"],  # never bool(): "false" is truthy; the shape check refuses a non-boolean
        skip_reason=d.get("skip_reason", ""),
        incomplete=tuple(str(x) for x in d.get("incomplete", ())),
        commit=d.get("commit", ""),
        findings=tuple(load_finding(f) for f in d.get("findings", ())),
        drift=tuple(_load_drift(x) for x in d.get("drift", ())),
        desired_count=int(d.get("desired_count", 0)),
        live_count=int(d.get("live_count", 0)),
        live_source=d.get("live_source", ""),
        identity=d.get("identity", ""),
        reads=tuple(
            ListRecord(
                source=x["source"],
                resource=x["resource"],
                namespace=x.get("namespace", ""),
                resource_version=x.get("resource_version", ""),
                time=x.get("time", ""),
                count=int(x.get("count", 0)),
            )
            for x in d.get("reads", ())
        ),
        timings={str(k): float(v) for k, v in (d.get("timings") or {}).items()},
        checks=tuple(
            RuleCheck(str(c["rule_id"]), int(c.get("evaluated", 0)), tuple(str(x) for x in c.get("controls", ())))
            for c in d.get("checks", ())
        ),
        not_audited=tuple(str(x) for x in d.get("not_audited", ())),
        apps=tuple(_load_app(a) for a in d.get("apps", ())),
        inventory=tuple(_load_inventory(i, commits or {}) for i in d.get("inventory", ())),
    )


def _load_app(d: Mapping[str, Any]) -> AppObject:
    ref = _load_ref(d["object"])
    assert ref is not None
    return AppObject(ref=ref, app=str(d.get("app", "")), key=str(d.get("key", "")),
                     state=DriftKind(d.get("state", "in-sync")), chart=str(d.get("chart", "")),
                     version=str(d.get("version", "")))


_RESULT_FIELDS = frozenset(f.name for f in dataclasses.fields(TargetResult))


def from_dict(d: Mapping[str, Any]) -> AuditReport:
    """An AuditReport from the dict form produced by :func:`to_dict`."""
    version = d.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION or version < 1:
        raise ReportError(f"load report: unsupported schema_version {version!r} (this tool reads 1)")
    commits = {str(sha): c for sha, raw in (d.get("commits") or {}).items() if (c := _load_commit(raw))}
    return AuditReport(
        run_id=d["run_id"],
        tool_version=d.get("tool_version", ""),
        started=d.get("started", ""),
        finished=d.get("finished", ""),
        repo_url=d.get("repo_url", ""),
        commit=d.get("commit", ""),
        ref=d.get("ref", ""),
        results=tuple(_load_result(r, commits) for r in d.get("targets", ())),
        fail_on=Severity(d.get("fail_on", "high")),
        tools=tuple(ToolInfo(t["name"], t.get("path", ""), t.get("version", "")) for t in d.get("tools", ())),
        config_path=d.get("config_path", ""),
        config_sha256=d.get("config_sha256", ""),
        previous_run_id=d.get("previous_run_id", ""),
        audit_window=d.get("audit_window", ""),
        resolved=tuple(load_finding(f) for f in d.get("resolved", ())),
        shard=_load_shard(d.get("shard")),
        fleet_fields=tuple(
            FleetField(key=str(f["key"]), path=str(f["path"]), values=tuple((str(t), v) for t, v in f["values"]))
            for f in d.get("fleet_fields", ())
        ),
        ledger=tuple(_load_ledger(e) for e in d.get("ledger", ())),
        scope=str(d.get("scope", "")),
        signing_key_id=str(d.get("signing_key_id", "")),
    )


def _load_shard(d: Any) -> ShardInfo | None:
    """The part of a sharded run a report says it is (absent for whole runs)."""
    if d is None:
        return None
    if not isinstance(d, Mapping):
        raise ReportError(f"load report: malformed shard: expected an object, got {type(d).__name__}")
    try:
        return ShardInfo(index=int(d["index"]), count=int(d["count"]), basis=str(d.get("basis", "name")))
    except (KeyError, TypeError, ValueError):
        raise ReportError(f"load report: malformed shard {d!r}") from None


@gc_paused
def load(text: str | bytes) -> AuditReport:
    """Parse a JSON report written by :func:`render`. Raises :class:`ReportError` when malformed."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ReportError(f"load report: invalid JSON: {exc}") from None
    except RecursionError:  # a crafted part given to `report merge`
        raise ReportError("load report: nested too deeply to be a report") from None
    if not isinstance(data, dict):
        raise ReportError("load report: expected a JSON object")
    try:
        report = from_dict(data)
        _shape.check(report)  # a value of the wrong type would crash a formatter or a merge later
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ReportError(f"load report: malformed report: {type(exc).__name__}: {exc}") from None
    return report
