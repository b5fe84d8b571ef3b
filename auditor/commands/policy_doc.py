"""``gitops-audit policy doc``: print the rule catalogue (Markdown or JSON); its arguments are in policy.py.

``policy doc [-p DIR…] [--no-builtin] [-o markdown|json] [--output-file FILE]`` lists every rule the run
would know: the built-in pack (unless ``--no-builtin``), the Rego files under each ``-p`` (their
``# METADATA``), and the drift, change-control and engine rules; with title, description, remediation,
kinds, the controls each gives evidence for and the equivalent Polaris, Kubescape and kube-linter checks.
A METADATA block that is not valid YAML is printed on stderr as ``file:line: problem`` and exits 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from auditor.catalog.doc import to_json, to_markdown
from auditor.catalog.load import load_catalog, rego_sources
from auditor.errors import UsageError
from auditor.policy.builtin import builtin_policy_dir
from auditor.util.fs import atomic_write


def handler(args: argparse.Namespace) -> int:
    """Print (or write) the catalogue; exit 2 on a path that does not exist or unreadable METADATA."""
    dirs: list[str | Path] = [] if args.no_builtin else [builtin_policy_dir()]
    for p in args.policy:
        if not Path(p).exists():
            raise UsageError(f"policy doc: {p}: no such file or directory")
        dirs.append(p)
    catalog = load_catalog(rego_sources(dirs))
    text = to_json(catalog) if args.output == "json" else to_markdown(catalog)
    if args.output_file:
        atomic_write(Path(args.output_file), text.encode("utf-8"))
    else:
        sys.stdout.write(text)
    for problem in catalog.problems:
        sys.stderr.write(f"gitops-audit: {problem}\n")
    return 2 if catalog.problems else 0
