"""Build per-stage options from the config and the command-line flags (wiring, no logic)."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from auditor import shard
from auditor.config import RunConfig, Selection
from auditor.errors import ReportError, UsageError
from auditor.model import AuditReport
from auditor.pipeline import RunOptions
from auditor.util import proc

log = logging.getLogger(__name__)


def run_options(cfg: RunConfig, args: argparse.Namespace, *, previous_commit: str = "",
                previous: AuditReport | None = None) -> RunOptions:
    """Options for one run (kubeconfig contexts are checked by the pipeline once targets are known).

    Target sizes (shard balance, render order) come from ``--shard-costs`` when given; an unsharded run
    also takes them from ``previous`` (its own last run), which only orders renders. A shard never does:
    its own history holds only its part, and every shard must balance from the same report.
    """
    source = replace(
        cfg.source,
        kustomize_path=cfg.tools.kustomize,
        kubectl_path=cfg.tools.kubectl,
        worktree=bool(getattr(args, "worktree", False)),
    )
    if getattr(args, "no_render_cache", False):
        source = replace(source, render_cache="off")
    proc.configure_memory(source.tool_memory_mb)
    proc.configure_cpu_slots(source.tool_processes or proc.available_cpus())
    cluster = cfg.cluster
    kubeconfig = getattr(args, "kubeconfig", None)
    if kubeconfig:
        cluster = replace(cluster, kubeconfig=kubeconfig)
    part = shard.from_args(args)
    costs_path = getattr(args, "shard_costs", None)
    basis = load_costs_report(Path(costs_path)) if costs_path else (previous if part is None else None)
    sizes = {r.target.name: r.desired_count + r.live_count for r in basis.results if r.audited} if basis else {}
    return RunOptions(
        config=cfg,
        source=source,
        cluster=cluster,
        drift=cfg.drift,
        previous_commit=previous_commit,
        shard=part,
        sizes=sizes,
        sizes_from=basis.run_id if basis is not None and sizes else "",
    )


def load_costs_report(path: Path) -> AuditReport | None:
    """The report ``--shard-costs`` names (a report.json, a run directory, or a reports directory's latest).

    A reports directory that holds no run yet (the first night of an Indexed Job whose shards balance
    by the merged history) gives None: shards are assigned by name hash, which every shard computes
    alike. A file or run that is named but absent or unreadable is an error.
    """
    from auditor.report import json_report
    from auditor.report.history import latest_run_id, report_file

    file = report_file(path)
    if file is None and path.is_dir() and latest_run_id(path) is None:
        log.warning("--shard-costs %s: no earlier run in this reports directory; shards are assigned by name "
                    "this time", path)
        return None
    if file is None:
        raise UsageError(f"--shard-costs {path}: no report.json (a report, a run or a reports directory)")
    try:
        return json_report.load(file.read_bytes())
    except (OSError, ReportError) as exc:
        raise UsageError(f"--shard-costs {path}: {exc}") from None


def run_scope(cfg: RunConfig, args: argparse.Namespace, selection: Selection | None = None) -> str:
    """What a run covers: the config's identity plus the selected targets (and shard), as a short hash.

    Runs are compared (new/resolved, first seen, trend) only within one scope, so an ad-hoc run of
    one target written into the nightly reports directory does not look like everything else resolved.
    """
    if cfg.source_path:
        identity: list[Any] = ["config", str(cfg.base_dir / Path(cfg.source_path).name)]
    else:
        identity = ["adhoc", cfg.repo, [(t.path, t.context, t.snapshot) for t in cfg.targets]]
    sel = selection or Selection()
    parts = [
        identity,
        sorted(t.name for t in cfg.targets),
        [sorted(sel.names), sorted(sel.contexts), sorted(sel.envs), sorted(sel.regions)],
        list(shard.from_args(args) or ()),
    ]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def effective_config(opts: RunOptions) -> dict[str, Any]:
    """The settings a run used (config plus command-line overrides), JSON-ready, for the evidence bundle.

    The raw config bytes and any key material are left out; credentials in URLs are redacted by the spool.
    """
    cfg = dataclasses.replace(opts.config, raw=b"")
    return {
        "config": dataclasses.asdict(cfg),
        "source": dataclasses.asdict(opts.source),
        "cluster": {k: v for k, v in dataclasses.asdict(opts.cluster).items() if k != "secret_key"},
        "drift": {k: v for k, v in dataclasses.asdict(opts.drift).items() if k != "secret_hash_key"},
        "shard": list(opts.shard or ()),
        "scope": opts.scope,
    }
