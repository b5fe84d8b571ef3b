"""Helpers shared by the report formatters: secret masking, target lookup, totals, plain values."""

from __future__ import annotations

import functools
import gc
import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from auditor.model import AuditReport, Category, Finding, ObjectRef, Severity, Target, TargetResult
from auditor.util.secrets import HASH_PREFIX, MASK
from auditor.util.text import visible, xml_safe

P = ParamSpec("P")
R = TypeVar("R")


def gc_paused(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` with the cyclic garbage collector paused.

    Rendering 50,000 findings allocates millions of small acyclic dicts and lists; each
    allocation burst triggers full collections that walk every live object, which cost ~40%
    of the render time. Nothing built here forms reference cycles, so pausing is safe; the
    previous state is restored even on error.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()

    return wrapper


SEVERITIES: tuple[Severity, ...] = (
    Severity.CRITICAL,
    Severity.HIGH,
    Severity.MEDIUM,
    Severity.LOW,
    Severity.INFO,
)
CATEGORIES: tuple[Category, ...] = tuple(Category)

# Secret payload fields. A value under these paths is never shown, whatever the diff stage did:
# masking here is a second line of defence, not the primary one.
_SECRET_PATH = re.compile(r"^(data|stringData)([.\[]|$)")


def _is_secret_kind(ref: ObjectRef | None) -> bool:
    return ref is not None and ref.group == "" and ref.kind == "Secret"


def _mask_tree(value: Any) -> Any:
    """Mask hashed secret values anywhere in a value tree; mask whole ``data``/``stringData`` maps."""
    if isinstance(value, str):
        return MASK if value.startswith(HASH_PREFIX) else value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k in ("data", "stringData") and isinstance(v, Mapping):
                out[str(k)] = {str(name): MASK for name in v}
            else:
                out[str(k)] = _mask_tree(v)
        return out
    if isinstance(value, list | tuple):
        return [_mask_tree(v) for v in value]
    return value


def mask_for(ref: ObjectRef | None, path: str, value: Any) -> Any:
    """A desired/live value at ``path`` of object ``ref`` as it may be shown: secret payloads → ``***``.

    ``None`` stays ``None`` (it means "absent", which is not secret).
    """
    if value is None:
        return None
    if _is_secret_kind(ref) and _SECRET_PATH.match(path):
        return MASK
    return _mask_tree(value)


def mask_value(finding: Finding, value: Any) -> Any:
    """``finding.expected``/``actual`` as it may be shown (see :func:`mask_for`)."""
    return mask_for(finding.ref, finding.path, value)


def masked(finding: Finding) -> tuple[Any, Any]:
    """(expected, actual) with secrets masked."""
    return mask_value(finding, finding.expected), mask_value(finding, finding.actual)


def plural(n: int, word: str, many: str = "") -> str:
    """``1 finding``, ``2 findings`` (``many`` when the plural is not ``word + "s"``)."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def clean_text(text: str) -> str:
    """Text XML 1.0 can carry and a reader sees as it is.

    Controls and bidi characters are shown as ``<U+001B>``; U+FFFE/U+FFFF and lone surrogates become U+FFFD.
    """
    return xml_safe(visible(text))


def show(value: Any) -> str:
    """A compact one-line text form of a value for CSV/terminal cells (``""`` for absent)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def image_rows(result: TargetResult) -> list[tuple[str, str, str, str]]:
    """``TargetResult.images`` as (workload, container, desired, live) tuples."""
    return [(str(w), str(c), str(d or ""), str(lv or "")) for w, c, d, lv in result.images]


def target_index(report: AuditReport) -> dict[str, Target]:
    """Target name → Target."""
    return {r.target.name: r.target for r in report.results}


def result_index(report: AuditReport) -> dict[str, TargetResult]:
    """Target name → TargetResult."""
    return {r.target.name: r for r in report.results}


@dataclass(frozen=True)
class Totals:
    """Counted findings by severity and category, plus the suppressed count."""

    by_severity: tuple[tuple[str, int], ...]
    by_category: tuple[tuple[str, int], ...]
    counted: int
    suppressed: int

    def severity(self, sev: Severity | str) -> int:
        """Count for one severity."""
        return dict(self.by_severity).get(str(sev), 0)

    def category(self, cat: Category | str) -> int:
        """Count for one category."""
        return dict(self.by_category).get(str(cat), 0)

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict form for JSON."""
        return {
            "counted": self.counted,
            "suppressed": self.suppressed,
            "by_severity": dict(self.by_severity),
            "by_category": dict(self.by_category),
        }


def totals(findings: Iterable[Finding]) -> Totals:
    """Totals of counted findings (suppressed ones are only counted as suppressed)."""
    sev: Counter[str] = Counter()
    cat: Counter[str] = Counter()
    suppressed = 0
    for f in findings:
        if not f.counts:
            suppressed += 1
            continue
        sev[f.severity.value] += 1
        cat[f.category.value] += 1
    return Totals(
        by_severity=tuple((s.value, sev[s.value]) for s in SEVERITIES),
        by_category=tuple((c.value, cat[c.value]) for c in CATEGORIES),
        counted=sum(sev.values()),
        suppressed=suppressed,
    )


def parse_time(text: str) -> datetime | None:
    """Parse an ISO-8601 time (``Z`` accepted); ``None`` when empty or malformed."""
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def duration_seconds(report: AuditReport) -> float | None:
    """Run duration from ``started``/``finished``; ``None`` when either is unknown."""
    start, end = parse_time(report.started), parse_time(report.finished)
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def human_duration(seconds: float | None) -> str:
    """``1h 02m 03s`` style; ``unknown`` for None."""
    if seconds is None:
        return "unknown"
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if h:
        return f"{h}h {m:02d}m {sec:02d}s"
    if m:
        return f"{m}m {sec:02d}s"
    return f"{seconds:.1f}s" if seconds < 10 else f"{sec}s"


def _drift_kind(finding: Finding) -> str:
    """missing/modified/added/orphaned from ``details["drift_kind"]`` or the rule id."""
    kind = finding.details.get("drift_kind") if isinstance(finding.details, Mapping) else None
    if isinstance(kind, str) and kind in _DRIFT_TEXT:
        return kind
    for name in _DRIFT_TEXT:
        if name in finding.rule_id:
            return name
    return ""


def remediation(finding: Finding) -> str:
    """Remediation text from ``details`` (policy metadata) or a default per drift kind / category."""
    for key in ("remediation", "fix", "help"):
        val = finding.details.get(key) if isinstance(finding.details, Mapping) else None
        if isinstance(val, str) and val:
            return val
    if finding.category is Category.DRIFT and _drift_kind(finding):
        return _DRIFT_TEXT[_drift_kind(finding)][1]
    return _DEFAULT_REMEDIATION.get(finding.category, "")


_DRIFT_TEXT: dict[str, tuple[str, str]] = {
    "missing": (
        "Object defined in git is missing from the cluster",
        "Let the GitOps controller re-apply it (check that it is not suspended) and find out who deleted it.",
    ),
    "modified": (
        "Field in the cluster differs from git",
        "Reconcile the cluster with git, or commit the live value through a reviewed pull request if it "
        "is intended.",
    ),
    "added": (
        "Field written in the cluster out-of-band (not in git)",
        "Remove the field from the live object, or add it to git through a reviewed pull request.",
    ),
    "orphaned": (
        "Object in a managed namespace that git does not define",
        "Delete it if it is no longer needed, or add it to git so it is reviewed and managed.",
    ),
}


_DEFAULT_REMEDIATION: dict[Category, str] = {
    Category.DRIFT: (
        "Reconcile the cluster with git: re-apply the desired state, or commit the live change to git "
        "through a reviewed pull request if it is intended."
    ),
    Category.POLICY: "Change the manifest in git so the policy passes, or record a time-bound waiver.",
    Category.CHANGE_CONTROL: (
        "Add a CODEOWNERS entry for the path and make sure changes are authored or approved by an owner."
    ),
    Category.COVERAGE: "Grant the auditor read (get/list) access or render support so this can be checked.",
}


def controls(finding: Finding) -> list[str]:
    """The ``framework:control`` ids a finding gives evidence for (``details.controls``, set by the run)."""
    val = finding.details.get("controls") if isinstance(finding.details, Mapping) else None
    return [str(c) for c in val] if isinstance(val, list | tuple) else []


def rule_description(finding: Finding) -> str:
    """A one-line description of the rule (from details, else derived from the drift kind/category)."""
    for key in ("description", "title", "rule_description"):
        val = finding.details.get(key) if isinstance(finding.details, Mapping) else None
        if isinstance(val, str) and val:
            return val
    if finding.category is Category.DRIFT and _drift_kind(finding):
        return _DRIFT_TEXT[_drift_kind(finding)][0]
    return _CATEGORY_TEXT.get(finding.category, finding.category.value) + f" ({finding.rule_id})"


_CATEGORY_TEXT: dict[Category, str] = {
    Category.DRIFT: "Live state differs from git",
    Category.POLICY: "Policy violation",
    Category.CHANGE_CONTROL: "Change-control gap",
    Category.COVERAGE: "Could not be checked",
}


_encode_ascii = json.encoder.encode_basestring_ascii


def fingerprint(f: Finding) -> str:
    """``Finding.fingerprint``, computed without building a JSON encoder per call.

    Produces exactly the model's value (a test pins this); at 50,000 findings the model's
    ``json.dumps`` call per finding dominated the cost of every format.
    """
    ref = f.ref
    parts = (f.rule_id, f.target, ref.group if ref else "", ref.subject if ref else "", f.path)
    raw = "[" + ",".join(_encode_ascii(p) for p in parts) + "]"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def utc_z(text: str) -> str:
    """An ISO-8601 time in UTC with ``Z`` (``2026-10-12T13:45:00Z``); unparseable text is returned as is."""
    dt = parse_time(text)
    if dt is None:
        return text
    return dt.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def side_and_field(f: Finding) -> tuple[str, str]:
    """(side, field path) of a finding: ``Finding.path`` split into its single meanings.

    Drift findings name a field; policy findings a side (``desired``/``live``), optionally with the
    field a rule reported (``live:spec.x``) and a message hash that keeps fingerprints apart
    (``desired#1a2b3c4d``); change-control and coverage paths are a file, a commit or a kind, which
    other columns carry.
    """
    if f.category is Category.DRIFT:
        return "", f.path
    if f.category is Category.POLICY:
        head = f.path.split("#", 1)[0]
        side, _, field_path = head.partition(":")
        return side, field_path
    return "", ""
