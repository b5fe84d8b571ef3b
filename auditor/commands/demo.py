"""``gitops-audit demo``: create the demo fleet repository and audit it end-to-end."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from auditor.commands.run import execute, print_outcome


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    p = subparsers.add_parser(
        "demo",
        help="create a demo fleet (git repo + cluster snapshots with drift) and audit it",
        description="Create a demo fleet git repository with a multi-author history, Kustomize overlays for "
        "dev/staging/production x us-east/eu-west, and offline cluster snapshots with realistic drift; then run "
        "a full audit on it. Needs no network and no cluster, only kubectl (or kustomize) on PATH.",
    )
    p.add_argument("--dir", default="demo-fleet", metavar="DIR", help="demo directory (default: ./demo-fleet)")
    p.add_argument("--force", action="store_true", help="replace DIR if it already holds a demo fleet")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the report path")
    p.add_argument("--no-color", action="store_true", help="never colour the summary")
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    """Create the fleet, audit it, and print how to run the same audit the normal way.

    Exits 0 when the audit ran: a demo that finds drift has succeeded.
    """
    import shutil

    from auditor.config import load_config
    from auditor.demo.fleet import create_demo
    from auditor.errors import ToolError
    from auditor.render.tools import find_kustomize
    from auditor.repo.options import SourceOptions

    # Tools first: a fleet built for an audit that cannot run would only be in the way of the next try.
    if shutil.which("git") is None:
        raise ToolError("demo: git not found on PATH (the demo fleet is a git repository)")
    try:
        find_kustomize(SourceOptions())
    except ToolError as exc:
        raise ToolError(f"demo: {exc}; 'gitops-audit tools install kubectl --dest ~/.local/bin' installs a pinned, "
                        "checksum-verified kubectl (it includes kustomize)") from None
    existed = Path(args.dir).exists()
    fleet = create_demo(Path(args.dir), force=args.force)
    try:
        cfg = load_config(fleet.config)
        run_args = argparse.Namespace(fail_on=None, out=None, keep=None, quiet=args.quiet, no_color=args.no_color,
                                      kubeconfig=None, worktree=False, log_format=getattr(args, "log_format", "text"))
        outcome = execute(cfg, run_args)
    except BaseException:
        if not existed:  # ours entirely: remove it, so running demo again just works
            shutil.rmtree(fleet.root, ignore_errors=True)
        raise
    print_outcome(outcome, run_args)
    if not args.quiet:
        config_arg = shlex.quote(str(Path(args.dir) / fleet.config.name))
        print()
        print(f"Demo fleet created in {fleet.root} (exit code of this audit: {outcome.exit_code}).")
        print(f"Run the same audit the normal way (exits 1 because of the findings):\n"
              f"  gitops-audit run --config {config_arg}")
    return 0
