"""``gitops-audit codeowners``: who owns a path, and is the CODEOWNERS file itself valid.

``owners PATH…`` prints the owners of each path with the line that decided it (GitHub semantics:
last matching line wins, a line without owners means explicitly unowned). ``check`` lists the
file's invalid lines (GitHub skips them) and, with ``--unowned``, the tracked files nobody owns.
Both read the working tree of ``--repo``, or the committed state at ``--ref``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from auditor.errors import SourceError
from auditor.provenance.codeowners import (
    CODEOWNERS_LOCATIONS,
    CodeOwners,
    load_codeowners,
    load_codeowners_at,
    matching_rule,
)
from auditor.util import proc


def register(subparsers: Any) -> None:
    """Add the ``codeowners`` subcommand with its ``owners`` and ``check`` actions."""
    p = subparsers.add_parser(
        "codeowners",
        help="show CODEOWNERS owners of paths, or check the CODEOWNERS file",
        description="Read the repository's CODEOWNERS (.github/, root or docs/, first found) with GitHub's "
        "semantics.",
    )
    actions = p.add_subparsers(dest="codeowners_action", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--repo", default=".", metavar="DIR", help="repository directory (default: .)")
    common.add_argument("--ref", default="", metavar="REV",
                        help="read CODEOWNERS (and files) at this commit instead of the working tree")
    common.add_argument("-o", "--output", choices=("text", "json"), default="text", help="output format")

    owners = actions.add_parser("owners", parents=[common], help="print the owners of each PATH",
                                description="Print the owners of each repository path and the CODEOWNERS "
                                "line that decided it. Exit 0, or 2 when there is no CODEOWNERS file.")
    owners.add_argument("paths", nargs="+", metavar="PATH", help="repository-relative path(s)")
    owners.set_defaults(func=handler)

    check = actions.add_parser("check", parents=[common], help="report invalid CODEOWNERS lines",
                               description="Report CODEOWNERS lines GitHub would skip (invalid pattern or "
                               "owner), with line numbers. Exit 1 when there are problems (or unowned files "
                               "with --unowned), 0 otherwise, 2 when there is no CODEOWNERS file.")
    check.add_argument("--unowned", action="store_true",
                       help="also list tracked files that no CODEOWNERS line owns")
    check.set_defaults(func=handler)


def _load(repo: Path, ref: str) -> CodeOwners:
    co = load_codeowners_at(repo, ref) if ref else load_codeowners(repo)
    if co is None:
        where = f" at {ref}" if ref else ""
        raise SourceError(
            f"read CODEOWNERS in {repo}{where}: no CODEOWNERS file in {', '.join(CODEOWNERS_LOCATIONS)}"
        )
    return co


def _repo_relative(repo: Path, raw: str) -> str:
    """Accept repository-relative paths, and paths relative to the current directory inside the repo."""
    candidate = Path(raw)
    if candidate.exists() or candidate.is_absolute():
        try:
            return candidate.resolve().relative_to(repo.resolve()).as_posix()
        except ValueError:
            pass
    rel = raw.replace(os.sep, "/")
    while rel.startswith("./"):
        rel = rel[2:]
    return rel.lstrip("/")


def _tracked_files(repo: Path, ref: str) -> list[str]:
    if ref:
        args = ["git", "-C", str(repo), "ls-tree", "-r", "-z", "--name-only", ref]
    else:
        args = ["git", "-C", str(repo), "ls-files", "-z"]
    out = proc.run(args, action=f"list files in {repo}").stdout.decode("utf-8", "replace")
    return sorted(p for p in out.split("\0") if p)


def owners_report(co: CodeOwners, paths: list[str]) -> list[dict[str, Any]]:
    """Per path: owners (``None`` when no rule matched), status, and the deciding line."""
    rows: list[dict[str, Any]] = []
    for path in paths:
        rule = matching_rule(co, path)
        if rule is None:
            rows.append({"path": path, "owners": None, "status": "unmatched", "line": None, "pattern": None})
        else:
            rows.append({"path": path, "owners": list(rule.owners),
                         "status": "owned" if rule.owners else "unowned",
                         "line": rule.line, "pattern": rule.pattern})
    return rows


def handler(args: argparse.Namespace) -> int:
    """Run ``codeowners owners`` or ``codeowners check``; returns the exit code."""
    repo = Path(args.repo)
    co = _load(repo, args.ref)
    if args.codeowners_action == "owners":
        rows = owners_report(co, [_repo_relative(repo, p) for p in args.paths])
        if args.output == "json":
            print(json.dumps({"codeowners": co.path, "paths": rows}, indent=2))
            return 0
        width = max(len(r["path"]) for r in rows)
        for r in rows:
            if r["status"] == "unmatched":
                what = "(no matching rule)"
            elif r["status"] == "unowned":
                what = f"(explicitly unowned: {co.path}:{r['line']} {r['pattern']})"
            else:
                what = f"{' '.join(r['owners'])}  ({co.path}:{r['line']} {r['pattern']})"
            print(f"{r['path']:<{width}}  {what}")
        return 0

    problems = [{"line": p.line, "message": p.message, "text": p.text} for p in co.problems]
    unowned: list[str] = []
    if getattr(args, "unowned", False):
        unowned = [r["path"] for r in owners_report(co, _tracked_files(repo, args.ref)) if not r["owners"]]
    failed = bool(problems or unowned)
    if args.output == "json":
        print(json.dumps({"codeowners": co.path, "rules": len(co.rules), "problems": problems,
                          "unowned": unowned, "ok": not failed}, indent=2))
        return 1 if failed else 0
    for p in co.problems:
        print(f"{co.path}:{p.line}: {p.message}")
    for path in unowned:
        print(f"unowned: {path}")
    if not failed:
        print(f"{co.path}: {len(co.rules)} rules, no problems")
    return 1 if failed else 0
