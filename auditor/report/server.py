"""Read-only report server for compliance downloads (stdlib ``http.server``).

Serves a reports directory as written by :mod:`auditor.report.history`:

- ``/`` → ``index.html`` (runs list with totals and trend); ``/latest/…`` → the newest run;
- ``/<run-id>/report.html`` inline; CSV/JSON/SARIF/JUnit/zip as downloads with a
  ``Content-Disposition: attachment`` file name that carries the run id.

Only GET and HEAD are served; every other method gets 405. Paths are decoded once, split into
segments and checked (no ``..``, no dot-files, no backslashes or NULs), then resolved and
required to stay inside the reports directory, symlinks included. With a token, every request
needs ``Authorization: Bearer <token>`` (or HTTP Basic with the token as password, so a browser
can log in through its own prompt); tokens are compared in constant time and never logged.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import os
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from auditor.errors import ReportError

log = logging.getLogger("gitops_audit.serve")
access_log = logging.getLogger("gitops_audit.access")
"""One line per request (client, request line, status, bytes, seconds); ``serve`` turns it on."""

LATEST = "latest"
CHUNK = 256 * 1024

CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".sarif": "application/sarif+json",
    ".xml": "application/xml",
    ".zip": "application/zip",
    ".txt": "text/plain; charset=utf-8",
    ".sha256": "text/plain; charset=utf-8",
}
INLINE = {".html"}
"""Served for viewing in the browser; everything else is a download."""

# Every response: no sniffing, no framing, no referrer, no caching of evidence by proxies.
_COMMON_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)
# Header CSP for HTML: the page's own <meta> policy allows its hashed script/style; this adds
# what a meta policy cannot express (frame-ancestors) and forbids everything else.
_HTML_CSP = "frame-ancestors 'none'; base-uri 'none'; form-action 'none'; connect-src 'none'"


@dataclass(frozen=True)
class ServerConfig:
    """What the server serves and who may read it."""

    reports: Path
    token: str = ""


def read_token_file(path: str | Path) -> str:
    """The bearer token from a file (first line, whitespace stripped); refuses an empty one."""
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise ReportError(f"read token file {path}: {exc.strerror or exc}") from None
    token = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not token:
        raise ReportError(f"read token file {path}: file is empty")
    if len(token) < 16:
        raise ReportError(f"read token file {path}: token is shorter than 16 characters")
    return token


def _latest_target(root: Path) -> str | None:
    link = root / LATEST
    try:
        if link.is_symlink():
            name = Path(os.readlink(link)).name
        elif link.is_file():
            name = link.read_text("utf-8").strip()
        else:
            return None
    except OSError:
        return None
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    return name


def resolve_request_path(root: Path, raw_path: str) -> Path | None:
    """Map a request path to a file inside ``root``; None when it is unsafe or does not exist.

    ``root`` must already be resolved. Directories map to their ``index.html`` (the root) or
    ``report.html`` (a run directory).
    """
    path = urllib.parse.urlsplit(raw_path).path
    decoded = urllib.parse.unquote(path, errors="strict")
    if "\x00" in decoded or "\\" in decoded:
        return None
    parts = [p for p in decoded.split("/") if p]
    for p in parts:
        if p in (".", "..") or p.startswith("."):
            return None
    if parts and parts[0] == LATEST:
        target = _latest_target(root)
        if target is None:
            return None
        parts[0] = target
    candidate = root.joinpath(*parts) if parts else root
    try:
        real = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if real != root and root not in real.parents:
        return None
    if real.is_dir():
        real = real / ("index.html" if real == root else "report.html")
        if not real.is_file():
            return None
    return real if real.is_file() else None


def _download_name(root: Path, file: Path) -> str:
    rel = file.relative_to(root)
    run = rel.parts[0] if len(rel.parts) > 1 else ""
    name = f"gitops-audit-{run}-{file.name}" if run else f"gitops-audit-{file.name}"
    # The run id and file names are restricted to [0-9A-Za-z._-]; keep the header plain ASCII anyway.
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def _authorized(header: str | None, token: str) -> bool:
    if not token:
        return True
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return hmac.compare_digest(value.encode(), token.encode())
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        _, _, password = decoded.partition(":")
        return hmac.compare_digest(password.encode(), token.encode())
    return False


def make_handler(config: ServerConfig) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to ``config``."""
    root = config.reports.resolve()
    token = config.token

    class Handler(BaseHTTPRequestHandler):
        def version_string(self) -> str:
            """``Server`` header: no Python version (nothing for a scanner to fingerprint)."""
            return "gitops-audit"
        protocol_version = "HTTP/1.1"
        timeout = 30  # seconds per socket read: an idle or trickling client cannot hold a thread forever

        def log_message(self, format: str, *args: Any) -> None:
            access_log.info("%s %s", self.address_string(), format % args)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            """The access-log line: client, request line (never headers: no token), status, bytes, seconds."""
            took = time.monotonic() - getattr(self, "_started", time.monotonic())
            sent = getattr(self, "_length", size)
            status = code.value if isinstance(code, HTTPStatus) else code
            access_log.info('%s "%s" %s %s %.3fs', self.address_string(), self.requestline[:300], status, sent, took)

        def handle_one_request(self) -> None:
            self._started = time.monotonic()
            self._length: int | str = "-"
            try:
                super().handle_one_request()
            except (ConnectionError, TimeoutError):
                # The client went away mid-response (closed tab, curl | head): nothing to report.
                self.close_connection = True

        def _headers(self, status: int, ctype: str, length: int, extra: tuple[tuple[str, str], ...] = ()) -> None:
            self._length = length if self.command != "HEAD" else 0
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(length))
            for k, v in (*_COMMON_HEADERS, *extra):
                self.send_header(k, v)
            self.end_headers()

        def _error(self, status: HTTPStatus, extra: tuple[tuple[str, str], ...] = ()) -> None:
            body = f"{status.value} {status.phrase}\n".encode()
            self._headers(status.value, "text/plain; charset=utf-8", len(body), extra)
            if self.command != "HEAD":
                self.wfile.write(body)

        def _serve(self) -> None:
            if not _authorized(self.headers.get("Authorization"), token):
                self._error(
                    HTTPStatus.UNAUTHORIZED,
                    (("WWW-Authenticate", 'Bearer realm="gitops-audit"'),
                     ("WWW-Authenticate", 'Basic realm="gitops-audit", charset="UTF-8"')),
                )
                return
            try:
                file = resolve_request_path(root, self.path)
            except UnicodeDecodeError:
                file = None
            if file is None:
                self._error(HTTPStatus.NOT_FOUND)
                return
            suffix = file.suffix.lower()
            ctype = CONTENT_TYPES.get(suffix, "application/octet-stream")
            extra: tuple[tuple[str, str], ...]
            if suffix in INLINE:
                extra = (("Content-Security-Policy", _HTML_CSP),)
            else:
                extra = (("Content-Disposition", f'attachment; filename="{_download_name(root, file)}"'),)
            try:
                with file.open("rb") as fh:
                    size = os.fstat(fh.fileno()).st_size
                    self._headers(HTTPStatus.OK.value, ctype, size, extra)
                    if self.command == "HEAD":
                        return
                    while chunk := fh.read(CHUNK):
                        self.wfile.write(chunk)
            except OSError:
                self._error(HTTPStatus.NOT_FOUND)

        def do_GET(self) -> None:
            """Serve a file."""
            self._serve()

        def do_HEAD(self) -> None:
            """Headers only."""
            self._serve()

        def _not_allowed(self) -> None:
            self._error(HTTPStatus.METHOD_NOT_ALLOWED, (("Allow", "GET, HEAD"),))

        do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _not_allowed

    return Handler


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """One log line instead of socketserver's traceback on stderr; disconnects are not errors."""
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        log.error("serve: request from %s failed: %s: %s", client_address[0], type(exc).__name__, exc)


def make_server(config: ServerConfig, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    """A bound (not yet serving) threaded HTTP server; port 0 picks a free port."""
    if not config.reports.is_dir():
        where = config.reports.absolute()
        what = "is not a directory" if config.reports.exists() else "does not exist"
        raise ReportError(f"serve --reports {config.reports}: {where} {what}")
    server = _Server((host, port), make_handler(config))
    server.daemon_threads = True
    return server


def serve_forever(server: ThreadingHTTPServer, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted (Ctrl-C), then close the socket."""
    host, port = str(server.server_address[0]), int(server.server_address[1])
    url = f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
    if on_ready is not None:
        on_ready(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
