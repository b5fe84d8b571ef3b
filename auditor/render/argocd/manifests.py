"""Render one Argo CD application source the way the repo-server does: kustomize, Helm or a directory.

- **Type**: the source's explicit ``kustomize``/``helm``/``directory``/``plugin`` block wins; otherwise
  ``Chart.yaml`` means Helm, a kustomization file means kustomize, anything else is a directory.
- **kustomize**: the repo-server runs ``kustomize edit`` in the app directory before ``kustomize build``
  (``set nameprefix/namesuffix``, ``set image``, ``set replicas``, ``add label`` (``--force``,
  ``--without-selector``, ``--include-templates``), ``add annotation``, ``set namespace``, ``add
  component``) and appends ``patches`` to the file. The same edits are made here on a private copy of the
  kustomization (:func:`edit_kustomization`), with ``kustomize edit``'s semantics: images and replicas
  keyed by name and replaced, an existing label/annotation key refused without ``--force``.
- **helm**: ``helm template <path> --name-template <release> --namespace <dest ns> --values …
  --include-crds`` with ``valueFiles`` (relative to the chart; ``$<ref>/path`` from another source),
  ``values``/``valuesObject`` as the last values file, ``parameters`` as ``--set``/``--set-string``,
  ``skipCrds``, ``skipTests``; the release name is ``releaseName`` or the Application's name.
- **directory**: ``.yaml``/``.yml``/``.json`` files (``recurse`` for subdirectories), ``include``/``exclude``
  globs over the app-relative path, files holding ``+argocd:skip-file-rendering`` skipped; ``.jsonnet``
  files are evaluated with go-jsonnet (:mod:`auditor.render.argocd.jsonnet`).
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from auditor.errors import RenderError, ToolError
from auditor.model import FileProvenance, Manifest, RenderedSet
from auditor.render import helm as helmmod
from auditor.render.argocd import jsonnet
from auditor.render.flux.common import manifest_of
from auditor.render.kustomize.build import render_overlay
from auditor.render.kustomize.tree import KUSTOMIZATION_FILES, PreparedTree
from auditor.render.tools import KustomizeTool
from auditor.repo.options import SourceOptions
from auditor.util import yamlio

WORK_PREFIX = ".gitops-audit-argocd-"
SKIP_MARKER = b"+argocd:skip-file-rendering"
_MANIFEST_RE = re.compile(r"^.*\.(yaml|yml|json|jsonnet)$")


class NotRenderable(Exception):
    """A source the audit cannot render (plugin, remote chart…): a reason, not a failure."""


def source_type(root: Path, source: Mapping[str, Any]) -> str:
    """``helm``, ``kustomize``, ``directory`` or ``plugin``, as the repo-server decides it."""
    explicit = [k for k in ("helm", "kustomize", "directory", "plugin") if source.get(k) is not None]
    if len(explicit) > 1:
        raise RenderError(f"source names several types ({', '.join(explicit)}); Argo CD refuses it")
    if explicit:
        return explicit[0]
    if (root / "Chart.yaml").is_file():
        return "helm"
    if any((root / n).is_file() for n in KUSTOMIZATION_FILES):
        return "kustomize"
    return "directory"


# ---------------------------------------------------------------------------------------------- kustomize


def _parse_image(arg: str) -> dict[str, str]:
    """``kustomize edit set image`` argument → images entry (name, newName, newTag, digest)."""
    if "=" in arg and len(arg.split("=")) == 2:
        name, new = arg.split("=")
        entry = {"name": name}
        if "@" in new:
            n, d = new.split("@", 1)
            entry.update({"newName": n, "digest": d})
        elif (m := re.match(r"^(.*):([a-zA-Z0-9._-]*)$", new)) is not None:
            entry.update({"newName": m.group(1), "newTag": m.group(2)})
        elif new:
            entry["newName"] = new
        return {k: v for k, v in entry.items() if v}
    if "@" in arg:
        n, d = arg.split("@", 1)
        return {"name": n, "digest": d}
    m = re.match(r"^(.*):([a-zA-Z0-9._-]*)$", arg)
    if m is None:
        raise RenderError(f"kustomize edit set image {arg}: invalid image (use name=new:tag, name:tag or name@digest)")
    return {"name": m.group(1), "newTag": m.group(2)}


def _merge_named(existing: Sequence[Any], new: Sequence[dict[str, Any]]) -> list[Any]:
    """Entries keyed by ``name``: new ones replace old ones of the same name; sorted by name (kustomize edit)."""
    by_name: dict[str, Any] = {str(e.get("name")): e for e in existing if isinstance(e, dict)}
    for e in new:
        by_name[str(e["name"])] = e
    return [by_name[k] for k in sorted(by_name)]


def edit_kustomization(data: dict[str, Any], opts: Mapping[str, Any], app_dir: Path) -> None:
    """Apply an Application's ``source.kustomize`` options to a kustomization dict, like the repo-server."""
    if opts.get("namePrefix"):
        data["namePrefix"] = str(opts["namePrefix"])
    if opts.get("nameSuffix"):
        data["nameSuffix"] = str(opts["nameSuffix"])
    images = [str(i) for i in opts.get("images") or []]
    if images:
        data["images"] = _merge_named(data.get("images") or [], [_parse_image(i) for i in images])
    replicas = opts.get("replicas") or []
    if replicas:
        new = []
        for r in replicas:
            try:
                new.append({"name": str(r["name"]), "count": int(str(r["count"]))})
            except (KeyError, TypeError, ValueError):
                raise RenderError(f"kustomize replicas entry {r!r}: needs name and an integer count") from None
        data["replicas"] = _merge_named(data.get("replicas") or [], new)
    labels = {str(k): str(v) for k, v in (opts.get("commonLabels") or {}).items()}
    if labels:
        if opts.get("labelWithoutSelector"):
            _add_labels_without_selector(data, labels, bool(opts.get("forceCommonLabels")),
                                         bool(opts.get("labelIncludeTemplates")))
        else:
            _add_map(data, "commonLabels", labels, bool(opts.get("forceCommonLabels")), "label")
    annotations = {str(k): str(v) for k, v in (opts.get("commonAnnotations") or {}).items()}
    if annotations:
        _add_map(data, "commonAnnotations", annotations, bool(opts.get("forceCommonAnnotations")), "annotation")
    if opts.get("namespace"):
        data["namespace"] = str(opts["namespace"])
    patches = opts.get("patches") or []
    if patches:
        data["patches"] = [*(data.get("patches") or []), *patches]
    components = [str(c) for c in opts.get("components") or []]
    if opts.get("ignoreMissingComponents"):
        components = [c for c in components if (app_dir / c).exists()]
    for c in components:
        if not (app_dir / c).exists():
            raise RenderError(f"kustomize edit add component {c}: no such path")
        if c not in (data.get("components") or []):
            data["components"] = [*(data.get("components") or []), c]


def _add_map(data: dict[str, Any], key: str, values: Mapping[str, str], force: bool, what: str) -> None:
    current = dict(data.get(key) or {})
    for k, v in values.items():
        if k in current and not force:
            raise RenderError(f"kustomize edit add {what}: {what} {k} already in kustomization file "
                              f"(Argo CD needs force{what.capitalize()}s… to override it)")
        current[k] = v
    data[key] = current


def _add_labels_without_selector(data: dict[str, Any], values: Mapping[str, str], force: bool,
                                 templates: bool) -> None:
    labels = [dict(x) for x in data.get("labels") or [] if isinstance(x, dict)]
    target = next((x for x in labels if not x.get("includeSelectors") and
                   bool(x.get("includeTemplates")) == templates), None)
    if target is None:
        target = {"pairs": {}, **({"includeTemplates": True} if templates else {})}
        labels.append(target)
    pairs = dict(target.get("pairs") or {})
    for k, v in values.items():
        if k in pairs and not force:
            raise RenderError(f"kustomize edit add label: label {k} already in kustomization file")
        pairs[k] = v
    target["pairs"] = pairs
    data["labels"] = labels


def render_kustomize(tool: KustomizeTool, tree: PreparedTree, app_rel: str, opts: Mapping[str, Any],
                     namespace: str, source_options: SourceOptions) -> RenderedSet:
    """``kustomize build`` of the app directory after the Application's kustomize edits (on a private copy)."""
    action = f"render {app_rel or '.'}"
    src = tree.root.joinpath(*app_rel.split("/")) if app_rel else tree.root
    if not opts:
        return render_overlay(tool, tree, app_rel, default_namespace=namespace, options=source_options)
    kfile = next((src / n for n in KUSTOMIZATION_FILES if (src / n).is_file()), None)
    if kfile is None:
        raise RenderError(f"{action}: Missing kustomization file (Argo CD's kustomize edit needs one)")
    parent = src.parent if app_rel else tree.root
    work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=parent))
    work.rmdir()
    shutil.copytree(src, work, symlinks=True, ignore=lambda _d, names: {n for n in names if n.startswith(WORK_PREFIX)})
    rel = work.relative_to(tree.root).as_posix()
    try:
        try:
            data = yamlio.load_one((work / kfile.name).read_text(encoding="utf-8"), f"{app_rel}/{kfile.name}")
        except (OSError, yamlio.YamlError) as exc:
            raise RenderError(f"{action}: cannot read {kfile.name}: {exc}") from None
        data = data if isinstance(data, dict) else {}
        edit_kustomization(data, opts, work)
        (work / kfile.name).write_text(yaml.safe_dump(data, sort_keys=False, width=1 << 30), encoding="utf-8")
        try:
            rs = render_overlay(tool, tree, rel, default_namespace=namespace, options=source_options)
        except (RenderError, ToolError) as exc:
            raise RenderError(str(exc).replace(rel, app_rel or ".")) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    objects = tuple(
        dataclasses.replace(m, provenance=dataclasses.replace(m.provenance, files=tuple(
            dataclasses.replace(f, path=_map(f.path, rel, app_rel)) for f in m.provenance.files)))
        for m in rs.objects)
    return RenderedSet(path=app_rel, commit=tree.commit, objects=objects)


def _map(path: str, rel: str, original: str) -> str:
    if path == rel or path.startswith(rel + "/"):
        rest = path[len(rel):].lstrip("/")
        return posixpath.join(original, rest) if original else rest
    return path


# ---------------------------------------------------------------------------------------------------- helm


@dataclass(frozen=True)
class HelmRequest:
    """What ``helm template`` is run with for one source."""

    release: str
    namespace: str
    value_files: tuple[Path, ...] = ()
    values: Mapping[str, Any] | None = None
    set_values: tuple[tuple[str, str], ...] = ()
    set_strings: tuple[tuple[str, str], ...] = ()
    include_crds: bool = True
    skip_tests: bool = False
    api_versions: tuple[str, ...] = ()
    kube_version: str = ""


def render_helm(helm: helmmod.HelmTool, tree: PreparedTree, chart_rel: str, req: HelmRequest,
                timeout: float) -> list[tuple[dict[str, Any], str]]:
    """(object, tree-relative template path) of a local chart, hooks included (Argo CD treats them as hooks)."""
    chart = tree.root.joinpath(*chart_rel.split("/")) if chart_rel else tree.root
    chart_yaml = chart / "Chart.yaml"
    try:
        meta = yamlio.load_one(chart_yaml.read_bytes(), str(chart_yaml))
    except (OSError, yamlio.YamlError) as exc:
        raise RenderError(f"helm template {chart_rel}: cannot read Chart.yaml: {exc}") from None
    deps = (meta or {}).get("dependencies") if isinstance(meta, dict) else None
    if deps:
        vendored = {p.name for p in (chart / "charts").iterdir()} if (chart / "charts").is_dir() else set()
        missing = [str(d.get("name")) for d in deps if isinstance(d, dict) and not any(
            v == d.get("name") or v.startswith(f"{d.get('name')}-") for v in vendored)]
        if missing:
            raise NotRenderable(f"chart {chart_rel or '.'} depends on {', '.join(missing)}, which is not vendored "
                                "in charts/ (the repo-server would download it): not rendered")
    objs = helmmod.template(helm, chart, release=req.release, namespace=req.namespace,
                            action=f"helm template {chart_rel or '.'}", value_files=req.value_files,
                            values=req.values, set_values=req.set_values, set_strings=req.set_strings,
                            include_crds=req.include_crds, skip_tests=req.skip_tests,
                            api_versions=req.api_versions, kube_version=req.kube_version, timeout=timeout)
    out = []
    for o in objs:
        sub = o.template.split("/", 1)[1] if "/" in o.template else ""
        out.append((o.body, posixpath.join(chart_rel, sub) if sub and chart_rel else sub))
    return out


# ----------------------------------------------------------------------------------------------- directory


def _glob_re(pattern: str) -> re.Pattern[str]:
    """gobwas/glob without separators (as Argo CD compiles include/exclude): ``*`` spans ``/``, ``{a,b}``."""
    out = ""
    i = 0
    depth = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out += ".*"
            while i + 1 < len(pattern) and pattern[i + 1] == "*":
                i += 1
        elif c == "?":
            out += "."
        elif c == "{":
            out += "(?:"
            depth += 1
        elif c == "}" and depth:
            out += ")"
            depth -= 1
        elif c == "," and depth:
            out += "|"
        elif c == "[":
            j = pattern.find("]", i)
            if j < 0:
                out += re.escape(c)
            else:
                body = pattern[i + 1:j]
                out += "[" + ("^" + body[1:] if body.startswith("!") else body) + "]"
                i = j
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + "$", re.S)


def _glob_match(pattern: str, path: str) -> bool:
    return bool(_glob_re(pattern).match(path))


def directory_files(root: Path, recurse: bool, include: str, exclude: str) -> list[str]:
    """App-relative paths of the manifest files Argo CD reads from a directory source, in walk order."""
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if recurse and not d.startswith(".gitops-audit"))
        for name in sorted(filenames):
            rel = (here / name).relative_to(root).as_posix()
            if not _MANIFEST_RE.match(name):
                continue
            if exclude and _glob_match(exclude, rel):
                continue
            if include and not _glob_match(include, rel):
                continue
            try:
                if SKIP_MARKER in (here / name).read_bytes():
                    continue
            except OSError:
                continue
            out.append(rel)
    return out


def render_directory(tree: PreparedTree, app_rel: str, directory: Mapping[str, Any],
                     jsonnet_timeout: float) -> list[tuple[dict[str, Any], str]]:
    """(object, tree-relative file) of every manifest of a directory source (jsonnet evaluated)."""
    root = tree.root.joinpath(*app_rel.split("/")) if app_rel else tree.root
    if not root.is_dir():
        raise RenderError(f"render {app_rel or '.'}: no such directory in the repository")
    files = directory_files(root, bool(directory.get("recurse")), str(directory.get("include") or ""),
                            str(directory.get("exclude") or ""))
    out: list[tuple[dict[str, Any], str]] = []
    for rel in files:
        tree_rel = posixpath.join(app_rel, rel) if app_rel else rel
        path = root / rel
        if rel.endswith(".jsonnet"):
            value = jsonnet.evaluate(path, tree.root, root, directory.get("jsonnet") or {}, timeout=jsonnet_timeout)
            docs: list[Any] = value if isinstance(value, list) else [value]
        else:
            try:
                docs = yamlio.load_all(path.read_bytes(), tree_rel)
            except (OSError, yamlio.YamlError) as exc:
                raise RenderError(f"render {tree_rel}: {exc}") from None
        for doc in docs:
            for obj in yamlio.iter_items(doc):
                out.append((obj, tree_rel))
    return out


def to_manifests(items: Sequence[tuple[dict[str, Any], str]], namespace: str,
                 origin: Any = None) -> list[Manifest]:
    """Manifests with the file each came from (``origin`` maps tree paths to (path, repo))."""
    out = []
    for body, path in items:
        if not isinstance(body, dict) or not body.get("kind"):
            continue
        shown, repo = origin(path) if origin is not None and path else (path, "")
        files = (FileProvenance(path=shown, role="resource", repo=repo),) if shown else ()
        out.append(manifest_of(body, files, namespace))
    return out
