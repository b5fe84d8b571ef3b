"""Build the catalogue: the data files shipped with the package plus the METADATA of Rego sources."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from auditor.catalog.model import Catalog, Framework, RuleInfo, Tool
from auditor.catalog.rego import MetadataBlock, expand_kinds, metadata_blocks, rule_info


def _data(name: str) -> Any:
    return yaml.safe_load(resources.files("auditor.catalog").joinpath(f"data/{name}").read_text("utf-8"))


@functools.cache
def frameworks() -> tuple[dict[str, Framework], dict[str, Tool]]:
    """The frameworks and tools of ``data/frameworks.yaml``."""
    raw = _data("frameworks.yaml")
    fws = {
        key: Framework(
            key=key,
            name=str(v["name"]),
            version=str(v.get("version", "")),
            url=str(v.get("url", "")),
            controls={str(c): str(t) for c, t in (v.get("controls") or {}).items()},
        )
        for key, v in raw["frameworks"].items()
    }
    tools = {key: Tool(key, str(v["name"]), str(v.get("url", ""))) for key, v in raw["tools"].items()}
    return fws, tools


@functools.cache
def data_rules() -> dict[str, RuleInfo]:
    """The rules of ``data/rules.yaml`` (drift, change control, coverage, policy engine)."""
    out: dict[str, RuleInfo] = {}
    for rule_id, v in _data("rules.yaml")["rules"].items():
        out[rule_id] = RuleInfo(
            rule_id=rule_id,
            title=str(v["title"]),
            description=" ".join(str(v.get("description", "")).split()),
            remediation=str(v.get("remediation", "")),
            severity=str(v.get("severity", "")),
            category=str(v.get("category", "policy")),
            kinds=expand_kinds(v.get("kinds")),
            unit=str(v.get("unit", "object")),
            controls={str(k): tuple(str(c) for c in cs) for k, cs in (v.get("controls") or {}).items()},
            equivalents={str(k): tuple(str(c) for c in cs) for k, cs in (v.get("equivalents") or {}).items()},
            source="auditor/catalog/data/rules.yaml",
        )
    return out


def rego_sources(directories: Iterable[str | Path]) -> list[tuple[str, str]]:
    """(path, text) of every ``.rego`` file under the directories, tests excluded, in path order."""
    out: list[tuple[str, str]] = []
    for d in directories:
        root = Path(d)
        files = [root] if root.is_file() else sorted(root.rglob("*.rego"))
        for f in files:
            if f.suffix == ".rego" and not f.name.endswith("_test.rego"):
                out.append((str(f), f.read_text(encoding="utf-8", errors="replace")))
    return out


def load_catalog(sources: Iterable[tuple[str, str]] = ()) -> Catalog:
    """The catalogue: the data files, then the METADATA of the given Rego sources (test files skipped).

    The first block naming a rule id wins (a rule with several bodies annotates one of them). Blocks that
    are not valid YAML are listed in ``problems``; OPA would refuse such a module anyway.
    """
    rules: dict[str, RuleInfo] = dict(data_rules())
    packages: dict[str, RuleInfo] = {}
    problems: list[str] = []
    for path, text in sources:
        if path.endswith("_test.rego"):
            continue
        for block in metadata_blocks(path, text):
            if not isinstance(block, MetadataBlock):
                problems.append(block)
                continue
            info = rule_info(block)
            if block.target == "package":
                packages.setdefault(block.package, info)
            else:
                rules.setdefault(info.rule_id, info)
    fws, tools = frameworks()
    return Catalog(rules=rules, packages=packages, frameworks=fws, tools=tools, problems=tuple(problems))


def rules_by_category(catalog: Catalog) -> Mapping[str, list[RuleInfo]]:
    """Rules grouped by category (policy, drift, change-control, coverage), each sorted by id."""
    out: dict[str, list[RuleInfo]] = {}
    for info in sorted(catalog.rules.values(), key=lambda r: r.rule_id):
        out.setdefault(info.category, []).append(info)
    return out
