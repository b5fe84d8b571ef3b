"""``gitops-audit run``: audit the selected targets and write the reports."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from auditor import metrics, shard
from auditor.config import RunConfig, Selection, adhoc_config, find_config, load_config, select_targets
from auditor.errors import UsageError
from auditor.model import AuditReport, Severity

SEVERITY_CHOICES = tuple(s.value for s in Severity)
TOP_FINDINGS = 10
"""Findings at or above --fail-on printed after the summary, so a CI log says why it exited 1."""


def register(subparsers: Any) -> None:
    """Add the ``run`` subcommand."""
    p = subparsers.add_parser(
        "run",
        help="audit targets and write reports (the default command)",
        description="Render desired state from git, read live state, check drift/policy/change control, "
        "write reports. Exit: 0 clean, 1 findings at/above --fail-on, 2 usage/config error, 3 partial audit.",
    )
    add_run_arguments(p)
    p.set_defaults(func=handler)


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments shared by ``run`` and commands that run an audit."""
    sel = p.add_argument_group("target selection")
    sel.add_argument("--config", "-c", metavar="FILE", help="config file (default: $GITOPS_AUDIT_CONFIG, "
                     "else ./gitops-audit.yaml)")
    sel.add_argument("--target", "-t", action="append", default=[], metavar="NAME", help="target name (repeatable)")
    sel.add_argument("--context", action="append", default=[], metavar="CTX",
                     help="select targets whose kubeconfig context is CTX (repeatable)")
    sel.add_argument("--env", action="append", default=[], metavar="ENV", help="select targets of ENV (repeatable)")
    sel.add_argument("--region", action="append", default=[], metavar="REGION",
                     help="select targets of REGION (repeatable)")
    adhoc = p.add_argument_group("ad-hoc target (no config file)")
    adhoc.add_argument("--repo", metavar="PATH_OR_URL", help="repository to audit (makes one ad-hoc target)")
    adhoc.add_argument("--ref", default="", metavar="REF", help="branch, tag or commit (default: HEAD)")
    adhoc.add_argument("--path", default="", metavar="DIR",
                       help="directory inside the repository: a kustomize overlay, a Helm chart or plain manifests")
    adhoc.add_argument("--values", action="append", default=[], metavar="FILE",
                       help="values file for a Helm chart --path, relative to the chart or the repository (repeatable)")
    adhoc.add_argument("--snapshot", default="", metavar="DIR", help="read live state from a snapshot directory")
    adhoc.add_argument("--namespace", default="", metavar="NS", help="default namespace (default: default)")
    out = p.add_argument_group("output")
    out.add_argument("--fail-on", choices=SEVERITY_CHOICES, help="exit 1 at this severity or worse (default: high)")
    out.add_argument("--out", metavar="DIR", help="reports directory (default: output.dir of the config)")
    out.add_argument("--keep", type=int, metavar="N", help="keep the last N runs (default: output.keep, 30)")
    out.add_argument("--quiet", "-q", action="store_true", help="print only the report path")
    out.add_argument("--no-color", action="store_true", help="never colour the summary")
    src = p.add_argument_group("sources")
    src.add_argument("--kubeconfig", metavar="FILE", help="use only this kubeconfig file")
    src.add_argument("--worktree", action="store_true",
                     help="render from the repository's working tree instead of a commit (local repos only)")
    src.add_argument("--no-render-cache", action="store_true",
                     help="render every overlay even when an identical render is cached")
    shard.add_arguments(p)
    metrics.add_arguments(p)


@dataclass(frozen=True)
class Outcome:
    """What a finished run produced, for the caller to print."""

    report: AuditReport
    html: Path
    run_dir: Path
    exit_code: int


def load_run_config(args: argparse.Namespace) -> tuple[RunConfig, Selection]:
    """The config for this invocation (ad-hoc flags, or the config file) and the target selection.

    Without Flux discovery the selection is applied here, so a typo fails before any work; with
    ``flux.clusters`` it is applied by the pipeline once the clusters are discovered.
    """
    if args.repo:
        if args.config:
            raise UsageError("--repo makes an ad-hoc target and cannot be combined with --config")
        cfg = adhoc_config(
            repo=args.repo,
            ref=args.ref,
            path=args.path,
            context=(args.context or [""])[0],
            snapshot=args.snapshot,
            env=(args.env or [""])[0],
            region=(args.region or [""])[0],
            namespace=args.namespace,
            cwd=Path.cwd(),
            values=tuple(getattr(args, "values", None) or ()),
        )
        return cfg, Selection()
    path = find_config(args.config)
    if path is None and args.context:
        ctx = args.context[0]
        hint = f"gitops-audit --repo REPO --path OVERLAY --context {ctx}"
        raise UsageError(
            f"--context {ctx}: no config file to pick its targets in (no --config, $GITOPS_AUDIT_CONFIG or "
            f"./gitops-audit.yaml). To audit that cluster against an overlay without a config: {hint}"
        )
    if path is None:
        raise UsageError(
            "no config: pass --config FILE, set $GITOPS_AUDIT_CONFIG, create ./gitops-audit.yaml, "
            "or give an ad-hoc target with --repo/--path/--context (try 'gitops-audit demo')"
        )
    cfg = load_config(path)
    selection = Selection(
        names=tuple(args.target), contexts=tuple(args.context), envs=tuple(args.env), regions=tuple(args.region)
    )
    if cfg.flux.clusters or cfg.argocd.configured:
        return cfg, selection
    if not cfg.targets:
        raise UsageError(f"config {path}: no targets defined (add targets:, flux.clusters, argocd.apps or argocd.root)")
    targets = select_targets(cfg.targets, selection) if not selection.empty else cfg.targets
    return replace(cfg, targets=targets), Selection()


def execute(cfg: RunConfig, args: argparse.Namespace, selection: Selection | None = None) -> Outcome:
    """Run the audit for ``cfg`` and write the reports; returns what the caller prints."""
    from auditor import wiring
    from auditor.pipeline import run_audit
    from auditor.report.history import compare_with_previous, previous_run, write_run

    fail_on = Severity(args.fail_on) if getattr(args, "fail_on", None) else cfg.fail_on
    cfg = replace(cfg, fail_on=fail_on)
    out_dir = Path(args.out) if getattr(args, "out", None) else cfg.resolve(cfg.output.dir)
    keep = args.keep if getattr(args, "keep", None) else cfg.output.keep
    if keep < 1:
        raise UsageError("--keep must be at least 1")
    previous = previous_run(out_dir)
    # Only the first commit of a multi-repository run can seed the window; others fall back to the default.
    previous_commit = previous.commit.split(",")[0].strip() if previous is not None else ""
    opts = wiring.run_options(cfg, args, previous_commit=previous_commit)
    progress = None
    if not getattr(args, "quiet", False) and getattr(args, "log_format", "text") == "text":
        from auditor.report.progress import ProgressDisplay

        progress = ProgressDisplay(sys.stderr, tty=sys.stderr.isatty())
    try:
        report = run_audit(opts, cfg.targets, progress, selection)
    finally:
        if progress is not None:
            progress.close()
    report = compare_with_previous(report, previous)
    paths = write_run(report, out_dir, keep=keep, config_bytes=cfg.raw)
    metrics.emit(report, args, success=not report.partial)
    return Outcome(report=report, html=paths.html, run_dir=paths.run_dir, exit_code=report.exit_code())


def print_outcome(outcome: Outcome, args: argparse.Namespace) -> None:
    """Terminal summary (coloured on a TTY) and where the reports are."""
    from auditor.report.terminal import summary, top_findings

    if getattr(args, "quiet", False):
        print(outcome.html)
        return
    color = sys.stdout.isatty() and not getattr(args, "no_color", False)
    print(summary(outcome.report, color=color))
    top = top_findings(outcome.report, limit=TOP_FINDINGS, color=color)
    if top:
        print(top)
    print(f"HTML report: {outcome.html}")
    print(f"All formats: {outcome.run_dir}")


def handler(args: argparse.Namespace) -> int:
    """Run the audit; exit code per DESIGN §5."""
    cfg, selection = load_run_config(args)
    outcome = execute(cfg, args, selection)
    print_outcome(outcome, args)
    return outcome.exit_code
