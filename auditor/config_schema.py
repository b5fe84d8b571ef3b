"""A tiny validating reader for YAML config trees that reports ``file:line: key.path: problem``.

Kept separate from ``config.py`` so the mapping from YAML to dataclasses reads as a list of keys,
while the mechanics (line lookup, type checks, unknown keys) live here once.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from auditor.errors import ConfigError

PathT = tuple[str | int, ...]


def dotted(path: PathT) -> str:
    """``("targets", 2, "path")`` → ``targets[2].path``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


class Node:
    """A position in the config tree: value, path and enough context to report errors with lines."""

    def __init__(self, value: Any, path: PathT, source: str, lines: Mapping[PathT, int]) -> None:
        self.value = value
        self.path = path
        self.source = source
        self._lines = lines

    def line(self, path: PathT | None = None) -> int | None:
        """Line of ``path`` (or of this node), walking up to the nearest known parent."""
        p = self.path if path is None else path
        while True:
            if p in self._lines:
                return self._lines[p]
            if not p:
                return None
            p = p[:-1]

    def error(self, problem: str, path: PathT | None = None) -> ConfigError:
        """A ConfigError located at ``path`` (default: this node)."""
        p = self.path if path is None else path
        line = self.line(p)
        where = f"{self.source}:{line}" if line else self.source
        return ConfigError(f"{where}: {dotted(p)}: {problem}")

    def child(self, key: str | int, value: Any) -> Node:
        """Node for a child value."""
        return Node(value, (*self.path, key), self.source, self._lines)

    # -- mappings -----------------------------------------------------------------------
    def mapping(self, allowed: Sequence[str]) -> Node:
        """Assert this node is a mapping whose keys are all in ``allowed``."""
        if self.value is None:
            self.value = {}
        if not isinstance(self.value, dict):
            raise self.error(f"expected a mapping, got {type_name(self.value)}")
        for key in self.value:
            if key not in allowed:
                hint = ", ".join(sorted(allowed))
                raise self.error(f"unknown key {key!r} (expected one of: {hint})", (*self.path, str(key)))
        return self

    def get(self, key: str) -> Node:
        """Child node for ``key`` (value None when absent)."""
        return self.child(key, self.value.get(key) if isinstance(self.value, dict) else None)

    def has(self, key: str) -> bool:
        """True when the mapping has ``key`` with a non-null value."""
        return isinstance(self.value, dict) and self.value.get(key) is not None

    # -- scalars ------------------------------------------------------------------------
    def string(self, key: str, default: str = "", *, required: bool = False, choices: Sequence[str] = ()) -> str:
        """A string value (numbers are accepted and converted, as YAML users expect for refs like 1.2)."""
        node = self.get(key)
        if node.value is None:
            if required:
                raise self.error(f"missing required key {key!r}", (*self.path, key)) from None
            return default
        if isinstance(node.value, datetime.date):  # YAML reads 2027-03-31 as a date; we keep ISO text
            return node.value.isoformat()
        if isinstance(node.value, bool) or not isinstance(node.value, str | int | float):
            raise node.error(f"expected a string, got {type_name(node.value)}")
        text = str(node.value)
        if choices and text not in choices:
            raise node.error(f"must be one of {', '.join(choices)}, got {text!r}")
        return text

    def integer(self, key: str, default: int, *, minimum: int | None = None) -> int:
        """An integer value."""
        node = self.get(key)
        if node.value is None:
            return default
        if isinstance(node.value, bool) or not isinstance(node.value, int):
            raise node.error(f"expected an integer, got {type_name(node.value)}")
        if minimum is not None and node.value < minimum:
            raise node.error(f"must be at least {minimum}, got {node.value}")
        return int(node.value)

    def auto_count(self, key: str, auto: int, *, minimum: int) -> int:
        """``auto`` (also when absent) or an integer of at least ``minimum``: a number of processes."""
        node = self.get(key)
        if node.value in (None, "auto"):
            return auto
        if isinstance(node.value, str):
            raise node.error(f"expected 'auto' or a number of processes, got {node.value!r}")
        return self.integer(key, auto, minimum=minimum)

    def number(self, key: str, default: float, *, minimum: float | None = None) -> float:
        """A number (int or float)."""
        node = self.get(key)
        if node.value is None:
            return default
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise node.error(f"expected a number, got {type_name(node.value)}")
        if minimum is not None and node.value < minimum:
            raise node.error(f"must be at least {minimum}, got {node.value}")
        return float(node.value)

    def boolean(self, key: str, default: bool) -> bool:
        """A boolean value."""
        node = self.get(key)
        if node.value is None:
            return default
        if not isinstance(node.value, bool):
            raise node.error(f"expected true or false, got {type_name(node.value)}")
        return bool(node.value)

    def strings(self, key: str, default: Sequence[str] = ()) -> tuple[str, ...]:
        """A list of strings (a single string is accepted as a one-item list)."""
        node = self.get(key)
        if node.value is None:
            return tuple(default)
        if isinstance(node.value, str):
            return (node.value,)
        if not isinstance(node.value, list):
            raise node.error(f"expected a list of strings, got {type_name(node.value)}")
        out = []
        for i, item in enumerate(node.value):
            if not isinstance(item, str | int | float) or isinstance(item, bool):
                raise node.child(i, item).error(f"expected a string, got {type_name(item)}")
            out.append(str(item))
        return tuple(out)

    def items(self, key: str) -> list[Node]:
        """Child nodes of a list value."""
        node = self.get(key)
        if node.value is None:
            return []
        if not isinstance(node.value, list):
            raise node.error(f"expected a list, got {type_name(node.value)}")
        return [node.child(i, v) for i, v in enumerate(node.value)]

    def string_map(self, key: str) -> dict[str, str]:
        """A mapping of strings to strings."""
        node = self.get(key)
        if node.value is None:
            return {}
        if not isinstance(node.value, dict):
            raise node.error(f"expected a mapping, got {type_name(node.value)}")
        return {str(k): str(v) for k, v in node.value.items()}


def type_name(value: Any) -> str:
    """YAML-flavoured type name for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
