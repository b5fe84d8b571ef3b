"""Shared data model: the frozen dataclasses every stage exchanges.

This module is a leaf: it imports nothing from ``auditor``. Stages build these values and
never mutate them; new values come from :func:`dataclasses.replace`.

Object bodies (``Manifest.body``) are plain ``dict`` trees as parsed from YAML/JSON. They are
treated as read-only by convention: a stage that needs a changed body makes a deep copy.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.StrEnum):
    """How bad a finding is; ``--fail-on SEV`` means "that level or worse"."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is worse: info=0 … critical=4."""
        return _SEVERITY_RANK[self]

    def at_least(self, other: Severity) -> bool:
        """True when this severity is ``other`` or worse."""
        return self.rank >= other.rank


_SEVERITY_RANK = {
    Severity.INFO: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


class Category(enum.StrEnum):
    """What kind of check produced a finding."""

    DRIFT = "drift"
    POLICY = "policy"
    CHANGE_CONTROL = "change-control"
    COVERAGE = "coverage"
    """Something could not be checked (kind not served, forbidden, render gap)."""


class DriftKind(enum.StrEnum):
    """Typed drift verdict per object (DESIGN §4)."""

    IN_SYNC = "in-sync"
    MISSING = "missing"
    MODIFIED = "modified"
    ADDED = "added"
    """Live fields not in desired, written out-of-band (only fields, the object itself is desired)."""
    ORPHANED = "orphaned"


class FindingStatus(enum.StrEnum):
    """Status of a finding relative to the previous run."""

    NEW = "new"
    PERSISTING = "persisting"


# Core API group kinds have group "". Cluster-scoped kinds need no namespace.
@dataclass(frozen=True, slots=True, order=True)
class ObjectRef:
    """Identity of a Kubernetes object: (group, kind, namespace, name). Version is not identity."""

    group: str
    kind: str
    namespace: str
    """Empty for cluster-scoped objects."""
    name: str

    @property
    def subject(self) -> str:
        """Human subject used in reports: ``Kind/namespace/name`` (``Kind/name`` when cluster-scoped)."""
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"

    @property
    def group_kind(self) -> str:
        """``Kind.group`` (``Kind`` for the core group), as kubectl prints it."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def as_dict(self) -> dict[str, str]:
        """Plain-dict form for JSON reports."""
        return {"group": self.group, "kind": self.kind, "namespace": self.namespace, "name": self.name}


def split_api_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` → (``apps``, ``v1``); ``v1`` → (``""``, ``v1``)."""
    if "/" in api_version:
        group, _, version = api_version.partition("/")
        return group, version
    return "", api_version


@dataclass(frozen=True, slots=True)
class CommitInfo:
    """One git commit, as shown in provenance."""

    sha: str
    author_name: str
    author_email: str
    author_date: str
    """ISO-8601 with offset, as git prints it (``%aI``)."""
    committer_name: str = ""
    committer_email: str = ""
    commit_date: str = ""
    subject: str = ""
    signed: bool = False
    trailers: tuple[tuple[str, str], ...] = ()
    """(key, value) pairs from the commit message trailers, e.g. ("Approved-by", "Bob <bob@x>")."""
    parents: int = 1

    @property
    def short(self) -> str:
        """Abbreviated sha (7 characters)."""
        return self.sha[:7]


@dataclass(frozen=True, slots=True)
class FileProvenance:
    """A repository file that contributed to an object, and the last commit that touched it."""

    path: str
    """Repository-relative POSIX path."""
    role: str = "resource"
    """``resource`` (origin file), ``kustomization``, ``patch``, ``generator`` or ``config``."""
    commit: CommitInfo | None = None
    line: int | None = None
    """1-based line of the object (or field) in ``path`` when known."""
    owners: tuple[str, ...] = ()
    repo: str = ""
    """Where ``path`` lives when it is not the audited repository at the audited commit:
    ``<url>@<ref>`` of another branch, tag or repository a source read (empty: the audited commit)."""


@dataclass(frozen=True, slots=True)
class LiveProvenance:
    """Who last wrote a live field or object, from ``metadata.managedFields``."""

    manager: str
    operation: str = ""
    time: str = ""


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where an object or finding comes from: git files (desired side) and/or live managers."""

    files: tuple[FileProvenance, ...] = ()
    live: tuple[LiveProvenance, ...] = ()

    @property
    def primary(self) -> FileProvenance | None:
        """The origin resource file, else the first file."""
        for f in self.files:
            if f.role == "resource":
                return f
        return self.files[0] if self.files else None


@dataclass(frozen=True, slots=True)
class Credit:
    """Who a finding is credited to; the git side and the cluster side are separate fields (DESIGN §4b).

    ``Finding.provenance`` is the object's own provenance (every file that produced it); the credit
    names the one change the finding is about.
    """

    git: FileProvenance | None = None
    """What git says: the file and line that set the value the finding is about (field blame for a
    modified field, else the object's origin file), the commit that last wrote it and that file's owners."""
    live: LiveProvenance | None = None
    """What the cluster says: the field manager, operation and time of the live change."""
    approval: str = ""
    """How the credited commit was approved, from the change ledger (empty when not in the ledger)."""


@dataclass(frozen=True)
class Manifest:
    """One Kubernetes object, desired (rendered from git) or live (read from a cluster/snapshot)."""

    ref: ObjectRef
    api_version: str
    body: Mapping[str, Any] = field(compare=False, hash=False, repr=False)
    """The full object as a dict tree. Read-only by convention."""
    provenance: Provenance = field(default_factory=Provenance, compare=False)

    @property
    def labels(self) -> Mapping[str, str]:
        """``metadata.labels`` (empty when absent)."""
        meta = self.body.get("metadata") or {}
        return meta.get("labels") or {}

    @property
    def annotations(self) -> Mapping[str, str]:
        """``metadata.annotations`` (empty when absent)."""
        meta = self.body.get("metadata") or {}
        return meta.get("annotations") or {}


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field-level difference between desired and live."""

    path: str
    """Dotted path with merge keys in brackets, e.g. ``spec.template.spec.containers[name=web].image``."""
    expected: Any
    """Desired value (``None`` when the field exists only live)."""
    actual: Any
    """Live value (``None`` when the field is absent live)."""
    kind: DriftKind = DriftKind.MODIFIED
    """MODIFIED for a changed/absent desired field; ADDED for a live-only field."""
    live: LiveProvenance | None = None
    """Which field manager last wrote the live value, when known."""
    suppressed_by: str = ""
    """Name of the ignore rule that hides this change; empty when it counts."""


@dataclass(frozen=True, slots=True)
class ObjectDrift:
    """The drift verdict for one object identity."""

    ref: ObjectRef
    kind: DriftKind
    changes: tuple[FieldChange, ...] = ()
    note: str = ""
    """Extra explanation, e.g. "stale: carries this target's GitOps labels"."""


@dataclass(frozen=True)
class Target:
    """One cluster target to audit: a rendered path compared to one live source."""

    name: str
    env: str = ""
    region: str = ""
    path: str = ""
    """Overlay directory inside the repository (repository-relative)."""
    context: str = ""
    """kubeconfig context for live state; mutually exclusive with ``snapshot``."""
    snapshot: str = ""
    """Directory with ``kubectl get -o yaml|json`` output used as live state."""
    repo: str = ""
    """Repository path or URL (defaults to the run's repository)."""
    ref: str = ""
    """Git ref to audit (defaults to the run's ref)."""
    namespace: str = "default"
    """Namespace given to namespaced desired objects that have none."""
    labels: tuple[tuple[str, str], ...] = ()
    """Free-form labels from config, usable by selectors."""

    @property
    def live_source(self) -> str:
        """``context:NAME`` or ``snapshot:DIR`` for display."""
        return f"context:{self.context}" if self.context else f"snapshot:{self.snapshot}"


@dataclass(frozen=True)
class Finding:
    """One result of a check, the row unit of every report format."""

    target: str
    category: Category
    rule_id: str
    severity: Severity
    message: str
    ref: ObjectRef | None = None
    path: str = ""
    """What within the object the finding is about, part of the fingerprint: the field path for drift,
    the side (``desired``/``live``) for policy, the file or commit sha for change control."""
    expected: Any = None
    actual: Any = None
    provenance: Provenance = field(default_factory=Provenance)
    owners: tuple[str, ...] = ()
    suppressed_by: str = ""
    """Non-empty when an ignore rule or waiver hides this finding (still reported, never counted)."""
    status: FindingStatus = FindingStatus.NEW
    details: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """Extra structured data (e.g. policy result metadata, remediation). Read-only once the finding exists:
    a run shares equal details between its findings (``pipeline_intern``)."""
    credit: Credit = field(default_factory=Credit, compare=False)
    """The change this finding is credited to (git line and live write), separate from ``provenance``."""
    first_seen: str = ""
    """UTC time of the first run of the same scope that reported this finding (ISO-8601, ``Z``)."""
    last_seen: str = ""
    """UTC time of the latest run that reported it (this run for current findings)."""

    @property
    def counts(self) -> bool:
        """True when this finding counts toward totals and the exit code."""
        return not self.suppressed_by

    @functools.cached_property
    def fingerprint(self) -> str:
        """Stable hash of (rule, target, object, path) so runs can be compared (computed once)."""
        ref = self.ref.subject if self.ref else ""
        group = self.ref.group if self.ref else ""
        raw = json.dumps([self.rule_id, self.target, group, ref, self.path], separators=(",", ":"))
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def sort_key(self) -> tuple[Any, ...]:
        """Deterministic report order: target, worst first, then category, object, path, rule."""
        ref = self.ref or ObjectRef("", "", "", "")
        return (
            self.target,
            -self.severity.rank,
            self.category.value,
            ref.kind,
            ref.namespace,
            ref.name,
            ref.group,
            self.path,
            self.rule_id,
            self.message,
        )


@dataclass(frozen=True, slots=True)
class ListRecord:
    """One live read: where it came from, when, and at which resourceVersion."""

    source: str
    """API server URL or snapshot directory."""
    resource: str
    """e.g. ``apps/v1/deployments`` or a snapshot file path."""
    namespace: str = ""
    resource_version: str = ""
    time: str = ""
    count: int = 0


@dataclass(frozen=True, slots=True)
class RuleCheck:
    """One rule as run on one target: how many subjects it looked at (the denominator of passed checks)."""

    rule_id: str
    evaluated: int
    """Subjects the rule was evaluated on: objects of its kinds, namespaces, files, or 1 for the target."""
    controls: tuple[str, ...] = ()
    """``framework:control`` ids the rule gives evidence for (from the rule catalogue)."""


@dataclass(frozen=True, slots=True)
class AppObject:
    """One object of a target seen as part of an application, so targets can be lined up side by side."""

    ref: ObjectRef
    app: str
    """Workload identity: ``app.kubernetes.io/name`` (or ``app``) label, else the name without the overlay's
    prefix/suffix and generator hash."""
    key: str
    """``Kind/name`` without the overlay's prefix/suffix/namespace: the same object on every target."""
    state: DriftKind
    chart: str = ""
    """``helm.sh/chart`` label (``name-version``) when the object came from a Helm chart."""
    version: str = ""
    """``app.kubernetes.io/version`` label, when set."""


@dataclass(frozen=True, slots=True)
class FleetField:
    """A desired field of one app object whose value differs between the run's targets."""

    key: str
    """:attr:`AppObject.key` of the object."""
    path: str
    """Dotted path, list items by ``[name=…]`` or ``[index]``."""
    values: tuple[tuple[str, Any], ...]
    """(target, desired value) for each target holding the object; ``None`` when the field is absent there."""


@dataclass(frozen=True, slots=True)
class InventoryItem:
    """One desired object of a target: its verdict and where it came from (object → files → commits)."""

    ref: ObjectRef
    drift: str
    """The object's :class:`DriftKind` value (``in-sync``, ``modified``, ``missing``…)."""
    files: tuple[FileProvenance, ...] = ()


@dataclass(frozen=True)
class Approval:
    """One approval of a commit, and the source that proves it."""

    approver: str
    """``Name <email>`` or ``@login``."""
    source: str
    """``github-review``, ``gitlab-approval``, ``trailer``, ``merge-commit`` or ``author-is-owner``."""
    reference: str = ""
    """What proves it: a pull request review URL or id, the trailer line, the merge commit sha."""
    time: str = ""
    """When it was given (UTC ISO-8601 ``Z``), when known."""
    code_owner: str = ""
    """The CODEOWNERS owner the approver stands for (empty: not an owner of the touched files)."""


@dataclass(frozen=True)
class LedgerEntry:
    """One commit of the audit window that touched files feeding a protected target (the change ledger)."""

    commit: CommitInfo
    files: tuple[str, ...]
    targets: tuple[str, ...]
    """Protected targets the touched files feed."""
    owners: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(file, owners) from the CODEOWNERS in force at the commit's base (its first parent)."""
    codeowners_rules: tuple[tuple[str, str], ...] = ()
    """(file, ``CODEOWNERS:line pattern``) of the rule that decided each file's owners."""
    pull_request: str = ""
    """Pull/merge request that brought the commit in (``#42``, ``!7`` or a URL), when known."""
    approvals: tuple[Approval, ...] = ()
    independent_approval: bool = False
    """True when an approver is a code owner of the touched files other than the author."""
    verdict: str = ""
    """``approved``, ``author-is-owner``, ``unapproved`` or ``unowned`` (no file has an owner)."""
    approval_source: str = ""
    """Which source proved the verdict (an :attr:`Approval.source`), or ``none``."""
    lookup_error: str = ""
    """Why the hosting platform could not be asked (rate limit, network), when it could not."""


@dataclass(frozen=True)
class TargetResult:
    """Everything the audit learned about one target; a skipped target is data, not an exception."""

    target: Target
    audited: bool
    skip_reason: str = ""
    """Why the target was not audited (render failure, cluster unreachable…)."""
    commit: str = ""
    findings: tuple[Finding, ...] = ()
    drift: tuple[ObjectDrift, ...] = ()
    desired_count: int = 0
    live_count: int = 0
    live_source: str = ""
    """API server URL or snapshot path actually used."""
    identity: str = ""
    """Who read the live state (user/service account), when known."""
    reads: tuple[ListRecord, ...] = ()
    images: tuple[tuple[str, str, str, str], ...] = ()
    """(workload subject, container, desired image, live image) for the version-skew table."""
    timings: Mapping[str, float] = field(default_factory=dict, compare=False, hash=False)
    """Seconds per stage (render, live, drift, policy…)."""
    checks: tuple[RuleCheck, ...] = ()
    """Rules with controls that ran on this target and how many subjects each looked at (framework view)."""
    not_audited: tuple[str, ...] = ()
    """Parts of an audited target's desired state that were not rendered (what and why): the target is
    partial unless the config accepted each of them (accepted ones are not listed here)."""
    apps: tuple[AppObject, ...] = ()
    """Every desired or orphaned object with its workload identity and drift state (fleet matrix, skew)."""
    inventory: tuple[InventoryItem, ...] = ()
    """Every desired object with its drift verdict and its source files (in-sync objects included)."""
    incomplete: tuple[str, ...] = ()
    """Parts of an audited target whose result is unknown (e.g. a policy rule that failed on a document):
    the target counts as partial (exit 3); each part also has a finding."""

    @property
    def partial(self) -> bool:
        """True when the target was not audited, or audited without part of its desired state or checks."""
        return not self.audited or bool(self.not_audited) or bool(self.incomplete)


@dataclass(frozen=True)
class ToolInfo:
    """An external program used by the run, with its version."""

    name: str
    path: str
    version: str


@dataclass(frozen=True)
class ShardInfo:
    """Which part of a sharded run a report is (``run --shard K/N``, one index of an Indexed Job)."""

    index: int
    """K, from 0."""
    count: int
    """N: how many parts make the whole run."""
    basis: str = "name"
    """How targets were assigned to parts: ``name`` (name hash) or ``size:<run id>`` (balanced by the
    target sizes in that run's report). Parts of one run must share it, or a target may be in two parts
    or in none."""


@dataclass(frozen=True)
class AuditReport:
    """The result of one run over all selected targets. Owns the verdict (exit code)."""

    run_id: str
    tool_version: str
    started: str
    """UTC ISO-8601."""
    finished: str
    repo_url: str
    commit: str
    ref: str
    results: tuple[TargetResult, ...]
    fail_on: Severity = Severity.HIGH
    tools: tuple[ToolInfo, ...] = ()
    config_path: str = ""
    config_sha256: str = ""
    previous_run_id: str = ""
    audit_window: str = ""
    """Change-control window examined (start commit or date, and why it was chosen)."""
    resolved: tuple[Finding, ...] = ()
    """Findings of the previous run that no longer occur."""
    shard: ShardInfo | None = None
    """Set when this report is one part of a sharded run (``report merge`` joins the parts)."""
    fleet_fields: tuple[FleetField, ...] = ()
    """Desired fields whose value is not the same on every target of the run (environment comparison)."""
    ledger: tuple[LedgerEntry, ...] = ()
    """Change ledger: every commit of the window that touched files feeding a protected target."""
    scope: str = ""
    """Identity of what this run covers (config + selected targets): runs are compared only within one scope."""
    signing_key_id: str = ""
    """Key id of the Ed25519 key that signs the evidence bundle; empty when the run is unsigned."""

    @property
    def findings(self) -> tuple[Finding, ...]:
        """All findings of all targets, in deterministic order."""
        out = [f for r in self.results for f in r.findings]
        out.sort(key=Finding.sort_key)
        return tuple(out)

    @property
    def partial(self) -> bool:
        """True when at least one target could not be audited, or was audited without part of its desired state."""
        return any(r.partial for r in self.results)

    def failing(self, fail_on: Severity | None = None) -> tuple[Finding, ...]:
        """Counted findings at or above the threshold."""
        threshold = fail_on or self.fail_on
        return tuple(f for f in self.findings if f.counts and f.severity.at_least(threshold))

    def exit_code(self, fail_on: Severity | None = None) -> int:
        """DESIGN §5: 3 partial (wins), 1 findings at/above threshold, 0 clean."""
        if self.partial:
            return 3
        if self.failing(fail_on):
            return 1
        return 0


@dataclass(frozen=True)
class CoverageGap:
    """Something that exists in scope but could not be read or rendered (reported, never hidden)."""

    group_kind: str
    namespace: str
    reason: str
    """e.g. ``forbidden``, ``kind not served by the cluster``, ``external source, not rendered``."""
    name: str = ""
    """Name of the object that was not rendered (a Flux Kustomization, an Argo CD Application…), when one."""
    informational: bool = False
    """True for notes that leave nothing unknown (a suspended Kustomization, an object applied twice):
    render gaps make a target partial unless informational or accepted by config."""


@dataclass(frozen=True)
class LiveState:
    """What the cluster stage read for one target."""

    objects: tuple[Manifest, ...]
    source: str
    """API server URL, or the snapshot directory."""
    identity: str = ""
    reads: tuple[ListRecord, ...] = ()
    gaps: tuple[CoverageGap, ...] = ()
    insecure: tuple[str, ...] = ()
    """Transport weaknesses of the read (``plain-http``, ``tls-not-verified``): each is a finding."""


@dataclass(frozen=True)
class RenderedSet:
    """The desired state of one overlay at one commit, as the render stage rendered it."""

    path: str
    """Repository-relative overlay path."""
    commit: str
    objects: tuple[Manifest, ...]
    tree_hash: str = ""
    """Git tree id of the rendered inputs, the cache key for renders."""
    gaps: tuple[CoverageGap, ...] = ()
    sources: tuple[SourceRevision, ...] = ()
    """Other revisions the render read (another branch of the audited repository, another repository):
    part of what determines the render (a cached render is stale once one of them moves)."""


@dataclass(frozen=True)
class SourceRevision:
    """A repository revision a render read besides the audited commit (Flux GitRepository, Argo CD source)."""

    url: str
    """Repository URL (credentials removed) or local path."""
    ref: str
    """The ref as the source names it (``main``, ``refs/tags/v1``, a semver range, a sha)."""
    commit: str
    """The commit it resolved to."""
    git_dir: str = ""
    """Local git directory holding ``commit`` (the audited repository's, or a cache clone): provenance reads it."""

    @property
    def label(self) -> str:
        """``<url>@<ref>``: what ``FileProvenance.repo`` holds for files read from this revision."""
        return f"{self.url}@{self.ref}"
