"""Logging setup: text or JSON lines on stderr, with run id and target, and a redaction filter."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime

run_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("run_id", default="")
target_var: contextvars.ContextVar[str] = contextvars.ContextVar("target", default="")

# Last line of defence: whatever reaches a log line, credentials shaped like these are masked.
_REDACT = (
    re.compile(r"(?i)(authorization:\s*bearer\s+)[^\s'\"]+"),
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)((?:token|password|client-key-data|client-certificate-data)[\"']?\s*[:=]\s*[\"']?)[^\s'\",}]+"),
    re.compile(r"(://[^/\s:@]+:)[^@\s/]+(@)"),
)


def redact(text: str) -> str:
    """Mask bearer tokens, passwords and URL credentials in free text."""
    for pattern in _REDACT:
        text = pattern.sub(lambda m: m.group(1) + "***" + (m.group(2) if m.lastindex == 2 else ""), text)
    return text


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = run_id_var.get()
        record.target = target_var.get()
        return True


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        target = getattr(record, "target", "")
        prefix = f"[{target}] " if target else ""
        return redact(f"gitops-audit: {record.levelname.lower()}: {prefix}{record.getMessage()}")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "run_id": getattr(record, "run_id", ""),
            "target": getattr(record, "target", ""),
            "msg": redact(record.getMessage()),
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
