"""``gitops-audit serve``: a read-only HTTP server for the reports directory (compliance downloads)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    """Add the ``serve`` subcommand."""
    p = subparsers.add_parser(
        "serve",
        help="serve the reports directory over HTTP (GET/HEAD only, optional bearer token)",
        description="Serve the report history read-only: the runs list at /, the newest run under /latest/, "
        "and downloads of every run's CSV, JSON, SARIF, JUnit and evidence bundle. Only GET and HEAD are "
        "accepted. With --token-file, every request needs 'Authorization: Bearer TOKEN' (browsers can use "
        "HTTP Basic with any user name and the token as password).",
    )
    p.add_argument("--reports", default="reports", metavar="DIR", help="reports directory (default: ./reports)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port to bind; 0 picks a free one (default: 8080)")
    p.add_argument("--token-file", metavar="FILE", help="file holding the bearer token (first line)")
    p.set_defaults(func=handler)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _has_runs(reports: Path) -> bool:
    from auditor.report.history import run_dirs

    return bool(run_dirs(reports)) or (reports / "index.html").is_file()


def handler(args: argparse.Namespace) -> int:
    """Bind, print the URL, serve until Ctrl-C; exit 0. Errors (bad dir, bad token file) raise."""
    from auditor.errors import UsageError
    from auditor.report.server import ServerConfig, access_log, make_server, read_token_file, serve_forever

    if not 0 <= args.port <= 65535:
        raise UsageError(f"serve: --port {args.port} is out of range")
    token = read_token_file(args.token_file) if args.token_file else ""
    if not token and not _is_loopback(args.host):
        # Evidence is sensitive (object names, commits, authors): say so loudly, but allow it
        # for setups that put an authenticating proxy in front.
        print(f"warning: serving {args.reports} on {args.host} without --token-file", file=sys.stderr)
    reports = Path(args.reports)
    if reports.is_dir() and not _has_runs(reports):
        # e.g. the repository's own empty reports/: say so rather than serve an empty listing silently.
        print(f"gitops-audit serve: warning: {reports.absolute()} holds no report yet (run an audit with "
              f"--out {args.reports}, or pass --reports DIR); serving it anyway", file=sys.stderr)
    access_log.setLevel(logging.INFO)  # one line per request, whatever -v says
    try:
        server = make_server(ServerConfig(reports=reports, token=token), args.host, args.port)
    except OSError as exc:
        raise UsageError(f"serve {args.host}:{args.port}: {exc.strerror or exc}") from None

    def ready(url: str) -> None:
        print(f"Serving {Path(args.reports).resolve()} at {url} (Ctrl-C to stop)", flush=True)

    serve_forever(server, on_ready=ready)
    return 0
