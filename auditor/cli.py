"""Command line: parse arguments, dispatch to a command module, map errors to exit codes.

Exit codes (DESIGN §5): 0 clean, 1 findings at/above ``--fail-on``, 2 usage/config error,
3 partial audit; 4 is reserved for internal errors (bugs), reported in one line unless ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from auditor import __version__
from auditor.errors import AuditorError

# Subcommand modules under auditor/commands, in --help order. Each has register(subparsers).
COMMANDS: tuple[str, ...] = (
    "run",
    "demo",
    "diff",
    "policy",
    "codeowners",
    "render",
    "snapshot",
    "rbac",
    "tools",
    "serve",
    "bundle",
    "report_merge",
)
DEFAULT_COMMAND = "run"
EXIT_INTERNAL = 4


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="gitops-audit",
        description="Agentless, read-only GitOps auditor: drift, policy and change control for Kustomize/Flux "
        "fleets. Without a subcommand, 'run' is assumed: gitops-audit --context prod-us",
    )
    parser.add_argument("--version", action="version", version=f"gitops-audit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for internal errors")
    parser.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="log line format on stderr (default: text)"
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (repeatable)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"auditor.commands.{name}")
        module.register(subparsers)
    return parser


def _with_default_command(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """Insert ``run`` when no subcommand is given, so ``gitops-audit --context prod-us`` works."""
    commands: set[str] = set()
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        commands.update(getattr(action, "choices", None) or {})
    global_flags = {"--debug", "-v", "--verbose", "-vv", "-vvv"}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in commands:
            return argv
        if arg in ("-h", "--help", "--version"):
            return argv
        if arg == "--log-format":
            i += 2
            continue
        if arg.startswith("--log-format=") or arg in global_flags:
            i += 1
            continue
        break
    return [*argv[:i], DEFAULT_COMMAND, *argv[i:]]


def _setup_logging(verbose: int, fmt: str) -> None:
    from auditor.logs import configure

    configure(verbose=verbose, fmt=fmt)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gitops-audit`` console script; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(_with_default_command(args_list, parser))
    _setup_logging(args.verbose, args.log_format)
    handler = getattr(args, "func", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args))
    except AuditorError as exc:
        print(f"gitops-audit: error: {_shown(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("gitops-audit: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"gitops-audit: internal error: {type(exc).__name__}: {_shown(str(exc))} (re-run with --debug for details)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def _shown(message: str) -> str:
    """An error as the terminal may show it: one line, no credentials, no escape sequences."""
    from auditor.util.redact import redact_text
    from auditor.util.text import terminal_safe

    return terminal_safe(redact_text(message), one_line=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
