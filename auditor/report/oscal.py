"""OSCAL 1.1 assessment results (``oscal.json``): one observation per finding, one OSCAL finding per control.

Controls come from a rule id → control ids mapping (the rule catalogue's controls of the rules
that ran, passed in by the caller: ``pipeline_catalog.evidenced_controls``), from ``controls`` on a
finding (``Finding.details["controls"]`` or a ``controls`` attribute), and only where neither names
any, from :data:`DEFAULT_CONTROLS` for the drift and change-control rules built into the product.
The same control spelled in another case is one control. A control id is ``framework:id``
(``nist-800-53:CM-3``, ``soc2:CC8.1``); OSCAL wants a token, so ``target-id`` is ``nist-800-53_CM-3``
and the original text is kept as a property.

For every control of a rule that ran, the OSCAL finding is ``not-satisfied`` when a counted
(not suppressed) finding of this run maps to it, else ``satisfied``; its ``related-observations``
name the observations behind it. UUIDs are version-5 UUIDs of the run id and the finding's
fingerprint, so the same run always gives the same document. Validated in tests against NIST's
published OSCAL 1.1.3 assessment-results JSON schema.
"""

from __future__ import annotations

import re
import uuid
from array import array
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from auditor.model import AuditReport, Category, Finding
from auditor.report._common import fingerprint, gc_paused, parse_time, remediation, rule_description
from auditor.report._text import Rows, Sink, write_pretty

OSCAL_VERSION = "1.1.3"
NS = "https://gitops-audit.io/ns/oscal"
_UUID_NS = uuid.UUID("6b1f6c5e-3a0e-5c8e-9a55-2f4f0f0c9e11")

_CHANGE = ("nist-800-53:cm-3", "soc2:cc8.1", "iso27001:a.8.32", "pci-dss:6.5.1", "pci-dss:6.5.4")
_DRIFT = ("nist-800-53:cm-2", "nist-800-53:cm-3", "nist-800-53:cm-6", "soc2:cc7.1", "soc2:cc8.1",
          "iso27001:a.8.9", "iso27001:a.8.32")
DEFAULT_CONTROLS: dict[str, tuple[str, ...]] = {
    "change-control.unapproved-commit": _CHANGE,
    "change-control.unowned-file": ("nist-800-53:cm-3", "nist-800-53:cm-5", "soc2:cc8.1", "iso27001:a.8.32"),
    "change-control.no-codeowners": ("nist-800-53:cm-3", "nist-800-53:cm-5", "soc2:cc8.1", "iso27001:a.8.32"),
    "change-control.unsigned-commit": ("nist-800-53:cm-14", "soc2:cc8.1"),
    "drift.modified": _DRIFT,
    "drift.added": _DRIFT,
    "drift.missing": _DRIFT,
    "drift.orphaned.stale": _DRIFT,
    "drift.orphaned.unmanaged": _DRIFT,
}
"""Controls of the product's own drift and change-control rules (the policy pack brings its own)."""

_TOKEN_BAD = re.compile(r"[^A-Za-z0-9._-]+")
_METHODS = {Category.DRIFT: "TEST", Category.POLICY: "EXAMINE", Category.CHANGE_CONTROL: "EXAMINE",
            Category.COVERAGE: "TEST"}


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_UUID_NS, "\0".join(parts)))


def control_token(control: str) -> str:
    """``soc2:cc8.1`` → ``soc2_cc8.1``: an XML NCName as OSCAL's ``target-id`` and ``control-id`` require."""
    token = _TOKEN_BAD.sub("_", control.strip().replace(":", "_")).strip("_") or "control"
    return token if re.match(r"[A-Za-z_]", token) else f"c_{token}"


def _time(text: str) -> str:
    dt = parse_time(text)
    if dt is None:
        return "1970-01-01T00:00:00Z"
    return dt.isoformat(timespec="seconds").replace("+00:00", "Z")


def _text(value: Any) -> str:
    """A non-empty string without leading/trailing whitespace (OSCAL's StringDatatype)."""
    text = " ".join(str(value).split())
    return text or "-"


def _controls_of(f: Finding, mapping: Mapping[str, Sequence[str]]) -> list[str]:
    """The finding's controls: the catalogue's (mapping, ``details.controls``), else the built-in defaults.

    The defaults only stand in when the catalogue says nothing about the rule: its ids are written
    in another case (``soc2:cc8.1`` vs the catalogue's ``soc2:CC8.1``) and may name other controls,
    so mixing them would list one control twice and claim controls the catalogue does not.
    """
    sources: list[Iterable[Any]] = [mapping.get(f.rule_id, ())]
    raw = f.details.get("controls") if isinstance(f.details, Mapping) else None
    if isinstance(raw, list | tuple):
        sources.append(raw)
    attr = getattr(f, "controls", None)
    if isinstance(attr, list | tuple):
        sources.append(attr)
    found = _unique(sources)
    return found or _unique([DEFAULT_CONTROLS.get(f.rule_id, ())])


def _unique(sources: Iterable[Iterable[Any]]) -> list[str]:
    """Control ids in first-seen order, one per id whatever its case (``SOC2:CC8.1`` = ``soc2:cc8.1``)."""
    found: list[str] = []
    seen: set[str] = set()
    for src in sources:
        for c in src:
            text = c if isinstance(c, str) else _control_from_mapping(c)
            if text and text.casefold() not in seen:
                seen.add(text.casefold())
                found.append(text)
    return found


def _control_from_mapping(value: Any) -> str:
    """``{framework: SOC2, id: CC8.1}`` → ``soc2:cc8.1`` (shapes a rule catalogue may use)."""
    if not isinstance(value, Mapping):
        return ""
    fw = str(value.get("framework") or value.get("standard") or "").strip()
    cid = str(value.get("id") or value.get("control") or "").strip()
    return f"{fw.lower()}:{cid.lower()}" if fw and cid else cid.lower()


def _prop(name: str, value: Any) -> dict[str, str] | None:
    text = " ".join(str(value).split())
    return {"name": name, "ns": NS, "value": text} if text else None


def _props(*pairs: tuple[str, Any]) -> list[dict[str, str]]:
    return [p for name, value in pairs if (p := _prop(name, value)) is not None]


def _observation_uuid(report: AuditReport, fp: str) -> str:
    return _uuid(report.run_id, "observation", fp)


def _observation(report: AuditReport, f: Finding, controls: Sequence[str], fp: str, obs_uuid: str) -> dict[str, Any]:
    subject = f.ref.subject if f.ref else "(repository)"
    git = f.credit.git
    live = f.credit.live
    props = _props(
        ("rule-id", f.rule_id), ("severity", f.severity.value), ("category", f.category.value),
        ("target", f.target), ("object", subject), ("path", f.path), ("fingerprint", fp),
        ("status", f.status.value), ("suppressed-by", f.suppressed_by),
        ("git-file", f"{git.path}:{git.line}" if git and git.line else git.path if git else ""),
        ("git-commit", git.commit.sha if git and git.commit else ""),
        ("git-author", f"{git.commit.author_name} <{git.commit.author_email}>" if git and git.commit else ""),
        ("live-manager", live.manager if live else ""), ("live-time", live.time if live else ""),
        ("first-seen", f.first_seen), ("last-seen", f.last_seen),
        *(("control", c) for c in controls),
    )
    obs: dict[str, Any] = {
        "uuid": obs_uuid,
        "title": _text(f"{f.rule_id} {subject}"),
        "description": _text(f.message),
        "props": props,
        "methods": [_METHODS.get(f.category, "TEST")],
        "types": ["finding"],
        "subjects": [{
            "subject-uuid": _uuid("subject", f.target, f.ref.group if f.ref else "", subject),
            "type": "resource",
            "title": _text(f"{f.target}: {subject}"),
        }],
        "relevant-evidence": [{
            "href": f"reports/report.json#{fp}",
            "description": _text(f"finding {fp} in report.json of run {report.run_id} (evidence.zip)"),
        }],
        "collected": _time(report.finished or report.started),
    }
    text = remediation(f)
    if text:
        obs["remarks"] = text
    return obs


@gc_paused
def to_dict(
    report: AuditReport, controls: Mapping[str, Sequence[str]] | None = None, *, lazy: bool = False
) -> dict[str, Any]:
    """The assessment-results document as a dict (``{"assessment-results": …}``).

    ``lazy`` makes the observations (one per finding, most of the document) as :class:`Rows`, each
    built only while :func:`write` writes it.
    """
    mapping = dict(controls or {})
    # (finding, its controls, its fingerprint, its observation's uuid)
    observed: list[tuple[Finding, tuple[str, ...], str, str]] = []
    # Control → positions in `observed`: a finding is named by several controls, and pairs per control were
    # ~32 MB at 60,000 findings; four bytes each here.
    by_control: dict[str, array[int]] = {}
    same_controls: dict[tuple[str, ...], tuple[str, ...]] = {}  # most findings of a rule name the same ones
    titles: dict[str, str] = {}
    # One OSCAL finding per control whatever its case: the catalogue's spelling (the mapping, then the
    # findings' own controls) wins over the built-in defaults', in any finding order.
    spelled: dict[str, str] = {}
    catalogued = [c if isinstance(c, str) else _control_from_mapping(c) for ids in mapping.values() for c in ids]
    catalogued += [c for f in report.findings if isinstance(f.details.get("controls"), list | tuple)
                   for c in _unique([f.details["controls"]])]
    for c in catalogued:
        if c:
            spelled.setdefault(c.casefold(), c)

    def key(control: str) -> str:
        return spelled.setdefault(control.casefold(), control)

    for n, f in enumerate(report.findings):
        ctl = tuple(key(c) for c in _controls_of(f, mapping))
        ctl = same_controls.setdefault(ctl, ctl)
        fp = fingerprint(f)
        observed.append((f, ctl, fp, _observation_uuid(report, fp)))
        for c in ctl:
            by_control.setdefault(c, array("I")).append(n)
            titles.setdefault(c, rule_description(f))
    # Controls of rules that ran without a finding: their objectives are satisfied by this run.
    for rule_controls in mapping.values():
        for c in rule_controls:
            text = c if isinstance(c, str) else _control_from_mapping(c)
            if text:
                by_control.setdefault(key(text), array("I"))
    def finding_of(c: str) -> dict[str, Any]:
        hits = by_control[c]
        failing = sum(1 for n in hits if observed[n][0].counts)
        state = "not-satisfied" if failing else "satisfied"
        entry: dict[str, Any] = {
            "uuid": _uuid(report.run_id, "finding", c),
            "title": _text(f"{c}: {failing} counted finding(s)"),
            "description": _text(
                f"{c} is {state.replace('-', ' ')} in run {report.run_id}: {failing} counted and "
                f"{len(hits) - failing} suppressed finding(s) of rules mapped to it"
            ),
            "props": _props(("control", c)),
            "target": {
                "type": "objective-id",
                "target-id": control_token(c),
                "title": _text(titles.get(c, c)),
                "status": {"state": state, "reason": "fail" if failing else "pass"},
            },
        }
        if hits:
            entry["related-observations"] = [{"observation-uuid": observed[n][3]} for n in hits]
        return entry

    # Lazy, like the observations: a control's list of related observations can name every finding.
    findings: Rows | list[dict[str, Any]] = (Rows(sorted(by_control), finding_of) if lazy
                                             else [finding_of(c) for c in sorted(by_control)])
    start, end = _time(report.started), _time(report.finished or report.started)
    plan = _uuid(report.run_id, "plan")
    result: dict[str, Any] = {
        "uuid": _uuid(report.run_id, "result"),
        "title": _text(f"gitops-audit run {report.run_id}"),
        "description": _text(
            f"Drift, policy and change-control audit of {len(report.results)} target(s) at commit "
            f"{report.commit or 'unknown'}; exit code {report.exit_code()}"
            + (" (partial: some targets were not audited)" if report.partial else "")
        ),
        "start": start,
        "end": end,
        "props": _props(("run-id", report.run_id), ("commit", report.commit), ("exit-code", report.exit_code()),
                        ("partial", str(report.partial).lower()), ("audit-window", report.audit_window),
                        ("signing-key-id", report.signing_key_id or "unsigned")),
        "reviewed-controls": {
            "control-selections": [
                {"include-controls": [{"control-id": control_token(c)} for c in sorted(by_control)]}
                if by_control else {"include-all": {}}
            ]
        },
    }
    if observed:
        result["observations"] = (Rows(observed, lambda row: _observation(report, *row)) if lazy
                                  else [_observation(report, *row) for row in observed])
    if findings:
        result["findings"] = findings
    return {
        "assessment-results": {
            "uuid": _uuid(report.run_id, "assessment-results"),
            "metadata": {
                "title": _text(f"gitops-audit assessment results, run {report.run_id}"),
                "last-modified": end,
                "version": _text(report.tool_version or "0"),
                "oscal-version": OSCAL_VERSION,
                "props": _props(("tool", "gitops-audit"), ("repository", report.repo_url), ("ref", report.ref)),
            },
            "import-ap": {"href": f"#{plan}"},
            "results": [result],
            "back-matter": {
                "resources": [{
                    "uuid": plan,
                    "title": "gitops-audit configuration (the assessment plan)",
                    "description": _text(
                        f"Config {report.config_path or '(ad-hoc)'} sha256 {report.config_sha256 or 'n/a'}; "
                        "the effective config is in the evidence bundle under state/config.json"
                    ),
                }]
            },
        }
    }


@gc_paused
def write(report: AuditReport, out: Sink, controls: Mapping[str, Sequence[str]] | None = None) -> None:
    """Append the OSCAL assessment results as JSON text (``json.dumps(indent=2)``'s), observation by observation."""
    write_pretty(to_dict(report, controls, lazy=True), out, indent_below=True)
    out.append("\n")


def render(report: AuditReport, controls: Mapping[str, Sequence[str]] | None = None) -> str:
    """The OSCAL assessment results as one string (deterministic, newline-terminated; see :func:`write`)."""
    out: list[str] = []
    write(report, out, controls)
    return "".join(out)
