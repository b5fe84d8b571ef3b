"""Text forms shared by the engine's messages and the renderers: paths, times, values, attribution.

One path syntax everywhere (messages, ``FieldChange.path``, text and JSON output of ``diff``):
dotted keys, list items by merge key in brackets (``ports[containerPort=80,protocol=TCP]``), set
items by value (``finalizers[example.com/x]``), atomic list items by index (``rules[0]``), and keys
containing dots, brackets or spaces quoted (``annotations["example.com/x"]``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from auditor.model import LiveProvenance

ABSENT = "(absent)"


def format_path(path: Sequence[str]) -> str:
    """``spec.template.spec.containers[name=web].image``; keys with dots are quoted in brackets."""
    out: list[str] = []
    for seg in path:
        if seg.startswith("["):
            out.append(seg)
        elif "." in seg or "[" in seg or " " in seg:
            out.append(f'["{seg}"]')
        else:
            out.append(("." if out else "") + seg)
    return "".join(out)


def format_time(ts: str) -> str:
    """ManagedFields time to minute precision: ``2026-11-20T03:12Z``."""
    if len(ts) >= 16 and ts[10:11] == "T":
        return ts[:16] + "Z"
    return ts


def format_value(value: Any, limit: int = 80) -> str:
    """Compact one-line rendering of a value for messages."""
    if value is None:
        return ABSENT
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def attribution_text(live: LiveProvenance | None) -> str:
    """``kubectl-scale, 2026-11-20T03:12Z`` (or '' when unknown)."""
    if live is None:
        return ""
    parts = [live.manager] + ([format_time(live.time)] if live.time else [])
    return ", ".join(parts)
