"""Find Rego modules and data files the way conftest does, and describe their packages and rules."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.errors import PolicyError
from auditor.util import yamlio

# conftest's rule classes: deny/violation fail, warn warns; `_suffix` variants belong to the same class.
# conftest's exact patterns: `deny__x` and `deny_x_` are helper rules there, not checks.
FAILURE_RULE = re.compile(r"^(deny|violation)(_[A-Za-z0-9]+)*$")
WARNING_RULE = re.compile(r"^warn(_[A-Za-z0-9]+)*$")
TEST_RULE = re.compile(r"^test_[A-Za-z0-9_]*$")
SKIPPED_TEST_RULE = re.compile(r"^todo_test_[A-Za-z0-9_]*$")
"""OPA's tester reports ``todo_test_*`` rules as skipped without evaluating them (conftest verify counts them)."""

_PACKAGE = re.compile(r"^package\s+([A-Za-z_][\w.\[\]\"]*)", re.MULTILINE)
# Rule heads start at column 0 (what `opa fmt` writes). Helper variables inside bodies are indented,
# so they are never taken for rules.
_RULE_HEAD = re.compile(
    r"^(?:default\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*(?=\[|\(|contains\b|if\b|\{|:=|=[^=]|$)", re.MULTILINE
)
_KEYWORDS = {"package", "import", "default", "not", "some", "every", "with", "else"}
_DATA_SUFFIXES = (".json", ".yaml", ".yml")


@dataclass(frozen=True)
class RegoModule:
    """One Rego source file."""

    path: str
    """File path as given (display and error messages use it)."""
    source: str
    package: str
    """Package path without ``data.``, e.g. ``main`` or ``gitops_audit.rbac``."""
    rules: tuple[str, ...]
    """Rule names defined at top level, one entry per definition (so repeats count, like conftest)."""
    is_test: bool = False
    """True for ``*_test.rego`` files: loaded by ``verify`` only."""

    @property
    def v1(self) -> bool:
        """True when the file declares Rego v1 (``import rego.v1``)."""
        return "import rego.v1" in self.source


# One alternation scanned left to right is a small lexer: a string starting first hides a `#` inside it,
# a comment starting first hides quotes inside it.
_STRINGS_AND_COMMENTS = re.compile(r'"(?:\\.|[^"\\\n])*"|`[^`]*`|#[^\n]*')


def strip_comments_and_strings(source: str) -> str:
    """``source`` without comments and with every string literal emptied to ``""`` (offsets not kept).

    Text inside a string or a comment is neither a reference, a keyword nor a rule head.
    """
    return _STRINGS_AND_COMMENTS.sub(lambda m: "" if m.group().startswith("#") else '""', source)


def parse_module(path: str, source: str) -> RegoModule:
    """Describe a Rego file: its package and the names of its top-level rules."""
    text = strip_comments_and_strings(source)
    m = _PACKAGE.search(text)
    if not m:
        raise PolicyError(f"{path}:1:1: load policy: no package declaration")
    package = m.group(1)
    rules = tuple(
        name
        for name in _RULE_HEAD.findall(text[m.end() :])
        if name not in _KEYWORDS
    )
    return RegoModule(path, source, package, rules, is_test=path.endswith("_test.rego"))


def _walk(paths: Iterable[str | Path], suffixes: tuple[str, ...]) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            # Hidden directories (.git, .github) never hold policies; sorted for a deterministic order.
            out.extend(
                f
                for f in sorted(p.rglob("*"))
                if f.is_file()
                and f.name.endswith(suffixes)
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
        else:
            raise PolicyError(f"load policies {raw}: no such file or directory")
    return out


def discover_modules(paths: Sequence[str | Path], *, include_tests: bool = False) -> list[RegoModule]:
    """All ``.rego`` files under ``paths`` (``*_test.rego`` only when ``include_tests``)."""
    modules = []
    for f in _walk(paths, (".rego",)):
        if f.name.endswith("_test.rego") and not include_tests:
            continue
        try:
            source = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"load policy {f}: {exc}") from exc
        modules.append(parse_module(str(f), source))
    return modules


def merge_data(into: dict[str, Any], doc: Mapping[str, Any], source: str, prefix: str = "") -> None:
    """Deep-merge ``doc`` into ``into``; a leaf defined twice with different values is an error (as OPA)."""
    for key, value in doc.items():
        where = f"{prefix}.{key}" if prefix else str(key)
        if key in into and isinstance(into[key], dict) and isinstance(value, Mapping):
            merge_data(into[key], value, source, where)
        elif key in into and into[key] != value:
            raise PolicyError(f"load data {source}: {where} is already defined by another data file")
        else:
            into[key] = json.loads(json.dumps(value)) if isinstance(value, Mapping | list) else value


def load_data(paths: Sequence[str | Path]) -> dict[str, Any]:
    """Load JSON/YAML data files into one ``data`` document, the way conftest's ``--data`` does.

    Every file is merged at the root of ``data``, whatever sub-directory of a given directory it sits in:
    conftest expands ``--data`` into a list of files before handing them to OPA's loader, so each file is its own
    root (``-d data`` with ``data/exclusions/services.yaml`` holding ``{services: [...]}`` gives
    ``data.services``, not ``data.exclusions.services``; conftest issue #535). Objects merge deeply; the same leaf
    with two different values is an error.
    """
    data: dict[str, Any] = {}
    for f in _walk(paths, _DATA_SUFFIXES):
        try:
            docs = yamlio.load_json_or_yaml(f.read_bytes(), str(f))
        except (OSError, ValueError) as exc:
            raise PolicyError(f"load data {f}: {exc}") from exc
        for doc in docs:
            if not isinstance(doc, Mapping):
                raise PolicyError(f"load data {f}: top level must be a mapping")
            merge_data(data, doc, str(f))
    return data
