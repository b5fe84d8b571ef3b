"""One target's audit: live read, drift, policy, change control, provenance (wiring of the check stages).

``pipeline.py`` orchestrates a run (repositories, discovery, rendering, pools); this module holds
what happens to one rendered target, and the run-wide state it reads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Protocol

from auditor import pipeline_apply, pipeline_hygiene
from auditor.cluster.options import ClusterOptions, LiveScope
from auditor.config import RunConfig
from auditor.diff.engine import diff_target
from auditor.diff.options import DriftOptions
from auditor.errors import AuditorError
from auditor.model import (
    Category,
    Credit,
    DriftKind,
    FileProvenance,
    Finding,
    InventoryItem,
    LiveState,
    Manifest,
    ObjectDrift,
    ObjectRef,
    Provenance,
    RenderedSet,
    RuleCheck,
    SourceRevision,
    Target,
    TargetResult,
    ToolInfo,
)
from auditor.pipeline_catalog import RunCatalog, annotate_all, target_checks
from auditor.pipeline_fleet import app_objects
from auditor.policy.audit import PolicySet, evaluate_target, incomplete_reasons
from auditor.provenance.blame import field_origin
from auditor.provenance.changecontrol import AuditWindow, judge, target_paths
from auditor.provenance.changeinputs import ChangeInputs
from auditor.provenance.codeowners import CodeOwners, owners_of
from auditor.provenance.index import ProvenanceIndex, attach, build_index, removal_of
from auditor.render.kustomize.build import PreparedTree
from auditor.render.source import RenderContext, TargetSource
from auditor.repo.git import RepoHandle
from auditor.repo.options import SourceOptions
from auditor.util.kinds import container_images, is_namespaced

log = logging.getLogger("gitops_audit")

Progress = Callable[[str, str], None]
"""Callback ``(target, message)`` for progress lines; the CLI prints them on a TTY only."""


@dataclass(frozen=True)
class RunOptions:
    """A validated config plus the per-stage options the CLI derived from it and the flags."""

    config: RunConfig
    source: SourceOptions = field(default_factory=SourceOptions)
    cluster: ClusterOptions = field(default_factory=ClusterOptions)
    drift: DriftOptions = field(default_factory=DriftOptions)
    run_id: str = ""
    previous_commit: str = ""
    """Commit audited by the previous run in the report history: the default change-control window start."""
    shard: tuple[int, int] | None = None
    """(K, N): audit only the targets of shard K of N (after Flux discovery and selection)."""
    sizes: Mapping[str, int] = field(default_factory=dict)
    """Target name → objects (desired + live) in an earlier report: shards are balanced by them, and the
    largest renders start first. Empty: shards by name hash, renders in key order."""
    sizes_from: str = ""
    """Run id of the report ``sizes`` come from (recorded in a shard's report as its basis)."""
    scope: str = ""
    """Identity of what this run covers (config + selection), recorded so history compares like with like."""


@dataclass
class RepoWork:
    """One (repository, ref) pair: resolved once, materialized once, shared by its targets."""

    location: str
    ref: str
    handle: RepoHandle | None = None
    commit: str = ""
    url: str = ""
    tree: PreparedTree | None = None
    index: ProvenanceIndex | None = None
    codeowners: CodeOwners | None = None
    window: AuditWindow | None = None
    ctx: RenderContext | None = None
    """What target sources render from (the prepared tree and the repository)."""
    change: ChangeInputs | None = None
    """Change-control inputs (window commits, CODEOWNERS, approvals), gathered once for all its targets."""
    protected_paths: dict[str, list[str]] = field(default_factory=dict)
    """Protected target name → its change-controlled paths (for the ledger)."""
    error: str = ""


@dataclass(frozen=True)
class Shared:
    """Run-wide inputs every target check reads."""

    opts: RunOptions
    policies: PolicySet | None
    secret_key: bytes
    say: Progress
    tools: list[ToolInfo] = field(default_factory=list)
    """Tools found during the run besides kustomize (helm for Flux targets)."""
    sources: tuple[TargetSource, ...] = ()
    """The run's target sources."""
    unmatched: dict[str, frozenset[str]] = field(default_factory=dict)
    """Target name → ignore rules that matched nothing there (filled by the target audits)."""
    indexes: dict[tuple[str, str], ProvenanceIndex | None] = field(default_factory=dict)
    """(git dir, commit) of other revisions renders read → their history index (built on first use)."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    today: date | None = None
    """The run's date (UTC) for waiver expiry, so a replay judges waivers as the run did."""
    spool: EvidenceSink | None = None
    """Where each target's desired and live state is written for the evidence bundle (None: not kept)."""
    catalog: RunCatalog | None = None
    """The rule catalogue: controls for findings, checks per target (None: no annotation)."""

    def index_of(self, rev: SourceRevision) -> ProvenanceIndex | None:
        """The history index of another revision a render read (per repository and commit, built once)."""
        key = (rev.git_dir, rev.commit)
        with self.lock:
            if key not in self.indexes:
                try:
                    self.indexes[key] = build_index(Path(rev.git_dir), rev.commit)
                except AuditorError as exc:
                    log.warning("provenance of %s: %s", rev.label, exc)
                    self.indexes[key] = None
            return self.indexes[key]


class EvidenceSink(Protocol):
    """Receives each audited target's state for the evidence bundle (``pipeline_evidence.Spool``)."""

    def write_target(self, target: Target, rendered: RenderedSet, live: LiveState, secret_key: bytes) -> None:
        """Keep one target's rendered desired state and live state (Secret values hashed)."""

    def write_change(self, repos: Mapping[tuple[str, str], RepoWork], policies: PolicySet | None) -> None:
        """Keep each repository's change-control inputs and the policy sources."""


def live_scope(
    desired: Sequence[Manifest],
    target: Target,
    extra_kinds: Sequence[tuple[str, str, str]] = (),
    orphan_kinds: Sequence[tuple[str, str, str]] = (),
) -> LiveScope:
    """What to read live, in the managed namespaces: desired's kinds, extras, default orphan kinds.

    Default orphan kinds are namespaced and read only where the target manages a namespace.
    Cluster-scoped objects written with a ``namespace:`` (the API server drops it), including
    instances of ``scope: Cluster`` CRDs in desired, do not make that namespace managed.
    """
    cluster = frozenset(crd_cluster_kinds(desired))
    kinds = {(m.ref.group, m.api_version.rpartition("/")[2], m.ref.kind) for m in desired} | set(extra_kinds)
    namespaces = {m.ref.namespace for m in desired
                  if m.ref.namespace and is_namespaced(m.ref.group, m.ref.kind, cluster)}
    namespaces |= {m.ref.name for m in desired if m.ref.kind == "Namespace" and not m.ref.group}
    if not namespaces and any(is_namespaced(m.ref.group, m.ref.kind, cluster) for m in desired):
        namespaces.add(target.namespace)
    if namespaces:
        kinds |= set(orphan_kinds)
    if any(not _builtin_group(m.ref.group) for m in desired):
        # Custom resources: their CRDs give list semantics (x-kubernetes-list-type) and scope.
        kinds.add(CRD_KIND)
    return LiveScope(kinds=tuple(sorted(kinds)), namespaces=tuple(sorted(namespaces)),
                     cluster_scoped=tuple(sorted(cluster)))


CRD_KIND = ("apiextensions.k8s.io", "v1", "CustomResourceDefinition")


def _builtin_group(group: str) -> bool:
    return "." not in group or group.endswith(".k8s.io")


def crd_cluster_kinds(desired: Sequence[Manifest]) -> set[tuple[str, str]]:
    """(group, kind) of custom resources whose CRD in desired says ``scope: Cluster``."""
    out: set[tuple[str, str]] = set()
    for m in desired:
        if m.ref.kind == "CustomResourceDefinition" and m.ref.group == "apiextensions.k8s.io":
            spec = m.body.get("spec") or {}
            kind = (spec.get("names") or {}).get("kind") if isinstance(spec, dict) else None
            if isinstance(spec, dict) and spec.get("scope") == "Cluster" and spec.get("group") and kind:
                out.add((str(spec["group"]), str(kind)))
    return out


def _read_live(opts: RunOptions, target: Target, scope: LiveScope, secret_key: bytes) -> LiveState:
    if target.snapshot:
        from auditor.cluster.snapshot import read_snapshot

        # Same Secret handling as a live read: values (hashed) only when the config opts in.
        key = secret_key if opts.cluster.secrets == "hash" else b""
        return read_snapshot(Path(target.snapshot), scope, secret_key=key)
    from auditor.cluster.kube import read_cluster

    return read_cluster(target.context, scope, replace(opts.cluster, secret_key=secret_key))


def _orphan_only(desired: Sequence[Manifest], opts: RunOptions) -> frozenset[str]:
    """``Kind.group`` of kinds git does not hold that are read only to find orphans (or CRD schemas)."""
    held = {(m.ref.group, m.ref.kind) for m in desired} | {(g, k) for g, _, k in opts.config.extra_kinds}
    auxiliary = [*opts.drift.orphan_kinds, CRD_KIND]
    return frozenset(f"{k}.{g}" if g else k for g, _, k in auxiliary if (g, k) not in held)


def audit_target(shared: Shared, target: Target, rendered: RenderedSet, work: RepoWork,
                 source: TargetSource) -> TargetResult:
    """Read live state and run every check on one rendered target; an unreadable cluster is a skipped result."""
    opts = shared.opts
    t0 = time.perf_counter()
    desired = source.controller(rendered).desired
    scope = live_scope(desired, target, opts.config.extra_kinds,
                       opts.drift.orphan_kinds if opts.drift.orphans else ())
    shared.say(target.name, f"read live state from {target.live_source}")
    try:
        live = _read_live(opts, target, scope, shared.secret_key)
    except AuditorError as exc:
        return TargetResult(
            target=target,
            audited=False,
            skip_reason=str(exc),
            commit=rendered.commit,
            desired_count=len(desired),
        )
    if shared.spool is not None:
        shared.spool.write_target(target, rendered, live, shared.secret_key)
    return check_state(shared, target, rendered, live, work, source, {"live": time.perf_counter() - t0})


def check_state(
    shared: Shared,
    target: Target,
    rendered: RenderedSet,
    live: LiveState,
    work: RepoWork,
    source: TargetSource,
    timings: dict[str, float] | None = None,
) -> TargetResult:
    """Every check on one target's desired and live state: drift, policy, change control, provenance.

    No I/O besides git provenance (skipped when ``work.index`` is None): ``gitops-audit replay``
    calls this with the state and change-control inputs of an evidence bundle.
    """
    opts = shared.opts
    timings = dict(timings or {})
    view = source.controller(rendered)
    desired = view.desired
    t1 = time.perf_counter()
    drift_opts = pipeline_apply.drift_options(replace(opts.drift, secret_hash_key=shared.secret_key), view,
                                              live.objects)
    outcome = diff_target(target, desired, live, drift_opts)
    # Only configured rules are reported; the controller's own rules come from git and may rightly match nothing.
    shared.unmatched[target.name] = frozenset(r for r in outcome.unmatched_rules
                                              if not pipeline_apply.is_controller_rule(r, view))
    findings = pipeline_apply.adjust_findings(outcome.findings, view, live.objects)
    timings["drift"] = time.perf_counter() - t1

    incomplete: tuple[str, ...] = ()
    if shared.policies is not None:
        t2 = time.perf_counter()
        policy_findings = evaluate_target(
            shared.policies, target, desired, live.objects,
            live_changed=_live_for_policy(desired, live, outcome.drifts), today=shared.today,
        )
        findings += policy_findings
        incomplete = incomplete_reasons(policy_findings)  # a rule that failed on a document: partial, exit 3
        timings["policy"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    findings += _change_control(opts, target, rendered, work)
    by_ref = {m.ref: m.provenance for m in desired}
    others = {rev.label: rev for rev in rendered.sources}
    findings = [_with_provenance(f, work, by_ref, shared, others) for f in findings]
    timings["provenance"] = time.perf_counter() - t3

    gap_findings, not_rendered = pipeline_apply.render_gaps(target, rendered.gaps, opts.config.accept_unrendered)
    findings += gap_findings
    live_findings, unread = pipeline_apply.live_gaps(target, live.gaps, _orphan_only(desired, opts),
                                                     opts.config.accept_unread)
    findings += live_findings
    incomplete += unread  # a kind git declares that could not be read: its objects are unknown (DESIGN §4b)
    findings += pipeline_hygiene.input_findings(target, desired, live)
    checks: tuple[RuleCheck, ...] = ()
    if shared.catalog is not None:
        findings = annotate_all(shared.catalog, findings)
        checks = target_checks(
            shared.catalog, target, desired, live.objects, rendered,
            change_control=opts.config.change_control,
            change_control_ran=work.change is not None,
            codeowners_found=work.change is not None and work.change.codeowners is not None,
            orphans=opts.drift.orphans,
        )
    findings.sort(key=Finding.sort_key)
    return TargetResult(
        target=target,
        audited=True,
        commit=rendered.commit,
        findings=tuple(findings),
        drift=outcome.drifts,
        desired_count=len(desired),
        live_count=len(live.objects),
        live_source=live.source,
        identity=live.identity,
        reads=live.reads,
        images=_image_rows(desired, live.objects),
        timings=timings,
        checks=checks,
        not_audited=not_rendered,
        apps=app_objects(desired, live.objects, outcome.drifts),
        inventory=inventory(desired, outcome.drifts, work),
        incomplete=incomplete,
    )


def _live_for_policy(
    desired: Sequence[Manifest], live: LiveState, drifts: Sequence[ObjectDrift]
) -> frozenset[ObjectRef]:
    """Live objects whose per-document policy verdict can differ from their desired twin's.

    An in-sync live object is its desired object plus server defaults and status, so evaluating it
    again only repeats the desired findings (twice the work, every violation reported twice).
    Live policy runs where live state says something git does not: drifted objects and objects that
    exist only in the cluster. (Combined packages still see every live object.)
    """
    in_sync = {d.ref for d in drifts if d.kind == DriftKind.IN_SYNC}
    wanted = {m.ref for m in desired}
    return frozenset(m.ref for m in live.objects if m.ref not in wanted or m.ref not in in_sync)


def _image_rows(desired: Sequence[Manifest], live: Sequence[Manifest]) -> tuple[tuple[str, str, str, str], ...]:
    """(workload, container, desired image, live image) for the version-skew table."""
    live_by_ref = {m.ref: m for m in live}
    rows = []
    for m in desired:
        wanted = container_images(m.body)
        if not wanted:
            continue
        other = live_by_ref.get(m.ref)
        running = container_images(other.body) if other is not None else {}
        for name in sorted(wanted.keys() | running.keys()):
            rows.append((m.ref.subject, name, wanted.get(name, ""), running.get(name, "")))
    return tuple(sorted(rows))


def file_roles(rendered: RenderedSet) -> dict[str, str]:
    """Repository files that feed a rendered target, with their role (first role seen wins)."""
    roles: dict[str, str] = {}
    for m in rendered.objects:
        for f in m.provenance.files:
            if not f.repo:  # files of other branches/repositories are not changes to this repository
                roles.setdefault(f.path, f.role)
    return roles


def _change_control(opts: RunOptions, target: Target, rendered: RenderedSet, work: RepoWork) -> list[Finding]:
    """CODEOWNERS coverage and commit approval for the files that feed this target (from gathered inputs)."""
    cc = opts.config.change_control
    if work.change is None or target.env not in cc.protected_envs:
        return []
    roles = file_roles(rendered)
    paths, role_of = target_paths(sorted(roles), work.change.codeowners, cc, roles)
    return list(judge(target, paths, work.change, cc, role_of))


def _with_provenance(finding: Finding, work: RepoWork, desired: Mapping[ObjectRef, Provenance],
                     shared: Shared | None = None, others: Mapping[str, SourceRevision] | None = None) -> Finding:
    """Fill last commits and owners of a finding's files, and credit the finding to one change.

    Findings on live documents (policy on live state) carry no files of their own: they get the
    files of the desired object with the same identity. A stale orphan gets the commit that removed
    the file which defined it, so the report says when it left git. The credit is kept apart from
    the object's provenance: for a modified field, the line that sets the desired value (blamed to
    the commit that wrote it), else the object's origin file; on the cluster side, the manager that
    wrote the live value.
    """
    live_credit = finding.provenance.live[0] if finding.category is Category.DRIFT and finding.provenance.live \
        else None
    if work.index is None:
        return replace(finding, credit=Credit(live=live_credit))
    prov = finding.provenance
    if not prov.files and finding.ref is not None:
        if finding.ref in desired:
            prov = replace(prov, files=desired[finding.ref].files)
        elif finding.rule_id == "drift.orphaned.stale":
            removed = removal_of(work.index, finding.ref.kind, finding.ref.name)
            if removed is not None:
                prov = replace(prov, files=(removed,))
    if not prov.files:
        return replace(finding, credit=Credit(live=live_credit))
    own_files = tuple(f for f in prov.files if not f.repo)
    origin = None
    if finding.rule_id == "drift.modified" and finding.path and work.handle is not None and own_files:
        origin = field_origin(
            work.tree.root if work.tree else None,
            own_files,
            finding.details.get("segments") or finding.path,
            finding.expected,
            work.handle.git_dir,
            work.commit,
            ref=finding.ref,
            index=work.index,
        )
    prov = _attach(prov, work, shared, others or {})
    git = attach(Provenance(files=(origin,)), work.index, work.codeowners).files[0] if origin else prov.primary
    owners = finding.owners
    if not owners and git is not None:
        owners = git.owners
    if not owners and prov.primary is not None and work.codeowners is not None:
        owners = owners_of(work.codeowners, prov.primary.path) or ()
    return replace(finding, provenance=prov, owners=tuple(owners), credit=Credit(git=git, live=live_credit))


def _attach(prov: Provenance, work: RepoWork, shared: Shared | None,
            others: Mapping[str, SourceRevision]) -> Provenance:
    """Last commits and owners, each file from the history of the repository and revision it was read from.

    Files of other branches or repositories get their own index's commit and no owners (CODEOWNERS is the
    audited repository's).
    """
    assert work.index is not None
    if not any(f.repo for f in prov.files):
        return attach(prov, work.index, work.codeowners)
    files: list[FileProvenance] = []
    for f in prov.files:
        if not f.repo:
            files.extend(attach(Provenance(files=(f,)), work.index, work.codeowners).files)
            continue
        rev = others.get(f.repo)
        index = shared.index_of(rev) if shared is not None and rev is not None else None
        files.append(replace(f, commit=f.commit or (index.last_commit(f.path) if index is not None else None)))
    return replace(prov, files=tuple(files))


def inventory(desired: Sequence[Manifest], drifts: Sequence[ObjectDrift], work: RepoWork) -> tuple[InventoryItem, ...]:
    """Every desired object with its drift verdict and its files (last commit and owners filled)."""
    verdict = {d.ref: d.kind.value for d in drifts}
    out = []
    for m in desired:
        prov = _attach(m.provenance, work, None, {}) if work.index is not None else m.provenance
        out.append(InventoryItem(m.ref, verdict.get(m.ref, ""), prov.files))
    return tuple(sorted(out, key=lambda i: i.ref))
