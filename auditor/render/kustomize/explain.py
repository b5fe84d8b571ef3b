"""Explain a failed kustomize build in one line, with repository-relative paths, naming the broken file.

kustomize's messages name temporary paths, Go struct fields and build-internal ids. Each ``_explain_*``
recognises one family of messages and restates it as ``<cause> in <file>[:line]`` using the scanned
kustomization graph; the first one that recognises the message wins.

The message is the repository's to shape (kustomize echoes values into it), so every pattern here is
linear in its length: each starts at a literal found with ``str.find`` and never retries from every
position of the text (a leading word-characters group before "operation does not apply" took minutes on
200 KB of word characters).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from auditor.render.kustomize.graph import Graph
from auditor.render.kustomize.select import matching_patches
from auditor.render.kustomize.tree import PreparedTree, skipped_reason
from auditor.util import yamlio

_MAX_MESSAGE = 600


def rewrite_paths(text: str, root: Path) -> str:
    """Replace the private copy's absolute path with repository-relative paths."""
    for r in {str(root), os.path.realpath(root)}:
        text = text.replace(r + os.sep, "").replace(r, ".")
    return text


_QUOTED_RE = re.compile(r'(?:[^"\\]|\\.)*"')
_KLOG_END_RE = re.compile(r"\n[ \t]*>")


def _after(text: str, literal: str, start: int = 0) -> int:
    """Index just after the first ``literal`` in ``text`` (from ``start``), or -1."""
    i = text.find(literal, start)
    return -1 if i < 0 else i + len(literal)


def _kustomize_error(stderr: str) -> str:
    """The error text of ``kubectl kustomize`` (klog ``err="…"``) or ``kustomize build`` (``Error: …``)."""
    start = _after(stderr, 'err="')
    m = _QUOTED_RE.match(stderr, start) if start >= 0 else None
    if m:
        body = m.group(0)[:-1]
        try:
            return str(json.loads('"' + body + '"'))
        except ValueError:
            return body.replace('\\"', '"').replace("\\\\", "\\")
    start = _after(stderr, "err=<\n")
    end = _KLOG_END_RE.search(stderr, start) if start >= 0 else None
    if end:
        return "\n".join(ln.strip() for ln in stderr[start:end.start()].splitlines())
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        if ln.startswith("Error: "):
            return "\n".join([ln[len("Error: "):], *lines[i + 1:]])
    return "\n".join(lines[-3:])


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def explain_failure(stderr: str, graph: Graph, tree: PreparedTree) -> str:
    """Turn kustomize's stderr into ``<cause> in <file>[:line]``-style text (one line, no temp paths)."""
    raw = rewrite_paths(_kustomize_error(stderr), tree.root)
    for explain in _EXPLAINERS:
        msg = explain(raw, graph, tree)
        if msg:
            return _one_line(msg)
    return _one_line(raw) or "failed without a message"


def _referenced(graph: Graph, path: str) -> str:
    for kf in graph.kfiles.values():
        for ref in kf.refs:
            if ref.resolved == path:
                return f"{kf.path}:{ref.line}" if ref.line else kf.path
    return ""


def _explain_yaml(raw: str, graph: Graph, tree: PreparedTree) -> str:
    start = _after(raw, "MalformedYAMLError: ")
    end = raw.find(" in File: ", start) if start >= 0 else -1
    file_m = _TOKEN_RE.match(raw, end + len(" in File: ")) if end >= 0 else None
    if not file_m:
        return ""
    cause = raw[start:end].removeprefix("yaml: ").strip()
    name = file_m.group(0).strip().rstrip("'\"")
    candidates = [r.resolved for kf in graph.kfiles.values() for r in kf.refs
                  if r.resolved and r.field in ("resources", "bases", "crds") and r.value == name]
    for path in candidates:
        try:
            data = tree.root.joinpath(*path.split("/")).read_bytes()
            yamlio.load_all(data, path)
        except yamlio.YamlError:
            return f"invalid YAML in {path}: {cause}"
        except OSError:
            continue
    return f"invalid YAML in {candidates[0] if candidates else name}: {cause}"


def _explain_kustomization(raw: str, graph: Graph, tree: PreparedTree) -> str:
    m = re.search(r"invalid Kustomization: (.*)", raw, re.S)
    if not m:
        return ""
    cause = m.group(1).strip().removeprefix("yaml: ")
    broken = [kf for kf in graph.kfiles.values() if kf.error]
    if broken:
        return f"invalid YAML in {broken[0].path}: {cause}"  # kustomize's cause carries the line
    unknown = re.search(r'unknown field "([^"]+)"', cause)
    if unknown:
        key = unknown.group(1)
        for kf in graph.kfiles.values():
            if key in kf.data:
                line = kf.lines.get((key,))
                return f"invalid kustomization {kf.path}{f':{line}' if line else ''}: unknown field \"{key}\""
    wrong = re.search(r"cannot unmarshal (\w+) into Go struct field [\w]+\.([\w.]+) of type (\S+)", cause)
    if wrong:
        found = _find_wrong_type(graph, wrong.group(2).split("."), wrong.group(3))
        if found:
            return f"invalid kustomization {found}: {wrong.group(2)} must be a {_go_type(wrong.group(3))}"
    return f"invalid kustomization: {cause}"


def _go_type(go: str) -> str:
    if go.startswith("[]"):
        return "list"
    if go.startswith("map["):
        return "mapping"
    if go in ("string",):
        return "string"
    if go.startswith(("int", "uint", "float")):
        return "number"
    if go == "bool":
        return "boolean"
    return go


def _type_ok(value: Any, go: str) -> bool:
    kind = _go_type(go)
    checks: dict[str, Callable[[Any], bool]] = {
        "list": lambda v: isinstance(v, list),
        "mapping": lambda v: isinstance(v, dict),
        "string": lambda v: isinstance(v, str),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
    }
    check = checks.get(kind)
    return True if check is None else check(value)


def _find_wrong_type(graph: Graph, fields: list[str], go: str) -> str:
    """``file:line`` of the first kustomization value at ``fields`` (lists traversed) of the wrong type."""
    for kf in graph.kfiles.values():
        stack: list[tuple[Any, tuple[str | int, ...], int]] = [(kf.data, (), 0)]
        while stack:
            node, key, depth = stack.pop()
            if isinstance(node, list) and depth > 0:
                stack.extend((v, (*key, i), depth) for i, v in enumerate(node))
                continue
            if depth == len(fields):
                if not _type_ok(node, go):
                    line = kf.lines.get(key)
                    return f"{kf.path}:{line}" if line else kf.path
                continue
            if isinstance(node, dict) and fields[depth] in node:
                stack.append((node[fields[depth]], (*key, fields[depth]), depth + 1))
    return ""


def _explain_missing(raw: str, graph: Graph, tree: PreparedTree) -> str:
    m = re.search(r"evalsymlink failure on '([^']*)'", raw) or re.search(r"lstat ([^:\s]+): no such file", raw)
    if not m:
        return ""
    path = m.group(1)
    where = _referenced(graph, path)
    ref_txt = f" (referenced in {where})" if where else ""
    reason = skipped_reason(tree, path)
    if reason:
        return f"{path}{ref_txt} is refused: {reason}"
    return f"missing file or directory {path}{ref_txt}"


def _explain_patch_target(raw: str, graph: Graph, tree: PreparedTree) -> str:
    m = re.search(r'no resource matches strategic merge patch "([^"]+)"', raw) or re.search(
        r"failed to find unique target for patch (\S+)", raw)
    if not m:
        return ""
    ident = m.group(1)  # Kind.version.group/name.[namespace]
    gvk, _, rest = ident.partition("/")
    kind, _, gv = gvk.partition(".")
    version, _, group = gv.partition(".")
    name = rest.rsplit(".[", 1)[0]
    api_version = f"{group}/{version}" if group else version
    target = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}}
    for kf in graph.kfiles.values():
        files, inline = matching_patches(kf, target, {name})
        if files:
            return f"patch {files[0]} matches no object {kind}/{name}"
        if inline:
            return f"inline patch in {kf.path} matches no object {kind}/{name}"
    return f"a patch matches no object {kind}/{name}"


def _explain_restrictor(raw: str, graph: Graph, tree: PreparedTree) -> str:
    m = re.search(r"security; file '([^']*)' is not in or below '([^']*)'", raw)
    if not m:
        return ""
    where = _referenced(graph, m.group(1))
    ref_txt = f" (referenced in {where})" if where else ""
    return (f"{m.group(1)}{ref_txt} is outside {m.group(2)}: a kustomization may only read files in or below "
            "its own directory (reference the other directory's kustomization instead)")


_TOKEN_RE = re.compile(r"\S+")
_WORD_END_RE = re.compile(r"\w+")
_PATH_COLON_RE = re.compile(r"(\S+?):")


def _word_before(text: str, end: int) -> str:
    """The run of word characters ending at ``end`` (scanning back, bounded)."""
    i = end
    while i > 0 and end - i < 64 and (text[i - 1].isalnum() or text[i - 1] == "_"):
        i -= 1
    return text[i:end]


def _explain_json_patch(raw: str, graph: Graph, tree: PreparedTree) -> str:
    lit = " operation does not apply: doc is missing path: "
    at = raw.find(lit)
    op = _word_before(raw, at) if at >= 0 else ""
    m = _PATH_COLON_RE.match(raw, at + len(lit)) if op else None
    if not m:
        return ""
    op_path = m.group(1)
    for kf in graph.kfiles.values():
        for ref in kf.refs:
            if ref.field in ("patches", "patchesJson6902") and ref.resolved:
                try:
                    text = tree.root.joinpath(*ref.resolved.split("/")).read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
                if op_path in text:
                    return f"JSON patch {ref.resolved}: {op} operation does not apply: missing path {op_path}"
    return ""


def _explain_helm(raw: str, graph: Graph, tree: PreparedTree) -> str:
    if "must specify --enable-helm" not in raw:
        return ""
    for kf in graph.kfiles.values():
        if kf.data.get("helmCharts") or kf.data.get("helmChartInflationGenerator"):
            line = kf.lines.get(("helmCharts",))
            return (f"helmCharts in {kf.path}{f':{line}' if line else ''} are not rendered: Helm is disabled "
                    "(kustomize would need --enable-helm)")
    return "a Helm chart generator needs --enable-helm, which is disabled"


def _explain_plugin(raw: str, graph: Graph, tree: PreparedTree) -> str:
    m = re.search(r"unable to load external plugin '([^']+)'", raw)
    if not m:
        return ""
    kind = m.group(1)
    for kf in graph.kfiles.values():
        for ref in kf.refs:
            if ref.field in ("generators", "transformers", "validators") and ref.resolved:
                text = kf.read(ref.resolved) or ""
                if re.search(rf"^kind:[ \t]*{re.escape(kind)}[ \t]*\r?$", text, re.M):
                    where = f"{kf.path}:{ref.line}" if ref.line else kf.path
                    return (f"{ref.field} entry {ref.resolved} ({where}) is an external plugin ({kind}); "
                            "plugins and exec functions are disabled")
    return f"external plugin {kind} is disabled (plugins and exec functions are never enabled)"


def _explain_patch_config(raw: str, graph: Graph, tree: PreparedTree) -> str:
    start = _after(raw, "trouble configuring builtin ")
    word = _WORD_END_RE.match(raw, start) if start >= 0 else None
    if not word or not word.group(0).startswith("Patch"):
        return ""
    body = _after(raw, " with config: `", word.end())
    if body != word.end() + len(" with config: `"):
        return ""
    close = raw.find("`: ", body)
    if close < 0:
        return ""
    try:
        config = yamlio.load_one(raw[body:close], "kustomize error")
    except yamlio.YamlError:
        config = None
    path = config.get("path") if isinstance(config, dict) else None
    cause = raw[close + 3:].strip()
    if not isinstance(path, str):
        return ""
    for kf in graph.kfiles.values():
        for ref in kf.refs:
            if ref.field in ("patches", "patchesJson6902", "patchesStrategicMerge") and ref.value == path:
                where = f"{kf.path}:{ref.line}" if ref.line else kf.path
                target = ref.resolved or path
                full = tree.root.joinpath(*target.split("/"))
                if not full.exists():
                    return f"missing patch file {target} (referenced in {where})"
                try:
                    yamlio.load_all(full.read_bytes(), target)
                except yamlio.YamlError as exc:
                    return f"invalid YAML in {exc.source}:{exc.line}: {exc.problem.removeprefix('invalid YAML: ')}" \
                        if exc.line else f"invalid YAML in {target}: {exc.problem}"
                except OSError:
                    pass
                return f"patch {target} (referenced in {where}): {cause}"
    return ""


def _explain_replacement(raw: str, graph: Graph, tree: PreparedTree) -> str:
    # "nothing selected by Kind.[version].[group]/name.[namespace]:field.path"
    start = _after(raw, "nothing selected by ")
    tok = _TOKEN_RE.match(raw, start) if start >= 0 else None
    if not tok:
        return ""
    ident = tok.group(0)[:4096]
    kind, dot, rest = ident.partition(".")
    gvk_end = rest.find("/")
    if not kind or not dot or gvk_end < 0:
        return ""
    name, dot, tail = rest[gvk_end + 1:].partition(".")
    colon = tail.find(":")
    if not name or not dot or colon < 0 or colon + 1 >= len(tail):
        return ""
    fld = tail[colon + 1:]
    for kf in graph.kfiles.values():
        if kf.data.get("replacements"):
            line = kf.lines.get(("replacements",))
            return (f"replacements in {kf.path}{f':{line}' if line else ''}: source {kind}/{name} ({fld}) "
                    "matches no object")
    return f"replacement source {kind}/{name} ({fld}) matches no object"


_LFS_HEADER = b"version https://git-lfs.github.com/spec/"


def _explain_lfs(raw: str, graph: Graph, tree: PreparedTree) -> str:
    """A file the build read is a Git LFS pointer (the real content lives on an LFS server we never call)."""
    for kf in graph.kfiles.values():
        for ref in kf.refs:
            if not ref.resolved or (f"'{ref.value}'" not in raw and ref.resolved not in raw):
                continue
            try:
                with open(tree.root.joinpath(*ref.resolved.split("/")), "rb") as fh:
                    head = fh.read(len(_LFS_HEADER))
            except OSError:
                continue
            if head == _LFS_HEADER:
                where = f"{kf.path}:{ref.line}" if ref.line else kf.path
                return (f"{ref.resolved} (referenced in {where}) is a Git LFS pointer: LFS content is not "
                        "fetched, keep manifests out of LFS")
    return ""


def _explain_not_object(raw: str, graph: Graph, tree: PreparedTree) -> str:
    m = re.search(r"accumulating resources from '([^']+)': missing Resource metadata", raw)
    if not m:
        return ""
    for kf in graph.kfiles.values():
        for ref in kf.refs:
            if ref.value == m.group(1) and ref.resolved:
                where = f"{kf.path}:{ref.line}" if ref.line else kf.path
                return f"{ref.resolved} (referenced in {where}) is not a Kubernetes object (no metadata)"
    return f"{m.group(1)} is not a Kubernetes object (no metadata)"


def _explain_component(raw: str, graph: Graph, tree: PreparedTree) -> str:
    m = re.search(r"expected kind '(\w+)' for path '([^']*)' but got '(\w+)'", raw)
    if not m:
        return ""
    want, path, got = m.groups()
    where = _referenced(graph, path)
    ref_txt = f" (referenced in {where})" if where else ""
    return f"{path}{ref_txt} is a {got}, but is used where a {want} is expected"


def _explain_duplicate(raw: str, graph: Graph, tree: PreparedTree) -> str:
    m = re.search(r"already registered id: ([^'\s]+)", raw)
    if not m:
        return ""
    ident = m.group(1)  # Kind.version.group/name.[namespace]
    gvk, _, rest = ident.partition("/")
    kind = gvk.split(".", 1)[0]
    name = rest.rsplit(".[", 1)[0] if ".[" in rest else rest.rsplit(".", 1)[0]
    places: list[str] = []
    for kf in graph.kfiles.values():
        for ref in kf.refs:
            if ref.field in ("resources", "bases") and ref.resolved and \
                    tree.root.joinpath(*ref.resolved.split("/")).is_file():
                for k, n, line in graph.objects_in(ref.resolved):
                    if k == kind and n == name:
                        places.append(f"{ref.resolved}:{line}")
    where = f": declared in {', '.join(sorted(set(places)))}" if places else ""
    return f"{kind}/{name} is declared more than once{where}"


def _explain_no_kustomization(raw: str, graph: Graph, tree: PreparedTree) -> str:
    m = re.search(r"unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' "
                  r"in directory '([^']*)'", raw)
    if not m:
        return ""
    path = m.group(1)
    where = _referenced(graph, path)
    ref_txt = f" (referenced in {where})" if where else ""
    return f"directory {path}{ref_txt} has no kustomization.yaml (list its files instead, or add one)"


# Most specific first: the first explainer that recognises the message wins.
_EXPLAINERS: tuple[Callable[[str, Graph, PreparedTree], str], ...] = (
    _explain_lfs,
    _explain_yaml,
    _explain_not_object,
    _explain_kustomization,
    _explain_helm,
    _explain_plugin,
    _explain_patch_config,
    _explain_missing,
    _explain_patch_target,
    _explain_restrictor,
    _explain_json_patch,
    _explain_replacement,
    _explain_component,
    _explain_duplicate,
    _explain_no_kustomization,
)
