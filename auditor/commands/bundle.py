"""``gitops-audit verify-bundle FILE``: check an evidence bundle against its manifest."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``verify-bundle`` subcommand."""
    p = subparsers.add_parser(
        "verify-bundle",
        help="verify an evidence bundle (sha256 of every file against manifest.json)",
        description="Check an evidence bundle written by a run (reports/<run-id>/evidence.zip): every file "
        "listed in manifest.json must be present with the recorded sha256 and size, and no file may have "
        "been added. Exits 0 when the bundle verifies, 1 when it does not.",
    )
    p.add_argument("file", metavar="FILE", help="evidence bundle (.zip)")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing; only the exit code tells")
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    """Verify the bundle; print the verdict and any problems; 0 ok, 1 failed."""
    from auditor.report.bundle import verify

    result = verify(args.file)
    if args.quiet:
        return 0 if result.ok else 1
    man = result.manifest
    if result.ok:
        print(
            f"OK: {args.file}: {result.checked} files match manifest.json "
            f"(run {man.get('run_id', '?')}, commit {str(man.get('commit', '?'))[:12]}, "
            f"tool {man.get('tool_version', '?')}, created {man.get('created', '?')})"
        )
        return 0
    print(f"FAILED: {args.file}: {len(result.problems)} problem(s)")
    for problem in result.problems:
        print(f"  - {problem}")
    return 1
