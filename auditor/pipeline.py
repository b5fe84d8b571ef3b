"""Wire the stages: source → render → live → checks → findings → AuditReport.

This is the only module (with ``cli.py``/``commands``) that imports several stages. Every failure that
concerns one target becomes data on that target (``TargetResult(audited=False)``); only problems that
make the whole run meaningless (no kustomize, a policy that does not compile) raise.
"""

from __future__ import annotations

import contextvars
import logging
import secrets
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from auditor import __version__, pipeline_flux, render_cache
from auditor.cluster.kube import check_contexts
from auditor.cluster.options import ClusterOptions, LiveScope
from auditor.config import RunConfig, Selection, select_targets
from auditor.diff.engine import diff_target
from auditor.diff.options import DriftOptions
from auditor.errors import AuditorError, RenderError, SourceError, ToolError, UsageError
from auditor.logs import run_id_var, target_var
from auditor.model import (
    AuditReport,
    Category,
    CoverageGap,
    Finding,
    LiveState,
    Manifest,
    ObjectRef,
    Provenance,
    RenderedSet,
    Severity,
    Target,
    TargetResult,
    ToolInfo,
)
from auditor.policy.audit import PolicySet, evaluate_target, load_policies
from auditor.shard import select_shard, shard_of
from auditor.source.blame import field_origin
from auditor.source.changecontrol import AuditWindow, check_target, resolve_window
from auditor.source.codeowners import CodeOwners, load_codeowners, owners_of
from auditor.source.flux import discover_targets, is_flux_target, render_flux_target
from auditor.source.git import RepoHandle, describe_url, open_repo, resolve_ref
from auditor.source.helm import find_helm
from auditor.source.options import SourceOptions
from auditor.source.provenance import ProvenanceIndex, attach, build_index, removal_of
from auditor.source.render import PreparedTree, prepare_tree, render_overlay
from auditor.source.tools import KustomizeTool, find_kustomize
from auditor.util.kinds import container_images, is_namespaced
from auditor.util.secrets import new_run_key

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


def new_run_id(now: datetime | None = None) -> str:
    """Sortable run id: UTC ``YYYYMMDDTHHMMSSZ-<6 hex>``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class _RepoWork:
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
    error: str = ""


@dataclass(frozen=True)
class _Shared:
    """Run-wide inputs every target check reads."""

    opts: RunOptions
    policies: PolicySet | None
    secret_key: bytes
    say: Progress
    tools: list[ToolInfo] = field(default_factory=list)
    """Tools found during the run besides kustomize (helm for Flux targets)."""
    unmatched: dict[str, frozenset[str]] = field(default_factory=dict)
    """Target name → ignore rules that matched nothing there (filled by the target audits)."""


_T = TypeVar("_T")
_R = TypeVar("_R")


def _in_context(fn: Callable[[_T], _R]) -> Callable[[_T], _R]:
    """Run ``fn`` in a copy of the caller's context, so pool threads log with this run's id."""
    captured = contextvars.copy_context()  # taken in the submitting thread, where run_id is set

    def call(arg: _T) -> _R:
        return captured.copy().run(fn, arg)  # one copy per call: a context cannot be entered twice at once

    return call


def _render_cache_dir(source: SourceOptions) -> Path | None:
    if source.worktree or source.render_cache == "off":
        return None
    return Path(source.render_cache) if source.render_cache else render_cache.default_dir()


def _render_cache_key(tool: KustomizeTool, work: _RepoWork, target: Target, shared: _Shared) -> str:
    """What determines a render: tool versions, the whole repository tree, the path and the renderer options."""
    if work.tree is None or work.tree.worktree:
        return ""
    parts = [tool.info.version, work.tree.dir_ids.get("", ""), target.path or ".", target.namespace]
    if is_flux_target(target):
        helm = " ".join(t.version for t in shared.tools)
        parts += ["flux", helm, work.url, repr(shared.opts.config.flux)]
    return render_cache.cache_key(parts)


def _prepare_repo(opts: RunOptions, key: tuple[str, str], dest: Path) -> _RepoWork:
    """Open, resolve, materialize and index one (repository, ref); failures are recorded, not raised."""
    location, ref = key
    work = _RepoWork(location=location, ref=ref)
    try:
        work.handle = open_repo(location, opts.source)
        work.url = describe_url(work.handle)
        work.commit = resolve_ref(work.handle, ref)
        work.tree = prepare_tree(work.handle, work.commit, dest, opts.source)
        # One pass over history serves every target of this repository (not one git call per file).
        work.index = build_index(work.handle.git_dir, work.commit)
        work.codeowners = load_codeowners(work.tree.root)
        work.window = resolve_window(opts.config.change_control, work.index, opts.previous_commit)
    except (SourceError, ToolError) as exc:
        work.error = str(exc)
        log.warning("%s", exc)
    return work


def _discover(opts: RunOptions, work: _RepoWork) -> tuple[list[Target], list[TargetResult]]:
    """Flux cluster targets of the run's repository; when it cannot be read, one not-audited placeholder."""
    flux = opts.config.flux
    if work.error or work.tree is None:
        placeholder = Target(name=f"flux:{flux.clusters}", repo=work.location, ref=work.ref, path=flux.clusters)
        reason = f"discover Flux clusters {flux.clusters}: {work.error}"
        return [], [TargetResult(target=placeholder, audited=False, skip_reason=reason)]
    defaults = Target(name="defaults", repo=work.location, ref=work.ref, namespace=opts.config.default_namespace)
    return list(discover_targets(work.tree.root, flux, defaults)), []


def run_audit(
    opts: RunOptions,
    targets: Sequence[Target],
    progress: Progress | None = None,
    selection: Selection | None = None,
) -> AuditReport:
    """Audit ``targets`` (plus Flux-discovered ones) and return the report (not yet written).

    ``selection`` filters the targets after Flux discovery (configured targets are already filtered
    when no discovery is configured). Raises only for run-wide problems: no kustomize, policies that
    do not compile, unknown kubeconfig contexts, a selection that matches nothing.
    """
    say = progress or (lambda _t, _m: None)
    started = _utc_now()
    run_id = opts.run_id or new_run_id()
    run_id_var.set(run_id)
    tool = find_kustomize(opts.source)  # a missing tool is exit 2, before any work
    # Policies that do not compile make the whole run meaningless: PolicyError (exit 2) before any work.
    policies = load_policies(opts.config.policy) if (opts.config.policy.builtin or opts.config.policy.dirs) else None
    shared = _Shared(opts, policies, new_run_key(), say)
    flux = opts.config.flux

    with tempfile.TemporaryDirectory(prefix="gitops-audit-") as tmp:
        repos: dict[tuple[str, str], _RepoWork] = {}
        flux_key = (opts.config.repo_location(opts.config.repo), opts.config.ref)
        keys = [(t.repo, t.ref) for t in targets] + ([flux_key] if flux.clusters else [])
        for key in dict.fromkeys(keys):
            repos[key] = _prepare_repo(opts, key, Path(tmp) / f"tree-{len(repos)}")

        skipped: list[TargetResult] = []
        all_targets = list(targets)
        if flux.clusters:
            found, failed = _discover(opts, repos[flux_key])
            all_targets += found
            skipped += failed
        if selection is not None and not selection.empty:
            all_targets = list(select_targets(all_targets, selection))
        if not all_targets and not skipped:
            raise UsageError("select targets: the config defines no targets and Flux discovery found none")
        if opts.shard is not None:
            k, n = opts.shard
            all_targets = list(select_shard(all_targets, k, n))
            skipped = [r for r in skipped if shard_of(r.target.name, n) == k]
        contexts = sorted({t.context for t in all_targets if t.context})
        if contexts:
            check_contexts(contexts, opts.cluster)  # unknown context: exit 2 before any API call
        if flux.clusters and any(is_flux_target(t) for t in all_targets):
            helm = find_helm(flux.helm_path)
            shared.tools.extend([helm.info] if helm is not None else [])

        # Render each distinct (repository, commit, path) once; targets sharing an overlay share it.
        # The default namespace is part of the key: it changes what the render produces.
        RenderKey = tuple[str, str, str, str, bool]
        renders: dict[RenderKey, RenderedSet | str] = {}
        jobs = {
            (w.location, w.commit, t.path, t.namespace, is_flux_target(t)): (w, t)
            for t in all_targets
            if not (w := repos[(t.repo, t.ref)]).error
        }

        cache_dir = _render_cache_dir(opts.source)

        def render_one(key: RenderKey) -> tuple[RenderKey, RenderedSet | str]:
            w, t = jobs[key]
            assert w.tree is not None  # jobs only hold repositories that were prepared
            target_var.set(t.name)
            ckey = _render_cache_key(tool, w, t, shared) if cache_dir is not None else ""
            cached = render_cache.load(cache_dir, ckey) if cache_dir is not None else None
            if cached is not None:
                say(t.name, f"render {t.path} (cached)")
                return key, replace(cached, commit=w.commit)
            say(t.name, f"render {t.path}")
            value = render_fresh(w, t)
            if cache_dir is not None and isinstance(value, RenderedSet):
                render_cache.store(cache_dir, ckey, value)
            return key, value

        def render_fresh(w: _RepoWork, t: Target) -> RenderedSet | str:
            assert w.tree is not None
            try:
                if is_flux_target(t):
                    return render_flux_target(
                        tool,
                        w.tree,
                        t.path,
                        default_namespace=t.namespace,
                        options=flux,
                        source_options=opts.source,
                        repo_url=w.url,
                    )
                return render_overlay(tool, w.tree, t.path, default_namespace=t.namespace, options=opts.source)
            except (RenderError, SourceError, ToolError) as exc:
                return str(exc)

        with ThreadPoolExecutor(max_workers=max(1, opts.config.concurrency)) as pool:
            for render_key, value in pool.map(_in_context(render_one), sorted(jobs)):
                renders[render_key] = value

        def audit_one(t: Target) -> TargetResult:
            target_var.set(t.name)
            result = _audit_one(t)
            if result.audited:
                log.info("audited: %d desired, %d live, %d findings", result.desired_count, result.live_count,
                         len(result.findings))
            else:
                log.warning("not audited: %s", result.skip_reason)
            return result

        def _audit_one(t: Target) -> TargetResult:
            w = repos[(t.repo, t.ref)]
            if w.error:
                return TargetResult(target=t, audited=False, skip_reason=w.error)
            rendered = renders[(w.location, w.commit, t.path, t.namespace, is_flux_target(t))]
            if isinstance(rendered, str):
                return TargetResult(target=t, audited=False, skip_reason=rendered, commit=w.commit)
            return _audit_target(shared, t, rendered, w)

        with ThreadPoolExecutor(max_workers=max(1, opts.config.concurrency)) as pool:
            audited = pool.map(_in_context(audit_one), all_targets)
            results = _report_unmatched_rules((*audited, *skipped), shared.unmatched)

    commits = sorted({w.commit for w in repos.values() if w.commit})
    urls = sorted({w.url for w in repos.values() if w.url})
    refs = sorted({w.ref for w in repos.values()})
    return AuditReport(
        run_id=run_id,
        tool_version=__version__,
        started=started,
        finished=_utc_now(),
        repo_url=", ".join(urls),
        commit=", ".join(commits),
        ref=", ".join(refs),
        results=results,
        fail_on=opts.config.fail_on,
        tools=(tool.info, *shared.tools),
        config_path=opts.config.source_path,
        config_sha256=opts.config.sha256,
        audit_window="; ".join(sorted({w.window.description for w in repos.values() if w.window})),
    )


def _report_unmatched_rules(
    results: tuple[TargetResult, ...], unmatched: Mapping[str, frozenset[str]]
) -> tuple[TargetResult, ...]:
    """Config ignore rules that matched nothing in any audited target: stale rules hide nothing and say so.

    The finding is attached to the first audited target (reports have no run-level findings).
    """
    audited = [r for r in results if r.audited and r.target.name in unmatched]
    if not audited:
        return results
    never = frozenset.intersection(*(unmatched[r.target.name] for r in audited))
    if not never:
        return results
    first = min(audited, key=lambda r: r.target.name)
    extra = tuple(
        Finding(
            target=first.target.name,
            category=Category.DRIFT,
            rule_id="drift.ignore-rule.unmatched",
            severity=Severity.INFO,
            message=f"ignore rule {rule!r} matched nothing in any audited target of this run",
            path=rule,
        )
        for rule in sorted(never)
    )
    merged = replace(first, findings=tuple(sorted((*first.findings, *extra), key=Finding.sort_key)))
    return tuple(merged if r is first else r for r in results)


def live_scope(
    desired: Sequence[Manifest], target: Target, extra_kinds: Sequence[tuple[str, str, str]] = ()
) -> LiveScope:
    """What to read live: the kinds present in desired (plus configured extras), in the managed namespaces."""
    kinds = sorted({(m.ref.group, m.api_version.rpartition("/")[2], m.ref.kind) for m in desired} | set(extra_kinds))
    namespaces = {m.ref.namespace for m in desired if m.ref.namespace}
    namespaces |= {m.ref.name for m in desired if m.ref.kind == "Namespace" and not m.ref.group}
    if not namespaces and any(is_namespaced(m.ref.group, m.ref.kind) for m in desired):
        namespaces.add(target.namespace)
    return LiveScope(kinds=tuple(kinds), namespaces=tuple(sorted(namespaces)))


def _read_live(opts: RunOptions, target: Target, scope: LiveScope, secret_key: bytes) -> LiveState:
    if target.snapshot:
        from auditor.cluster.snapshot import read_snapshot

        # Same Secret handling as a live read: values (hashed) only when the config opts in.
        key = secret_key if opts.cluster.secrets == "hash" else b""
        return read_snapshot(Path(target.snapshot), scope, secret_key=key)
    from auditor.cluster.kube import read_cluster

    return read_cluster(target.context, scope, replace(opts.cluster, secret_key=secret_key))


def _gap_findings(target: Target, gaps: Sequence[CoverageGap]) -> list[Finding]:
    return [
        Finding(
            target=target.name,
            category=Category.COVERAGE,
            rule_id="coverage.not-audited",
            severity=Severity.MEDIUM,
            message=f"{g.group_kind}{' in ' + g.namespace if g.namespace else ''} not audited: {g.reason}",
            path=f"{g.group_kind}/{g.namespace}",
        )
        for g in gaps
    ]


def _audit_target(shared: _Shared, target: Target, rendered: RenderedSet, work: _RepoWork) -> TargetResult:
    opts = shared.opts
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    view = pipeline_flux.split(rendered.objects)
    desired = view.desired
    scope = live_scope(desired, target, opts.config.extra_kinds)
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
    timings["live"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    drift_opts = pipeline_flux.drift_options(replace(opts.drift, secret_hash_key=shared.secret_key), view, live.objects)
    outcome = diff_target(target, desired, live, drift_opts)
    # Only configured rules are reported; Flux's own rules are derived from git and may rightly match nothing.
    shared.unmatched[target.name] = frozenset(r for r in outcome.unmatched_rules if not r.startswith("flux: "))
    findings = pipeline_flux.adjust_findings(outcome.findings, view, live.objects)
    timings["drift"] = time.perf_counter() - t1

    if shared.policies is not None:
        t2 = time.perf_counter()
        findings += evaluate_target(shared.policies, target, desired, live.objects)
        timings["policy"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    findings += _change_control(opts, target, rendered, work)
    by_ref = {m.ref: m.provenance for m in desired}
    findings = [_with_provenance(f, work, by_ref) for f in findings]
    timings["provenance"] = time.perf_counter() - t3

    findings += _gap_findings(target, (*rendered.gaps, *live.gaps))
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
    )


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


def _change_control(opts: RunOptions, target: Target, rendered: RenderedSet, work: _RepoWork) -> list[Finding]:
    """CODEOWNERS coverage and commit approval for the files that feed this target."""
    if work.index is None or work.window is None:
        return []
    roles: dict[str, str] = {}
    for m in rendered.objects:
        for f in m.provenance.files:
            roles.setdefault(f.path, f.role)
    return list(
        check_target(
            target,
            sorted(roles),
            work.index,
            work.codeowners,
            opts.config.change_control,
            window_start=work.window.start,
            roles=roles,
        )
    )


def _with_provenance(finding: Finding, work: _RepoWork, desired: Mapping[ObjectRef, Provenance]) -> Finding:
    """Fill last commits and owners of a finding's files; blame the line that sets a modified field.

    Findings on live documents (policy on live state) carry no files of their own: they get the
    files of the desired object with the same identity. A stale orphan gets the commit that removed
    the file which defined it, so the report says when it left git.
    """
    if work.index is None:
        return finding
    prov = finding.provenance
    if not prov.files and finding.ref is not None:
        if finding.ref in desired:
            prov = replace(prov, files=desired[finding.ref].files)
        elif finding.rule_id == "drift.orphaned.stale":
            removed = removal_of(work.index, finding.ref.kind, finding.ref.name)
            if removed is not None:
                prov = replace(prov, files=(removed,))
    if not prov.files:
        return finding
    if finding.rule_id == "drift.modified" and finding.path and work.handle is not None:
        origin = field_origin(
            work.tree.root if work.tree else None,
            prov.files,
            finding.details.get("segments") or finding.path,
            finding.expected,
            work.handle.git_dir,
            work.commit,
            ref=finding.ref,
            index=work.index,
        )
        if origin is not None:
            prov = replace(prov, files=(replace(origin, role="field"), *prov.files))
    prov = attach(prov, work.index, work.codeowners)
    owners = finding.owners
    primary = prov.primary
    if not owners and primary is not None and work.codeowners is not None:
        owners = owners_of(work.codeowners, primary.path) or ()
    return replace(finding, provenance=prov, owners=tuple(owners))
