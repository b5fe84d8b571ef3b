"""Logging setup: text or JSON lines on stderr, with run id and target, and a redaction filter."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime

from auditor.util.redact import redact_text
from auditor.util.text import encodable, terminal_safe

run_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("run_id", default="")
target_var: contextvars.ContextVar[str] = contextvars.ContextVar("target", default="")

def redact(text: str) -> str:
    """Last line of defence: mask bearer tokens, passwords and URL credentials in a log line."""
    return redact_text(text)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = run_id_var.get()
        record.target = target_var.get()
        return True


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        target = getattr(record, "target", "")
        prefix = f"[{target}] " if target else ""
        # Messages quote repositories and API servers: no escape sequence reaches the terminal.
        text = redact(f"gitops-audit: {record.levelname.lower()}: {prefix}{record.getMessage()}")
        return terminal_safe(text)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "run_id": getattr(record, "run_id", ""),
            "target": getattr(record, "target", ""),
            "msg": encodable(redact(record.getMessage())),
        }
        return json.dumps(doc, ensure_ascii=False)


def configure(*, verbose: int = 0, fmt: str = "text") -> None:
    """Install the stderr handler once; ``verbose`` -1 (``-q``) → errors, 0 → warnings, 1 → info, 2+ → debug."""
    root = logging.getLogger("gitops_audit")
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter())
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _TextFormatter())
    root.addHandler(handler)
    root.setLevel(logging.ERROR if verbose < 0 else logging.WARNING if verbose == 0
                  else logging.INFO if verbose == 1 else logging.DEBUG)
    root.propagate = False
    # Libraries (kubernetes, urllib3) log warnings and errors to the root logger; without a handler Python
    # prints them raw. Give them the same redaction and terminal safety as our own lines.
    top = logging.getLogger()
    for h in list(top.handlers):
        if getattr(h, "_gitops_audit", False):
            top.removeHandler(h)
    if not top.handlers:
        library = logging.StreamHandler(sys.stderr)
        library._gitops_audit = True  # type: ignore[attr-defined]
        library.setLevel(logging.WARNING)
        library.addFilter(_ContextFilter())
        library.setFormatter(_JsonFormatter() if fmt == "json" else _TextFormatter())
        top.addHandler(library)
