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
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from auditor import __version__, pipeline_hygiene, render_cache
from auditor.cluster.kube import check_contexts
from auditor.config import Selection, select_targets
from auditor.errors import RenderError, SourceError, ToolError, UsageError
from auditor.logs import run_id_var, target_var
from auditor.model import (
    AuditReport,
    Category,
    Credit,
    Finding,
    LedgerEntry,
    RenderedSet,
    Severity,
    ShardInfo,
    Target,
    TargetResult,
)
from auditor.pipeline_catalog import run_catalog
from auditor.pipeline_fleet import fleet_fields, line_up, park, unpark
from auditor.pipeline_intern import Interner
from auditor.pipeline_schedule import stream
from auditor.pipeline_target import (
    EvidenceSink,
    Progress,
    RepoWork,
    RunOptions,
    Shared,
    audit_target,
    file_roles,
    live_scope,
)
from auditor.policy.audit import load_policies
from auditor.provenance.approvals import make_lookup
from auditor.provenance.changecontrol import resolve_window, target_paths
from auditor.provenance.changeinputs import PlatformLookup, gather
from auditor.provenance.codeowners import load_codeowners
from auditor.provenance.index import build_index
from auditor.provenance.ledger import approval_text, build_ledger, merge_ledgers
from auditor.render import sops
from auditor.render.kustomize.build import RENDER_VERSION, prepare_tree
from auditor.render.registry import target_sources
from auditor.render.secretscan import secret_values
from auditor.render.source import RenderContext, TargetSource, source_for
from auditor.render.tools import KustomizeTool, find_kustomize
from auditor.repo.git import describe_url, open_repo, origin_url, resolve_ref
from auditor.repo.options import SourceOptions
from auditor.shard import check_count, plan, shard_of
from auditor.util import collector, stop
from auditor.util.redact import mask_tool_message
from auditor.util.secrets import is_secret, mask_secret_values, new_run_key
from auditor.util.spool import Spool

log = logging.getLogger("gitops_audit")

__all__ = ["Progress", "RunOptions", "live_scope", "new_run_id", "run_audit"]

def new_run_id(now: datetime | None = None) -> str:
    """Sortable run id: UTC ``YYYYMMDDTHHMMSS.mmmZ-<6 hex>``.

    Milliseconds, because history orders runs by id: two runs started in the same second (an ad-hoc
    run right after the nightly one, shards) would otherwise sort by their random suffix, and the
    "previous run" a comparison starts from could be the later one.
    """
    now = now or datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%S") + f".{now.microsecond // 1000:03d}Z"
    return f"{stamp}-{secrets.token_hex(3)}"


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


def render_cache_parts(opts: RunOptions, tool: KustomizeTool, work: RepoWork, target: Target,
                       source: TargetSource) -> list[str]:
    """Everything that determines one render, as the list of strings its cache key hashes ([] = never cache).

    The repository's part is the digest of the render's closure when the source can compute one
    (``cache_inputs``: a kustomize overlay's files), else the commit's root tree. Then the tool and its
    version, the output format, the target's path and namespace, the source and its options. Options that
    change what a render may read or run (remote bases allowed, kustomize flags) belong here too: append
    them to this one list.
    """
    if work.tree is None or work.tree.worktree or work.ctx is None:
        return []
    extra = source.cache_parts(work.ctx, target)
    inputs = source.cache_inputs(work.ctx, target) if extra is not None else None
    root_tree = work.tree.dir_ids.get("", "")
    if extra is None or inputs is None or not (inputs or root_tree):
        return []
    content = f"closure:{inputs}" if inputs else f"tree:{root_tree}"
    return [content, tool.info.version, " ".join(tool.argv[1:]), RENDER_VERSION, target.path or ".",
            target.namespace,
            # What the render was allowed to do belongs to the key: a permissive run must never serve a
            # strict one (remote bases, plugins, exec functions, Helm, load restrictor, network).
            render_cache.security_settings(opts.source, opts.config.flux),
            source.kind, *extra]


def _render_cache_key(opts: RunOptions, tool: KustomizeTool, work: RepoWork, target: Target,
                      source: TargetSource) -> str:
    """The render cache key of one render ("" = never cache): the digest of :func:`render_cache_parts`."""
    return render_cache.cache_key(render_cache_parts(opts, tool, work, target, source))


def _prepare_repo(opts: RunOptions, key: tuple[str, str], dest: Path) -> RepoWork:
    """Open, resolve, materialize and index one (repository, ref); failures are recorded, not raised."""
    location, ref = key
    work = RepoWork(location=location, ref=ref)
    try:
        work.handle = open_repo(location, opts.source)
        work.url = describe_url(work.handle)
        work.commit = resolve_ref(work.handle, ref)
        work.tree = prepare_tree(work.handle, work.commit, dest, opts.source)
        aliases = tuple(u for u in (origin_url(work.handle), *opts.source.repo_urls) if u)
        work.ctx = RenderContext(tool=_tool(opts), tree=work.tree, options=opts.source, handle=work.handle,
                                 url=work.url, aliases=aliases, ref=ref)
        # One pass over history serves every target of this repository (not one git call per file).
        work.index = build_index(work.handle.git_dir, work.commit)
        work.codeowners = load_codeowners(work.tree.root)
        work.window = resolve_window(opts.config.change_control, work.index, opts.previous_commit)
    except (SourceError, ToolError) as exc:
        work.error = str(exc)
        log.warning("%s", exc)
    return work


def _tool(opts: RunOptions) -> KustomizeTool:
    return find_kustomize(opts.source)


def sources_of(opts: RunOptions) -> tuple[TargetSource, ...]:
    """The run's target sources (Flux, Argo CD, plain paths), configured from the config."""
    cfg = opts.config
    return target_sources(cfg.flux, cfg.argocd, cfg.paths)


def render_target(opts: RunOptions, tool: KustomizeTool, work: RepoWork, target: Target,
                  sources: tuple[TargetSource, ...] | None = None) -> RenderedSet:
    """Render one target from a prepared repository with the target source that handles it.

    Raises RenderError/SourceError/ToolError, whose message never holds a Secret value of the repository
    (tools echo what they choke on); shared by the audit and the ``render`` command.
    """
    if work.tree is None or work.ctx is None:
        raise SourceError(work.error or f"render {target.path}: repository not prepared")
    source = source_for(sources or sources_of(opts), target)
    try:
        rs = source.render(replace(work.ctx, tool=tool), target)
    except (RenderError, SourceError, ToolError) as exc:
        raise type(exc)(mask_tool_message(str(exc), secret_values(work.tree.root))) from None
    if rs.gaps:  # reasons quote tools too (a HelmRelease or Kustomization that did not render)
        secrets = secret_values(work.tree.root)  # scanned once per prepared tree
        rs = replace(rs, gaps=tuple(replace(g, reason=mask_tool_message(g.reason, secrets)) for g in rs.gaps))
    return rs


def _cacheable(rs: RenderedSet, source: TargetSource, opts: RunOptions) -> bool:
    """Renders that read remote content (which may move between runs) are never kept.

    A plain kustomize render says so itself (no tree hash with remote bases); a Flux or Argo CD render
    may build many overlays, so any allow-listed remote base rules it out. Other branches and
    repositories it read are pinned by commit in ``RenderedSet.sources`` and re-checked on load.
    """
    if source.kind != "path":
        return not opts.source.allow_remote_bases
    return bool(rs.tree_hash)


def prepare_repo(opts: RunOptions, key: tuple[str, str], dest: Path) -> RepoWork:
    """Public name of the repository preparation, for commands that render without auditing."""
    return _prepare_repo(opts, key, dest)


def discover(opts: RunOptions, work: RepoWork, sources: tuple[TargetSource, ...] | None = None) -> list[Target]:
    """Targets the configured sources discover in a prepared repository; raises when it is unreadable."""
    sources = sources or sources_of(opts)
    if not any(s.configured() for s in sources):
        return []
    if work.error:
        raise SourceError(work.error)
    found, _failed = _discover(opts, work, sources)
    return found


def _discover(opts: RunOptions, work: RepoWork,
              sources: tuple[TargetSource, ...]) -> tuple[list[Target], list[TargetResult]]:
    """Targets of the configured sources in the run's repository; what cannot be read becomes not-audited results."""
    found: list[Target] = []
    failed: list[TargetResult] = []
    for source in sources:
        if not source.configured():
            continue
        if work.error or work.ctx is None:
            placeholder = Target(name=f"{source.kind}:discovery", repo=work.location, ref=work.ref)
            reason = f"discover {source.kind} targets: {work.error}"
            failed.append(TargetResult(target=placeholder, audited=False, skip_reason=reason))
            continue
        defaults = Target(name="defaults", repo=work.location, ref=work.ref, namespace=opts.config.default_namespace)
        try:
            disc = source.discover(work.ctx, defaults)
        except (RenderError, SourceError, ToolError) as exc:
            placeholder = Target(name=f"{source.kind}:discovery", repo=work.location, ref=work.ref)
            failed.append(TargetResult(target=placeholder, audited=False,
                                       skip_reason=f"discover {source.kind} targets: {exc}"))
            continue
        found += disc.targets
        failed += [TargetResult(target=t, audited=False, skip_reason=why) for t, why in disc.failed]
    return found, failed


@collector.relaxed()
def run_audit(
    opts: RunOptions,
    targets: Sequence[Target],
    progress: Progress | None = None,
    selection: Selection | None = None,
    spool: EvidenceSink | None = None,
) -> AuditReport:
    """Audit ``targets`` (plus the ones Flux/Argo CD discovery finds) and return the report (not yet written).

    ``selection`` filters the targets after discovery (configured targets are already filtered
    when no discovery is configured). ``progress`` is called with (target, stage); when it also has
    ``begin(total)`` and ``finished(result)`` methods, they are called with the number of targets to
    audit and with each target's result as it completes (the CLI's progress display). Raises only for
    run-wide problems: no kustomize, policies that do not compile, unknown kubeconfig contexts, a
    selection that matches nothing.
    """
    say = progress or (lambda _t, _m: None)
    started = _utc_now()
    run_id = opts.run_id or new_run_id()
    run_id_var.set(run_id)
    tool = find_kustomize(opts.source)  # a missing tool is exit 2, before any work
    # Policies that do not compile make the whole run meaningless: PolicyError (exit 2) before any work.
    policies = load_policies(opts.config.policy) if (opts.config.policy.builtin or opts.config.policy.dirs) else None
    sources = sources_of(opts)
    shared = Shared(opts, policies, new_run_key(), say, sources=sources, today=datetime.now(UTC).date(), spool=spool,
                    catalog=run_catalog(policies, opts.config.policy))
    lookup = make_lookup(opts.config.change_control.approvals)  # a missing token is exit 2, before any work
    discovering = any(s.configured() for s in sources)
    # Results are held until the reports are written: equal parts are shared across targets.
    interner = Interner()

    # The policy set may start worker processes: they stop with the run, whatever happens.
    stop_policies = contextlib.closing(policies) if policies is not None else contextlib.nullcontext()
    with tempfile.TemporaryDirectory(prefix="gitops-audit-") as tmp, stop_policies:
        repos: dict[tuple[str, str], RepoWork] = {}
        run_key = (opts.config.repo_location(opts.config.repo), opts.config.ref)
        keys = [(t.repo, t.ref) for t in targets] + ([run_key] if discovering else [])
        for key in dict.fromkeys(keys):
            repos[key] = _prepare_repo(opts, key, Path(tmp) / f"tree-{len(repos)}")

        skipped: list[TargetResult] = []
        all_targets = list(targets)
        if discovering:
            found, failed = _discover(opts, repos[run_key], sources)
            all_targets += found
            skipped += failed
        if selection is not None and not selection.empty:
            all_targets = list(select_targets(all_targets, selection))
        if not all_targets and not skipped:
            raise UsageError("select targets: the config defines no targets and discovery found none")
        shard_info = None
        if opts.shard is not None:
            k, n = opts.shard
            check_count(k, n, len(all_targets))  # more shards than targets: exit 2
            placed = plan(all_targets, n, opts.sizes)
            all_targets = [t for t in all_targets if placed[t.name] == k]
            skipped = [r for r in skipped if shard_of(r.target.name, n) == k]
            shard_info = ShardInfo(k, n, f"size:{opts.sizes_from}" if opts.sizes else "name")
        contexts = sorted({t.context for t in all_targets if t.context})
        if contexts:
            check_contexts(contexts, opts.cluster)  # unknown context: exit 2 before any API call
        begin = getattr(progress, "begin", None)
        if callable(begin):
            begin(len(all_targets))

        # Render each distinct (source, repository, commit, render key) once; targets sharing an overlay share it.
        # The default namespace is part of the key: it changes what the render produces.
        RenderKey = tuple[str, str, str, str]

        def render_key(t: Target) -> RenderKey:
            w = repos[(t.repo, t.ref)]
            source = source_for(sources, t)
            return (source.kind, w.location, w.commit, source.render_key(t))

        groups: dict[RenderKey, list[Target]] = {}
        for t in all_targets:
            if not repos[(t.repo, t.ref)].error:
                groups.setdefault(render_key(t), []).append(t)
        jobs = {key: (repos[(ts[0].repo, ts[0].ref)], ts[0]) for key, ts in groups.items()}
        # The largest renders (by the sizes of an earlier run) first: the long poles start early.
        order = sorted(groups, key=lambda key: (-sum(opts.sizes.get(t.name, 0) for t in groups[key]), key))
        cache_dir = _render_cache_dir(opts.source)
        largest = [0]
        lock = threading.Lock()
        # Runs that compare Secret values read only cache entries that kept them.
        need_values = opts.cluster.secrets == "hash"
        kept: set[RenderKey] = set()  # renders a later render_one will read back from the cache

        def render_one(key: RenderKey) -> RenderedSet | str:
            w, t = jobs[key]
            assert w.tree is not None and w.ctx is not None  # jobs only hold repositories that were prepared
            target_var.set(t.name)
            if stop.requested():
                return f"render {t.path}: {stop.reason()}"
            source = source_for(sources, t)
            ckey = _render_cache_key(opts, tool, w, t, source) if cache_dir is not None else ""
            cached = render_cache.load(cache_dir, ckey, need_secret_values=need_values) if cache_dir else None
            if cached is not None and source.cache_valid(w.ctx, cached):
                kept.add(key)
                say(t.name, f"render {t.path} (cached)")
                value: RenderedSet | str = sops.prepare(replace(cached, commit=w.commit), values_compared=need_values)
            else:
                say(t.name, f"render {t.path}")
                value = render_fresh(w, t)
                if cache_dir is not None and isinstance(value, RenderedSet) and _cacheable(value, source, opts):
                    render_cache.store(cache_dir, ckey, value)
                    if not need_values:  # an entry stored with its Secret values stripped would miss then
                        kept.add(key)
                if isinstance(value, RenderedSet):
                    value = sops.prepare(value, values_compared=need_values)
            if policies is not None and isinstance(value, RenderedSet):
                with lock:
                    grew = len(value.objects) > largest[0]
                    largest[0] = max(largest[0], len(value.objects))
                if grew:  # policy workers start while the first clusters are read
                    policies.runner.start_pool(len(value.objects))
            return value

        def render_fresh(w: RepoWork, t: Target) -> RenderedSet | str:
            try:
                return render_target(opts, tool, w, t, sources)
            except (RenderError, SourceError, ToolError) as exc:
                return str(exc)

        # Change control judges each protected target against the change inputs of all protected targets
        # of its repository (one history walk), gathered before any audit: those renders come first, give
        # their files, and are read back from the render cache (or, uncached, held) when their targets are
        # audited. Every other render streams.
        cc = opts.config.change_control

        def controlled(t: Target) -> bool:
            w = repos[(t.repo, t.ref)]
            return t.env in cc.protected_envs and w.index is not None and w.window is not None

        early = [key for key in order if any(controlled(t) for t in groups[key])]
        held: dict[RenderKey, RenderedSet | str] = {}
        roles: dict[RenderKey, dict[str, str]] = {}

        def render_early(key: RenderKey) -> RenderedSet | str | None:
            value = render_one(key)
            if isinstance(value, RenderedSet):
                roles[key] = file_roles(value)
                # A render the cache holds is read back when its targets are audited: holding every
                # protected render at once made memory grow with the production fleet.
                if key in kept:
                    return None
            return value

        if early:
            with ThreadPoolExecutor(max_workers=max(1, opts.config.concurrency)) as pool:
                for rkey, value in zip(early, pool.map(_in_context(render_early), early), strict=True):
                    if value is not None:
                        held[rkey] = value
        _gather_change_inputs(opts, repos, all_targets, lambda t: roles.get(render_key(t)), lookup)
        if spool is not None:
            spool.write_change(repos, policies)

        def render_or_held(key: RenderKey) -> RenderedSet | str:
            # The stream asks for each key once: a held render is handed over (and dropped with its last target).
            return held.pop(key) if key in held else render_one(key)

        finished = getattr(progress, "finished", None)
        # Desired objects of targets with applications (Argo CD/Flux) only: the fleet comparison of fields.
        # Parked on disk until then: held in memory they grew with the fleet.
        app_objects = Spool(Path(tmp))

        def audit_one(t: Target, rendered: RenderedSet | str) -> TargetResult:
            target_var.set(t.name)
            w = repos[(t.repo, t.ref)]
            if stop.requested():
                result = TargetResult(target=t, audited=False, skip_reason=stop.reason(), commit=w.commit)
            elif isinstance(rendered, str):
                result = TargetResult(target=t, audited=False, skip_reason=rendered, commit=w.commit)
            else:
                result = interner.result(audit_target(shared, t, rendered, w, source_for(sources, t)))
                if result.audited and result.apps:
                    # Secret values never reach the disk (the comparison does not read them either).
                    app_objects.put(t.name, park(replace(m, body=mask_secret_values(m.body)) if is_secret(m.body)
                                                 else m for m in rendered.objects))
            if result.audited:
                log.info("audited: %d desired, %d live, %d findings", result.desired_count, result.live_count,
                         len(result.findings))
                for part in result.not_audited:
                    log.warning("not audited: %s", part)
            else:
                log.warning("not audited: %s", result.skip_reason)
            if callable(finished):
                finished(result)
            return result

        # Renders and audits stream: a render is dropped once its last target is audited, so memory follows
        # the renders in flight (at most `concurrency`), not the fleet.
        first = set(early)  # held renders are audited first, so they are released first
        done = {t.name: r for t, r in stream(groups, [*early, *(k for k in order if k not in first)], render_or_held,
                                             audit_one, max(1, opts.config.concurrency), wrap=_in_context)}
        used = {source_for(sources, t).kind for t in all_targets}
        shared.tools.extend(dict.fromkeys(info for s in sources if s.kind in used for info in s.tools()))
        audited: list[TargetResult] = []
        for t in all_targets:
            w = repos[(t.repo, t.ref)]
            if w.error:
                target_var.set(t.name)
                log.warning("not audited: %s", w.error)
                result = TargetResult(target=t, audited=False, skip_reason=w.error)
                if callable(finished):
                    finished(result)
                audited.append(result)
            else:
                audited.append(done[t.name])
        results = _report_unmatched_rules((*audited, *skipped), shared.unmatched)
        lined = line_up([(r.target.name, r.apps) for r in results if r.apps])
        results = tuple(replace(r, apps=interner.apps(lined[r.target.name])) if r.target.name in lined else r
                        for r in results)
        fields = fleet_fields((r.target.name, unpark(app_objects.get(r.target.name, ())), r.apps)
                              for r in results if r.audited and r.apps)
        results = tuple(pipeline_hygiene.shown_result(r) for r in results)

    if policies is not None:
        st = policies.runner.stats
        log.info("policy: %d documents, %d evaluated (%d in worker processes), %d from the run's cache",
                 st.documents, st.evaluated, st.in_workers, st.cached)
    ledger = merge_ledgers([
        build_ledger(w.change, w.protected_paths, opts.config.change_control)
        for w in repos.values() if w.change is not None
    ])
    results = credit_approvals(results, ledger, interner.credit)
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
        shard=shard_info,
        fleet_fields=fields,
        ledger=ledger,
        scope=opts.scope,
    )


def _gather_change_inputs(
    opts: RunOptions,
    repos: Mapping[tuple[str, str], RepoWork],
    targets: Sequence[Target],
    roles_of: Callable[[Target], Mapping[str, str] | None],
    lookup: PlatformLookup | None,
) -> None:
    """Once per repository: the change-control inputs of all its protected targets.

    One history walk, one CODEOWNERS read per base commit, one platform lookup per commit.
    """
    cc = opts.config.change_control
    main = (opts.config.repo_location(opts.config.repo), opts.config.ref)
    for key, w in repos.items():
        if w.error or w.index is None or w.window is None:
            continue
        for t in targets:
            if (t.repo, t.ref) != key or t.env not in cc.protected_envs:
                continue
            roles = roles_of(t)  # the target's files and their roles (None: it did not render)
            if roles is not None:
                w.protected_paths[t.name] = target_paths(sorted(roles), w.codeowners, cc, roles)[0]
        paths = sorted({p for ps in w.protected_paths.values() for p in ps})
        # The platform repository in config is the run's own repository: other repositories (Flux
        # sources) are judged on trailers and merge commits.
        use = lookup if key == main else None
        w.change = gather(w.index, w.codeowners, paths, w.window.start,
                          platform=opts.config.change_control.approvals.provider if use else "", lookup=use)


def credit_approvals(
    results: tuple[TargetResult, ...], ledger: Sequence[LedgerEntry], share: Callable[[Credit], Credit] = lambda c: c
) -> tuple[TargetResult, ...]:
    """Each finding's credited commit gets its approval from the change ledger (none when not in it).

    ``share`` gives the run's instance of a credit (the same object on every target is one credit).
    """
    by_sha = {e.commit.sha: e for e in ledger}
    out = []
    for r in results:
        changed = False
        findings = []
        for f in r.findings:
            git = f.credit.git
            entry = by_sha.get(git.commit.sha) if git is not None and git.commit is not None else None
            text = approval_text(entry)
            if text != f.credit.approval:
                f = replace(f, credit=share(replace(f.credit, approval=text)))
                changed = True
            findings.append(f)
        out.append(replace(r, findings=tuple(findings)) if changed else r)
    return tuple(out)


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


