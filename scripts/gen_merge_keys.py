#!/usr/bin/env python3
"""Regenerate ``auditor/diff/merge_keys_table.py`` from the Kubernetes OpenAPI definitions.

The drift engine compares lists the way the API server merges them: by key where the API defines
one (``x-kubernetes-list-type: map`` + ``x-kubernetes-list-map-keys``, else
``x-kubernetes-patch-merge-key``), as a set for ``x-kubernetes-list-type: set`` (or
``x-kubernetes-patch-strategy: merge`` on scalars), and whole otherwise (atomic).

The definitions come from the ``kubernetes-validate`` wheel (it ships the upstream OpenAPI
definitions as JSON schema, extensions included); this machine has no other route to them.
Usage::

    pip install kubernetes-validate            # only needed to regenerate, not at run time
    python scripts/gen_merge_keys.py [--version 1.37.0] [--definitions PATH] [--out PATH]

The output is a graph, not a flat path list: ``DEFS[def][field] = (child_def, list_type, keys)``.
A graph stays small although pod templates appear in many kinds, and it can express recursion.
Only fields that lead to a keyed or set list are kept; anything absent is a plain map or an
atomic list, which is also the API's default.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "auditor" / "diff" / "merge_keys_table.py"
_PREFIXES = ("io.k8s.api.", "io.k8s.apimachinery.pkg.apis.", "io.k8s.kube-aggregator.pkg.apis.",
             "io.k8s.apiextensions-apiserver.pkg.apis.")


def short(name: str) -> str:
    """Drop the long package prefix of a definition name (keeps the table readable)."""
    for p in _PREFIXES:
        if name.startswith(p):
            return name[len(p):]
    return name


def find_definitions(version: str | None) -> tuple[Path, str]:
    """Locate ``_definitions.json`` inside the installed kubernetes-validate package."""
    try:
        kubernetes_validate = importlib.import_module("kubernetes_validate")
    except ImportError:
        sys.exit("kubernetes-validate is not installed: pip install kubernetes-validate")
    base = Path(str(kubernetes_validate.__file__)).parent / "kubernetes-json-schema"
    dirs = [d for d in base.iterdir() if d.name.endswith("-local") and (d / "_definitions.json").is_file()]

    def vkey(d: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", d.name))

    if version:
        dirs = [d for d in dirs if d.name == f"v{version}-local"]
    if not dirs:
        sys.exit(f"no definitions for version {version!r} under {base}")
    chosen = max(dirs, key=vkey)
    pkg_version = getattr(kubernetes_validate, "__version__", "")
    return chosen / "_definitions.json", f"kubernetes-validate {pkg_version}, {chosen.name}".strip()


def ref_name(schema: dict[str, Any]) -> str:
    """The definition a property points to, or ''."""
    ref = schema.get("$ref", "")
    if not ref:
        for alt in schema.get("allOf", []) + schema.get("anyOf", []) + schema.get("oneOf", []):
            ref = alt.get("$ref", "")
            if ref:
                break
    return ref.rsplit("/", 1)[-1] if ref else ""


def list_semantics(prop: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """(list_type, keys) of an array property, per the SSA/strategic-merge extensions."""
    list_type = prop.get("x-kubernetes-list-type", "")
    keys = tuple(prop.get("x-kubernetes-list-map-keys") or ())
    merge_key = prop.get("x-kubernetes-patch-merge-key", "")
    strategy = prop.get("x-kubernetes-patch-strategy", "")
    if list_type == "map" and keys:
        return "map", keys
    if merge_key and "merge" in strategy:
        return "map", (merge_key,)
    if list_type == "set":
        return "set", ()
    if not ref_name(prop.get("items", {})) and "merge" in strategy:
        return "set", ()
    return "atomic", ()


def build(defs: dict[str, Any]) -> tuple[dict[str, dict[str, tuple[str, str, tuple[str, ...]]]],
                                          dict[tuple[str, str], str]]:
    """Build the pruned graph and the (group, kind) → root definition map."""
    raw: dict[str, dict[str, tuple[str, str, tuple[str, ...]]]] = {}
    for name, schema in defs.items():
        if name.endswith("List") and "items" in (schema.get("properties") or {}):
            continue  # list wrappers (DeploymentList…) never reach the drift engine
        fields: dict[str, tuple[str, str, tuple[str, ...]]] = {}
        for fname, prop in (schema.get("properties") or {}).items():
            types = prop.get("type")
            is_array = types == "array" or (isinstance(types, list) and "array" in types)
            if is_array:
                lt, keys = list_semantics(prop)
                fields[fname] = (ref_name(prop.get("items", {})), lt, keys)
            else:
                child = ref_name(prop)
                if child:
                    fields[fname] = (child, "", ())
        raw[name] = fields

    # Fixpoint: a definition is interesting when it holds a keyed/set list or leads to one.
    interesting: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, fields in raw.items():
            if name in interesting:
                continue
            if any(lt in ("map", "set") or (child in interesting) for child, lt, _ in fields.values()):
                interesting.add(name)
                changed = True

    out: dict[str, dict[str, tuple[str, str, tuple[str, ...]]]] = {}
    for name in sorted(interesting):
        kept = {}
        for fname, (child, lt, keys) in sorted(raw[name].items()):
            if lt in ("map", "set") or child in interesting:
                kept[fname] = (short(child) if child in interesting else "", lt, keys)
        out[short(name)] = kept

    def rank(version: str) -> tuple[int, int, int]:
        m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
        if not m:
            return (0, 0, 0)
        stability = {None: 2, "beta": 1, "alpha": 0}[m.group(2)]
        return (stability, int(m.group(1)), int(m.group(3) or 0))

    kinds: dict[tuple[str, str], tuple[tuple[int, int, int], str]] = {}
    for name, schema in defs.items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or ():
            key = (gvk.get("group", ""), gvk["kind"])
            r = rank(gvk.get("version", ""))
            if name in interesting and (key not in kinds or r > kinds[key][0]):
                kinds[key] = (r, short(name))
    return out, {k: v[1] for k, v in sorted(kinds.items())}


def render(source: str, graph: dict[str, Any], kinds: dict[tuple[str, str], str]) -> str:
    """Python source of the generated module."""
    lines = [
        '"""GENERATED by scripts/gen_merge_keys.py — do not edit by hand.',
        "",
        f"Source: {source}.",
        "``DEFS[definition][field] = (child definition or '', list type, merge keys)`` where list type is",
        "``map`` (items matched by ``keys``), ``set`` (scalar items matched by value), ``atomic`` or ``''``",
        "(not a list). Fields absent here are plain maps or atomic lists.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        f"SOURCE = {source!r}",
        "",
        "DEFS: dict[str, dict[str, tuple[str, str, tuple[str, ...]]]] = {",
    ]
    for name, fields in graph.items():
        lines.append(f"    {name!r}: {{")
        for fname, (child, lt, keys) in fields.items():
            line = f"        {fname!r}: ({child!r}, {lt!r}, {keys!r}),"
            if len(line) > 110:
                pad = " " * 12
                line = f"        {fname!r}: (\n{pad}{child!r},\n{pad}{lt!r},\n{pad}{keys!r},\n        ),"
            lines.append(line)
        lines.append("    },")
    lines.append("}")
    lines.append("")
    lines.append("KINDS: dict[tuple[str, str], str] = {")
    for (group, kind), name in kinds.items():
        line = f"    ({group!r}, {kind!r}): {name!r},"
        if len(line) > 110:
            line = f"    ({group!r}, {kind!r}):\n        {name!r},"
        lines.append(line)
    lines.append("}")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--version", help="Kubernetes version of the definitions, e.g. 1.37.0 (default: newest)")
    ap.add_argument("--definitions", type=Path, help="path to an OpenAPI/JSON-schema definitions file")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    if args.definitions:
        path, source = args.definitions, args.definitions.name
    else:
        path, source = find_definitions(args.version)
    doc = json.loads(path.read_text())
    defs = doc.get("$defs") or doc.get("definitions") or {}
    graph, kinds = build(defs)
    args.out.write_text(render(source, graph, kinds))
    print(f"wrote {args.out}: {len(graph)} definitions, {len(kinds)} kinds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
