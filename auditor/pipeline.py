"""Wire the stages: source → render → live → checks → findings → AuditReport.

This is the only module (with ``cli.py``/``commands``) that imports several stages. Every failure that
concerns one target becomes data on that target (``TargetResult(audited=False)``); only problems that
make the whole run meaningless (no kustomize, a policy that does not compile) raise.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import secrets
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from auditor import __version__, render_cache
from auditor.cluster.kube import check_contexts
from auditor.config import Selection, select_targets
from auditor.errors import RenderError, SourceError, ToolError, UsageError
from auditor.logs import run_id_var, target_var
from auditor.model import (
    AuditReport,
    Category,
    Finding,
    RenderedSet,
    Severity,
    Target,
    TargetResult,
)
from auditor.pipeline_catalog import run_catalog
from auditor.pipeline_target import Progress, RepoWork, RunOptions, Shared, audit_target, live_scope
from auditor.policy.audit import load_policies
from auditor.shard import select_shard, shard_of
from auditor.source.changecontrol import resolve_window
from auditor.source.codeowners import load_codeowners
from auditor.source.flux import discover_targets, is_flux_target, render_flux_target
from auditor.source.git import describe_url, open_repo, resolve_ref
from auditor.source.helm import find_helm
from auditor.source.options import SourceOptions
from auditor.source.provenance import build_index
from auditor.source.render import prepare_tree, render_overlay
from auditor.source.tools import KustomizeTool, find_kustomize
from auditor.util.secrets import new_run_key

log = logging.getLogger("gitops_audit")

__all__ = ["Progress", "RunOptions", "live_scope", "new_run_id", "run_audit"]

def new_run_id(now: datetime | None = None) -> str:
    """Sortable run id: UTC ``YYYYMMDDTHHMMSSZ-<6 hex>``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


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


def _render_cache_key(tool: KustomizeTool, work: RepoWork, target: Target, shared: Shared) -> str:
    """What determines a render: tool versions, the whole repository tree, the path and the renderer options."""
    if work.tree is None or work.tree.worktree:
        return ""
    parts = [tool.info.version, work.tree.dir_ids.get("", ""), target.path or ".", target.namespace]
    if is_flux_target(target):
        helm = " ".join(t.version for t in shared.tools)
        parts += ["flux", helm, work.url, repr(shared.opts.config.flux)]
    return render_cache.cache_key(parts)


def _prepare_repo(opts: RunOptions, key: tuple[str, str], dest: Path) -> RepoWork:
    """Open, resolve, materialize and index one (repository, ref); failures are recorded, not raised."""
    location, ref = key
    work = RepoWork(location=location, ref=ref)
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


def render_target(opts: RunOptions, tool: KustomizeTool, work: RepoWork, target: Target) -> RenderedSet:
    """Render one target from a prepared repository (Flux targets like kustomize-controller, others with kustomize).

    Raises RenderError/SourceError/ToolError; shared by the audit and the ``render`` command.
    """
    if work.tree is None:
        raise SourceError(work.error or f"render {target.path}: repository not prepared")
    if is_flux_target(target):
        return render_flux_target(
            tool,
            work.tree,
            target.path,
            default_namespace=target.namespace,
            options=opts.config.flux,
            source_options=opts.source,
            repo_url=work.url,
        )
    return render_overlay(tool, work.tree, target.path, default_namespace=target.namespace, options=opts.source)


def prepare_repo(opts: RunOptions, key: tuple[str, str], dest: Path) -> RepoWork:
    """Public name of the repository preparation, for commands that render without auditing."""
    return _prepare_repo(opts, key, dest)


def discover(opts: RunOptions, work: RepoWork) -> list[Target]:
    """Flux-discovered targets of a prepared repository (none without ``flux.clusters``); raises when unreadable."""
    if not opts.config.flux.clusters:
        return []
    if work.error:
        raise SourceError(work.error)
    found, _failed = _discover(opts, work)
    return found


def _discover(opts: RunOptions, work: RepoWork) -> tuple[list[Target], list[TargetResult]]:
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
    shared = Shared(opts, policies, new_run_key(), say, catalog=run_catalog(policies, opts.config.policy))
    flux = opts.config.flux

    # The policy set may start worker processes: they stop with the run, whatever happens.
    stop_policies = contextlib.closing(policies) if policies is not None else contextlib.nullcontext()
    with tempfile.TemporaryDirectory(prefix="gitops-audit-") as tmp, stop_policies:
        repos: dict[tuple[str, str], RepoWork] = {}
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

        def render_fresh(w: RepoWork, t: Target) -> RenderedSet | str:
            try:
                return render_target(opts, tool, w, t)
            except (RenderError, SourceError, ToolError) as exc:
                return str(exc)

        with ThreadPoolExecutor(max_workers=max(1, opts.config.concurrency)) as pool:
            for render_key, value in pool.map(_in_context(render_one), sorted(jobs)):
                renders[render_key] = value
        if policies is not None:  # policy workers start while the clusters are read
            policies.runner.start_pool(max((len(r.objects) for r in renders.values() if isinstance(r, RenderedSet)),
                                           default=0))

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
            return audit_target(shared, t, rendered, w)

        with ThreadPoolExecutor(max_workers=max(1, opts.config.concurrency)) as pool:
            audited = pool.map(_in_context(audit_one), all_targets)
            results = _report_unmatched_rules((*audited, *skipped), shared.unmatched)

    if policies is not None:
        st = policies.runner.stats
        log.info("policy: %d documents, %d evaluated (%d in worker processes), %d from the run's cache",
                 st.documents, st.evaluated, st.in_workers, st.cached)
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


