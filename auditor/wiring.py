"""Build per-stage options from the config and the command-line flags (wiring, no logic)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from auditor import shard
from auditor.config import RunConfig
from auditor.errors import ReportError, UsageError
from auditor.model import AuditReport
from auditor.pipeline import Progress, RunOptions


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


def load_costs_report(path: Path) -> AuditReport:
    """The report ``--shard-costs`` names (a report.json, a run directory, or a reports directory's latest)."""
    from auditor.report import json_report
    from auditor.report.history import latest_run_id

    file = path
    if path.is_dir():
        file = path / "report.json"
        if not file.is_file():
            run_id = latest_run_id(path)
            file = path / (run_id or "-") / "report.json"
    try:
        return json_report.load(file.read_bytes())
    except FileNotFoundError:
        raise UsageError(f"--shard-costs {path}: no report.json (a report, a run or a reports directory)") from None
    except (OSError, ReportError) as exc:
        raise UsageError(f"--shard-costs {path}: {exc}") from None


def progress_printer() -> Progress:
    """Progress lines on stderr (the CLI installs this only on a TTY)."""

    def show(target: str, message: str) -> None:
        print(f"  {target}: {message}", file=sys.stderr, flush=True)

    return show
