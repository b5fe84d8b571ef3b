"""``gitops-audit policy test|verify``: conftest-compatible policy runs on files.

``policy test FILE|DIR… -p POLICY_DIR [--builtin] [-d DATA] [-n NS | --all-namespaces] [--combine]
[-o FORMAT] [--fail-on-warn] [--no-fail] [--engine embedded|opa-go|opa]`` exits like conftest: 0 clean,
1 failures (with ``--fail-on-warn``: 1 warnings,
2 failures; with ``--no-fail`` always 0), 1 when no input file is found. ``policy verify -p POLICY_DIR`` runs the
``test_*`` rules (``todo_test_*`` are skipped) and exits 1 when one fails. Both use ``./data`` when ``-d`` is not
given and that directory exists. A policy that does not compile, an evaluation error, or policies whose
selected namespaces hold no rule at all raise :class:`~auditor.errors.PolicyError` (exit 2 in the CLI; conftest
exits 1 on an error and 0 when no rule ran). ``--builtin`` (or ``-p`` naming the built-in pack) selects the pack's
packages as well.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from auditor.policy.conftest import exit_code, run_test, run_verify
from auditor.policy.options import PolicyOptions
from auditor.policy.output import FORMATS, render, render_verify


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-p", "--policy", action="append", default=None, metavar="DIR",
        help="policy file or directory (repeatable; default: policy)",
    )
    p.add_argument(
        "-d", "--data", action="append", default=[], metavar="PATH",
        help="data file or directory (repeatable; default: ./data when it exists)",
    )
    p.add_argument(
        "--builtin", action="store_true",
        help="add the built-in pack (its packages are selected too; a -p pointing at the pack does the same)",
    )
    p.add_argument(
        "--engine", choices=("embedded", "opa-go", "opa"), default="embedded",
        help="Rego engine: embedded (regorus, default), opa-go (OPA's Go engine in process), opa (an OPA server)",
    )
    p.add_argument("--opa-url", default="", help="OPA server URL for --engine opa")
    p.add_argument("--opa-library", default="", metavar="PATH", help="libopabridge.so for --engine opa-go")


def register(subparsers: Any) -> None:
    """Add ``policy`` with its ``test`` and ``verify`` subcommands."""
    parser = subparsers.add_parser("policy", help="run Rego policies on files, like conftest")
    sub = parser.add_subparsers(dest="policy_command", required=True)

    test = sub.add_parser("test", help="evaluate policies on YAML/JSON files (conftest test)")
    test.add_argument("paths", nargs="+", metavar="FILE|DIR")
    _common(test)
    ns = test.add_mutually_exclusive_group()
    ns.add_argument("-n", "--namespace", action="append", default=None, help="Rego package (repeatable; default: main)")
    ns.add_argument("--all-namespaces", action="store_true", help="evaluate every package")
    test.add_argument("--combine", action="store_true", help="one input holding all documents")
    test.add_argument("-o", "--output", choices=FORMATS, default="stdout")
    test.add_argument("--fail-on-warn", action="store_true", help="exit 1 on warnings, 2 on failures")
    test.add_argument("--no-fail", action="store_true", help="exit 0 even when a policy fails")
    test.add_argument("--show-secrets", action="store_true",
                      help="give policies Secret values as written (conftest's behaviour); by default they are "
                      "masked as *** like in an audit, so no policy message can print one")
    test.set_defaults(func=handler)

    verify = sub.add_parser("verify", help="run the policies' test_* rules (conftest verify)")
    _common(verify)
    verify.set_defaults(func=handler)

    _register_doc(sub)


def _register_doc(sub: Any) -> None:
    """``policy doc``: the rule catalogue; the command lives in policy_doc.py, imported only when it runs."""
    doc = sub.add_parser("doc", help="print the rule catalogue: titles, remediation, controls, equivalent checks")
    doc.add_argument(
        "-p", "--policy", action="append", default=[], metavar="DIR",
        help="also read the METADATA of these policy files or directories (repeatable)",
    )
    doc.add_argument("--no-builtin", action="store_true", help="leave the built-in pack out")
    doc.add_argument("-o", "--output", choices=("markdown", "json"), default="markdown")
    doc.add_argument("--output-file", metavar="FILE", default="", help="write to FILE instead of stdout")
    doc.set_defaults(func=_doc)


def _doc(args: argparse.Namespace) -> int:
    from auditor.commands.policy_doc import handler as doc_handler

    return doc_handler(args)


def _data_paths(given: list[str]) -> tuple[str, ...]:
    # conftest (test and verify) falls back to ./data when no -d is given and that directory exists.
    if not given and Path("data").is_dir():
        return ("data",)
    return tuple(given)


def _options(args: argparse.Namespace) -> PolicyOptions:
    given = args.policy or ([] if args.builtin else ["policy"])
    return PolicyOptions(
        dirs=tuple(given),
        builtin=bool(args.builtin),
        data=_data_paths(args.data),
        namespaces=tuple(getattr(args, "namespace", None) or ["main"]),
        all_namespaces=bool(getattr(args, "all_namespaces", False)),
        engine=args.engine,
        opa_url=args.opa_url,
        opa_library=args.opa_library,
    )


def handler(args: argparse.Namespace) -> int:
    """Run ``policy test`` or ``policy verify``; returns conftest's exit code."""
    options = _options(args)
    if args.policy_command == "verify":
        outcomes = run_verify(options)
        sys.stdout.write(render_verify(outcomes))
        return 0 if all(o.passed or o.skipped for o in outcomes) else 1
    results = run_test(args.paths, options, combine=args.combine, mask_secrets=not args.show_secrets)
    sys.stdout.write(render(results, args.output))
    return exit_code(results, fail_on_warn=args.fail_on_warn, no_fail=args.no_fail)
