"""ApplicationSet generators: list, clusters, git (directories and files) and matrix.

Each generator yields parameter sets; the template (``spec.template``, merged with a generator's own
``template``) is rendered once per set (:mod:`auditor.render.argocd.templates`). Parameters follow
Argo CD's documentation: ``list`` elements as given (``elementsYaml`` too); ``clusters`` ``name``,
``nameNormalized``, ``server``, ``metadata.labels``/``annotations`` and ``values``; git directories
``path`` (``path.path``, ``path.basename``, ``path.basenameNormalized``, ``path.segments``, fasttemplate
``path[N]``); git files the file's content plus ``path.filename``/``filenameNormalized``; ``matrix`` the
union of its two children's sets (the second child's fields may use the first one's parameters). Other
generators (SCM provider, pull request, cluster decision resource, plugin, merge) are not rendered.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from auditor.render.argocd.options import IN_CLUSTER_NAME, IN_CLUSTER_SERVER, ArgoCluster
from auditor.render.argocd.templates import fast, flatten, walk_strings
from auditor.util import yamlio

Params = dict[str, Any]
GitReader = Callable[[str, str], tuple[Any, str]]
"""``(repoURL, revision)`` → (Path of the revision's root in the tree, tree-relative root), or raises."""


class GeneratorError(Exception):
    """A generator the audit cannot evaluate (unsupported kind, unreadable repository): the reason."""


def normalize(name: str) -> str:
    """Argo CD's ``SanitizeName``: lower case, ``[^a-z0-9.-]`` → ``-``, at most 253 characters."""
    out = re.sub(r"[^a-z0-9.-]", "-", name.lower())
    return out.strip("-.")[:253].strip("-.")


def _match_labels(labels: Mapping[str, str], selector: Mapping[str, Any]) -> bool:
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(str(k)) != str(v):
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op = str(expr.get("key") or ""), str(expr.get("operator") or "")
        values = [str(v) for v in expr.get("values") or []]
        have = key in labels
        ok = {"In": have and labels[key] in values, "NotIn": not have or labels[key] not in values,
              "Exists": have, "DoesNotExist": not have}.get(op)
        if not ok:
            return False
    return True


def clusters_params(gen: Mapping[str, Any], clusters: Sequence[ArgoCluster], go: bool) -> list[Params]:
    """The ``clusters`` generator over the clusters known to the config (plus in-cluster without a selector)."""
    selector = gen.get("selector") or {}
    known = list(clusters)
    if not selector and not any(c.server == IN_CLUSTER_SERVER for c in known):
        known.append(ArgoCluster(IN_CLUSTER_NAME, IN_CLUSTER_SERVER))
    out = []
    for c in known:
        if selector and not _match_labels(c.labels, selector):
            continue
        p: Params = {"name": c.name, "nameNormalized": normalize(c.name), "server": c.server,
                     "metadata": {"labels": dict(c.labels), "annotations": dict(c.annotations)}}
        values = dict(gen.get("values") or {})
        if values:
            base = p if go else flatten(p)
            p["values"] = {k: _render_one(str(v), base, go) for k, v in values.items()}
        out.append(p)
    return out


def _render_one(text: str, params: Mapping[str, Any], go: bool) -> str:
    if go:
        return text  # values with Go templates are rendered with the Application template
    return fast(text, flatten(params))


def list_params(gen: Mapping[str, Any]) -> list[Params]:
    """``list``: ``elements`` (and ``elementsYaml``) as parameter sets."""
    elements = list(gen.get("elements") or [])
    if gen.get("elementsYaml"):
        loaded = yamlio.load_one(str(gen["elementsYaml"]), "elementsYaml")
        elements += loaded if isinstance(loaded, list) else []
    return [dict(e) for e in elements if isinstance(e, Mapping)]


def _path_params(path: str, prefix: str) -> Params:
    segments = path.split("/") if path else []
    p: Params = {"path": path, "basename": posixpath.basename(path),
                 "basenameNormalized": normalize(posixpath.basename(path)), "segments": segments}
    return {f"{prefix}path" if prefix else "path": p}


def _go_path_match(pattern: str, path: str) -> bool:
    """Go ``path.Match`` over whole paths (``*`` stays within a segment)."""
    pp, sp = pattern.split("/"), path.split("/")
    return len(pp) == len(sp) and all(fnmatch.fnmatchcase(s, p.replace("[^", "[!"))
                                      for p, s in zip(pp, sp, strict=True))


def git_params(gen: Mapping[str, Any], read: GitReader, go: bool) -> list[Params]:
    """``git`` directories or files of the named repository and revision."""
    root, _rel = read(str(gen.get("repoURL") or ""), str(gen.get("revision") or "HEAD"))
    prefix = f"{gen['pathParamPrefix']}." if gen.get("pathParamPrefix") else ""
    out: list[Params] = []
    if gen.get("directories"):
        dirs = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                      if p.is_dir() and not any(part.startswith(".") for part in p.relative_to(root).parts))
        chosen: list[str] = []
        for entry in gen["directories"]:
            pattern = str(entry.get("path") or "")
            matched = [d for d in dirs if _go_path_match(pattern, d)]
            if entry.get("exclude"):
                chosen = [d for d in chosen if d not in matched]
            else:
                chosen += [d for d in matched if d not in chosen]
        for d in sorted(chosen):
            out.append(_with_path(_path_params(d, prefix), d, prefix, go))
        return out
    for entry in gen.get("files") or []:
        pattern = str(entry.get("path") or "")
        rx = re.compile("^" + re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*")
                        .replace(r"\*", "[^/]*").replace(r"\?", "[^/]") + "$")
        for f in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = f.relative_to(root).as_posix()
            if rel.startswith(".") or not rx.match(rel):
                continue
            try:
                data = yamlio.load_one(f.read_bytes(), rel)
            except (OSError, yamlio.YamlError) as exc:
                raise GeneratorError(f"git files generator: {rel}: {exc}") from None
            items = data if isinstance(data, list) else [data]
            for item in items:
                p = dict(item) if isinstance(item, Mapping) else {}
                dirpath = posixpath.dirname(rel)
                pp = _path_params(dirpath, prefix)
                key = f"{prefix}path" if prefix else "path"
                pp[key].update({"filename": posixpath.basename(rel),
                                "filenameNormalized": normalize(posixpath.basename(rel))})
                out.append(_with_path({**p, **pp}, dirpath, prefix, go))
    return out


def _with_path(params: Params, path: str, prefix: str, go: bool) -> Params:
    if go:
        return params
    flat = flatten(params)
    key = f"{prefix}path" if prefix else "path"
    flat[key] = path
    for i, seg in enumerate(path.split("/") if path else []):
        flat[f"{key}[{i}]"] = seg
    return flat


def _fast_with(params: Mapping[str, str]) -> Callable[[str], str]:
    def render(text: str) -> str:
        return fast(text, params)

    return render


def generate(gen: Mapping[str, Any], *, clusters: Sequence[ArgoCluster], read: GitReader, go: bool,
             depth: int = 0) -> list[Params]:
    """Parameter sets of one generator (raises GeneratorError for what cannot be evaluated)."""
    kinds = [k for k in gen if k not in ("selector", "template", "values")]
    if not kinds:
        raise GeneratorError("generator names no kind")
    kind = kinds[0]
    spec = gen[kind] or {}
    if kind == "list":
        sets = list_params(spec)
    elif kind == "clusters":
        sets = clusters_params(spec, clusters, go)
    elif kind == "git":
        sets = git_params(spec, read, go)
    elif kind == "matrix":
        children = spec.get("generators") or []
        if len(children) != 2 or depth > 1:
            raise GeneratorError("matrix generator needs exactly two child generators (one level of nesting)")
        out: list[Params] = []
        for first in generate(children[0], clusters=clusters, read=read, go=go, depth=depth + 1):
            second_spec = children[1] if go else walk_strings(children[1], _fast_with(flatten(first)))
            for second in generate(second_spec, clusters=clusters, read=read, go=go, depth=depth + 1):
                out.append({**first, **second})
        sets = out
    else:
        raise GeneratorError(f"{kind} generator is not evaluated by the audit")
    selector = gen.get("selector")
    if selector:
        sets = [p for p in sets if _match_labels({k: str(v) for k, v in flatten(p).items()}, selector)]
    return sets
