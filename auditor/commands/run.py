"""``gitops-audit run``: audit the selected targets and write the reports."""

from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from auditor import metrics, shard
from auditor.config import RunConfig, Selection, adhoc_config, find_config, load_config, select_targets
from auditor.errors import ReportError, UsageError
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


class ReportNotWritten(ReportError):
    """The audit ran but its reports could not be written (disk full, read-only, quota): exit 2, one line."""

    def __init__(self, message: str, report: AuditReport) -> None:
        super().__init__(message)
        self.report = report


def _not_written(exc: OSError, where: Path, report: AuditReport) -> ReportNotWritten:
    path = exc.filename or where
    return ReportNotWritten(f"write report {path}: {exc.strerror or exc}", report)


@dataclass(frozen=True)
class Outcome:
    """What a finished run produced, for the caller to print."""

    report: AuditReport
    html: Path
    run_dir: Path
    exit_code: int
    bundle: Path | None = None


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
    import tempfile

    from auditor import wiring
    from auditor.pipeline import run_audit
    from auditor.pipeline_catalog import evidenced_controls
    from auditor.pipeline_evidence import Spool
    from auditor.report.history import compare_with_previous, previous_run, write_run
    from auditor.report.signing import load_signing_key

    fail_on = Severity(args.fail_on) if getattr(args, "fail_on", None) else cfg.fail_on
    cfg = replace(cfg, fail_on=fail_on)
    out_dir = Path(args.out) if getattr(args, "out", None) else cfg.resolve(cfg.output.dir)
    keep = args.keep if getattr(args, "keep", None) else cfg.output.keep
    if keep < 1:
        raise UsageError("--keep must be at least 1")
    key = load_signing_key(cfg.evidence)  # an unreadable key is exit 2, before any work
    if key is None and cfg.evidence.require_signature:
        raise UsageError("evidence.require_signature: no signing key (set evidence.signing_key_file, "
                         f"signing_key_dir or ${cfg.evidence.signing_key_env})")
    scope = wiring.run_scope(cfg, args, selection)
    previous = previous_run(out_dir, scope)
    # Only the first commit of a multi-repository run can seed the window; others fall back to the default.
    previous_commit = previous.commit.split(",")[0].strip() if previous is not None else ""
    opts = replace(wiring.run_options(cfg, args, previous_commit=previous_commit, previous=previous), scope=scope)
    progress = None
    if not getattr(args, "quiet", False) and getattr(args, "log_format", "text") == "text":
        from auditor.report.progress import ProgressDisplay

        progress = ProgressDisplay(sys.stderr, tty=sys.stderr.isatty())
    with tempfile.TemporaryDirectory(prefix="gitops-audit-evidence-") as spool_dir:
        spool = Spool(Path(spool_dir)) if cfg.evidence.include_state else None
        try:
            report = run_audit(opts, cfg.targets, progress, selection, spool=spool)
        finally:
            if progress is not None:
                progress.close()
        report = compare_with_previous(report, previous)
        state = None
        if spool is not None:
            spool.write_config(cfg.raw, wiring.effective_config(opts))
            state = spool.finish({"run_id": report.run_id, "started": report.started, "scope": scope,
                                  "fail_on": fail_on.value})
        try:
            paths = write_run(report, out_dir, keep=keep, config_bytes=cfg.raw, state=state, signing_key=key,
                              controls=evidenced_controls(report))
        except OSError as exc:  # ENOSPC, EFBIG (file size limit), EDQUOT, EROFS, EACCES: not a bug, say where
            raise _not_written(exc, out_dir, report) from None
    try:
        metrics.emit(report, args, success=not report.partial)
    except OSError as exc:
        raise _not_written(exc, Path(getattr(args, "metrics_file", "") or out_dir), report) from None
    return Outcome(report=replace(report, signing_key_id=paths.key_id), html=paths.html, run_dir=paths.run_dir,
                   exit_code=report.exit_code(), bundle=paths.bundle)


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
    if outcome.bundle is not None:
        key_id = outcome.report.signing_key_id
        if key_id:
            print(f"Evidence: {outcome.bundle} (signed, Ed25519 key id {key_id[:16]})")
        else:
            print(f"Evidence: {outcome.bundle} is UNSIGNED (no signing key configured: evidence.signing_key_*)")


def handler(args: argparse.Namespace) -> int:
    """Run the audit; exit code per DESIGN §5 (3 after SIGTERM, 130 after SIGINT, with a partial report)."""
    from auditor.util import stop

    # SIGTERM/SIGINT stop the work (children killed, remaining targets "interrupted") and the partial
    # report is still written; a second signal ends the process at once.
    with stop.graceful_signals():
        cfg, selection = load_run_config(args)
        try:
            outcome = execute(cfg, args, selection)
        except ReportNotWritten as exc:
            if not getattr(args, "quiet", False):  # the audit happened: show its result, then the error
                from auditor.report.terminal import summary

                print(summary(exc.report, color=sys.stdout.isatty() and not getattr(args, "no_color", False)))
            raise
    print_outcome(outcome, args)
    if stop.requested():
        return 130 if stop.signal_number() == signal.SIGINT else max(outcome.exit_code, 3)
    return outcome.exit_code
