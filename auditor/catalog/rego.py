"""Read ``# METADATA`` annotations from Rego source text, statically (no engine needed).

OPA's rules: a block starts with a comment line ``# METADATA`` at column 0; the following comment lines
(column 0) hold a YAML document; it annotates the next statement (a rule, or the package). Our custom
fields live under ``custom``: ``rule_id``, ``severity``, ``remediation``, ``kinds``, ``unit``,
``requires``, ``controls``, ``equivalents`` (see the README, "Policies").
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from auditor.catalog.model import KIND_GROUPS, RuleInfo

_PACKAGE = re.compile(r"^package\s+([A-Za-z_][\w.]*)", re.MULTILINE)
_STATEMENT = re.compile(r"^(?:default\s+)?([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class MetadataBlock:
    """One METADATA block: where it is, what it annotates and its YAML value."""

    path: str
    line: int
    """1-based line of ``# METADATA``."""
    package: str
    target: str
    """Name of the annotated rule, or ``package`` for a package-scoped block."""
    data: Any


def metadata_blocks(path: str, text: str) -> Iterator[MetadataBlock | str]:
    """The METADATA blocks of a file, or ``file:line: problem`` strings for blocks that do not parse."""
    m = _PACKAGE.search(text)
    package = m.group(1) if m else ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].rstrip() != "# METADATA":
            i += 1
            continue
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].startswith("#"):
            body.append(lines[i][2:] if lines[i].startswith("# ") else lines[i][1:])
            i += 1
        j = i
        while j < len(lines) and not lines[j].strip():
            j += 1
        statement = lines[j] if j < len(lines) else ""
        target = "package" if statement.startswith("package ") else ""
        if not target:
            sm = _STATEMENT.match(statement)
            target = sm.group(1) if sm else ""
        try:
            data = yaml.safe_load("\n".join(body))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = start + 2 + (mark.line if mark is not None else 0)
            yield f"{path}:{where}: METADATA is not valid YAML: {getattr(exc, 'problem', None) or exc}"
            continue
        if not isinstance(data, Mapping):
            yield f"{path}:{start + 1}: METADATA is not a YAML mapping"
            continue
        yield MetadataBlock(path, start + 1, package, target, data)


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value if v is not None)
    return (str(value),)


def _mapping_of_strings(value: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): _strings(v) for k, v in value.items() if _strings(v)}


def expand_kinds(kinds: Any) -> tuple[str, ...]:
    """Kinds listed by a rule, with group names (``workloads``…) replaced by their kinds; sorted."""
    out: set[str] = set()
    for k in _strings(kinds):
        out.update(KIND_GROUPS.get(k, (k,)))
    return tuple(sorted(out))


def rule_info(block: MetadataBlock) -> RuleInfo:
    """The catalogue entry a METADATA block describes (a package default when it annotates the package)."""
    data = block.data
    custom = data.get("custom") if isinstance(data.get("custom"), Mapping) else {}
    rule_id = str(custom.get("rule_id") or "")
    if not rule_id:
        rule_id = block.package if block.target == "package" else f"{block.package}.{block.target}"
    return RuleInfo(
        rule_id=rule_id,
        title=str(data.get("title") or rule_id),
        description=" ".join(str(data.get("description") or "").split()),
        remediation=str(custom.get("remediation") or ""),
        severity=str(custom.get("severity") or "").lower(),
        category="policy",
        level="" if block.target == "package" else block.target,
        package=block.package,
        kinds=expand_kinds(custom.get("kinds")),
        unit=str(custom.get("unit") or "object"),
        requires=str(custom.get("requires") or ""),
        default_on=custom.get("default", True) not in (False, "off", "false", "no"),
        controls=_mapping_of_strings(custom.get("controls")),
        equivalents=_mapping_of_strings(custom.get("equivalents")),
        source=f"{block.path}:{block.line}",
    )
