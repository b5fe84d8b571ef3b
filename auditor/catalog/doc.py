"""The catalogue as documents: JSON (machine-readable) and Markdown (``gitops-audit policy doc``)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from auditor.catalog.model import Catalog, RuleInfo

CATEGORY_TITLES = {
    "policy": "Policy rules",
    "drift": "Drift rules",
    "change-control": "Change-control rules",
    "coverage": "Coverage",
}


def rule_dict(info: RuleInfo) -> dict[str, object]:
    """One rule as a JSON-ready dict."""
    return {
        "rule_id": info.rule_id,
        "title": info.title,
        "description": info.description,
        "remediation": info.remediation,
        "severity": info.severity,
        "category": info.category,
        "level": info.level,
        "package": info.package,
        "kinds": list(info.kinds),
        "unit": info.unit,
        "requires": info.requires,
        "default_on": info.default_on,
        "controls": {k: list(v) for k, v in sorted(info.controls.items())},
        "equivalents": {k: list(v) for k, v in sorted(info.equivalents.items())},
        "source": info.source,
    }


def equivalence_table(catalog: Catalog) -> dict[str, dict[str, list[str]]]:
    """Per tool and check id of that tool: our rules that are equivalent to it."""
    out: dict[str, dict[str, list[str]]] = {}
    for info in catalog.rules.values():
        for tool, ids in info.equivalents.items():
            for check in ids:
                out.setdefault(tool, {}).setdefault(check, []).append(info.rule_id)
    return {t: {c: sorted(rs) for c, rs in sorted(checks.items())} for t, checks in sorted(out.items())}


def to_json(catalog: Catalog) -> str:
    """The catalogue as pretty JSON: frameworks, tools, rules, the equivalence table and problems."""
    doc = {
        "frameworks": {
            k: {"name": f.name, "version": f.version, "url": f.url, "controls": dict(f.controls)}
            for k, f in catalog.frameworks.items()
        },
        "tools": {k: {"name": t.name, "url": t.url} for k, t in catalog.tools.items()},
        "rules": [rule_dict(catalog.rules[r]) for r in sorted(catalog.rules)],
        "packages": [rule_dict(catalog.packages[p]) for p in sorted(catalog.packages)],
        "equivalents": equivalence_table(catalog),
        "problems": list(catalog.problems),
    }
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _controls_cell(controls: Mapping[str, tuple[str, ...]], catalog: Catalog) -> str:
    parts = []
    for fw in catalog.frameworks:
        if fw in controls:
            parts.append(f"{fw} {', '.join(controls[fw])}")
    parts += [f"{fw} {', '.join(ids)}" for fw, ids in controls.items() if fw not in catalog.frameworks]
    return "; ".join(parts)


def to_markdown(catalog: Catalog) -> str:
    """The catalogue as Markdown: one table per category, each rule's details, the control and tool maps."""
    lines = ["# gitops-audit rule catalogue", ""]
    by_cat: dict[str, list[RuleInfo]] = {}
    for rule_id in sorted(catalog.rules):
        info = catalog.rules[rule_id]
        by_cat.setdefault(info.category, []).append(info)
    for cat in (*CATEGORY_TITLES, *sorted(set(by_cat) - set(CATEGORY_TITLES))):
        rules = by_cat.get(cat)
        if not rules:
            continue
        lines += [f"## {CATEGORY_TITLES.get(cat, cat)}", "",
                  "| rule | severity | title | controls | equivalent checks |", "| --- | --- | --- | --- | --- |"]
        for info in rules:
            eq = "; ".join(f"{t} {', '.join(ids)}" for t, ids in sorted(info.equivalents.items()))
            opt = " (opt-in)" if not info.default_on else ""
            lines.append(f"| `{info.rule_id}`{opt} | {info.severity} | {_cell(info.title)} | "
                         f"{_cell(_controls_cell(info.controls, catalog))} | {_cell(eq)} |")
        lines.append("")
    lines += ["## Rule details", ""]
    for rule_id in sorted(catalog.rules):
        info = catalog.rules[rule_id]
        lines += [f"### `{rule_id}`", "", f"**{info.title}** ({info.severity or 'per result'}, {info.category})", ""]
        if info.description:
            lines += [info.description, ""]
        if info.remediation:
            lines += [f"Remediation: {info.remediation}", ""]
        applies = ", ".join(info.kinds) if info.kinds else "every kind"
        lines += [f"Applies to: {applies}; one check per {info.unit}"
                  + (f"; runs only with `{info.requires}`" if info.requires else "")
                  + ("; opt-in (`enable` setting)" if not info.default_on else "") + f". Source: `{info.source}`", ""]
    lines += ["## Controls", ""]
    for key, fw in catalog.frameworks.items():
        lines += [f"### {fw.name} {fw.version}".rstrip(), "", "| control | name | rules |", "| --- | --- | --- |"]
        for control, title in fw.controls.items():
            naming = sorted(r.rule_id for r in catalog.rules.values() if control in r.controls.get(key, ()))
            lines.append(f"| {control} | {_cell(title)} | {', '.join(f'`{r}`' for r in naming)} |")
        lines.append("")
    lines += ["## Equivalent checks of other tools", ""]
    for tool, checks in equivalence_table(catalog).items():
        name = catalog.tools[tool].name if tool in catalog.tools else tool
        lines += [f"### {name}", "", "| check | gitops-audit rules |", "| --- | --- |"]
        lines += [f"| {c} | {', '.join(f'`{r}`' for r in rs)} |" for c, rs in checks.items()]
        lines.append("")
    if catalog.problems:
        lines += ["## METADATA blocks that could not be read", ""]
        lines += [f"- {p}" for p in catalog.problems]
        lines.append("")
    return "\n".join(lines)
