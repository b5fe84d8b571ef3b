"""Which parts of a kustomization select an object: patches, replacements, images/replicas transformers.

kustomize's selectors (patch targets, replacement ``select``, label and annotation selectors) are
evaluated here against a rendered object and every name it may have had during the build, so a
kustomization or patch file is only named as a source of the objects it can have touched.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping
from typing import Any

from auditor.model import split_api_version
from auditor.render.kustomize.graph import KFile, join_path
from auditor.util import yamlio

_PATCH_KINDS = frozenset({"PatchTransformer", "PatchStrategicMergeTransformer", "PatchJson6902Transformer"})


def replacement_files(kf: KFile, body: Mapping[str, Any], names: set[str]) -> Iterator[str]:
    """Replacement files (``replacements: [{path: f}]``) whose targets select the object."""
    kdir = posixpath.dirname(kf.path)
    for rep in kf.data.get("replacements") or []:
        if not isinstance(rep, dict) or not isinstance(rep.get("path"), str):
            continue
        joined = join_path(kdir, rep["path"])
        text = kf.read(joined) if joined is not None else None
        try:
            docs = yamlio.load_all(text, joined or "") if text else []
        except yamlio.YamlError:
            docs = []
        for doc in docs:
            for item in doc if isinstance(doc, list) else [doc]:
                targets = item.get("targets") if isinstance(item, dict) else None
                for tgt in targets or []:
                    sel = tgt.get("select") if isinstance(tgt, dict) else None
                    if isinstance(sel, dict) and selector_matches(sel, body, names) and joined:
                        yield joined
                        break


def transformer_applies(kind: str, kf: KFile, body: Mapping[str, Any], names: set[str]) -> bool:
    """Whether the ``kind`` transformer of ``kf`` may have changed the object.

    kustomize lists every transformer of a kustomization on every object that passed through it, whether
    or not it changed the object. These kinds act on selected objects only; check the selection so the
    kustomization is not named as a source of objects it did not touch.
    """
    if kind in _PATCH_KINDS:
        return False  # handled by matching_patches (file or inline patch)
    if kind == "ImageTagTransformer":
        # the final image carries newName when one was set, else the matched name
        wanted = {str(i.get(k)) for i in kf.data.get("images") or [] if isinstance(i, dict)
                  for k in ("name", "newName") if i.get(k)}
        return any(_image_name(img) in wanted for img in _images(body))
    if kind == "ReplicaCountTransformer":
        wanted = {str(r.get("name")) for r in kf.data.get("replicas") or [] if isinstance(r, dict)}
        return bool(wanted & names)
    if kind == "ReplacementTransformer":
        for rep in kf.data.get("replacements") or []:
            if not isinstance(rep, dict):
                return True
            if "path" in rep:
                continue  # a replacements file: named itself (role "config") when it selects the object
            for tgt in rep.get("targets") or []:
                sel = tgt.get("select") if isinstance(tgt, dict) else None
                if isinstance(sel, dict) and selector_matches(sel, body, names):
                    return True
        return False
    return True


def _images(body: Mapping[str, Any]) -> Iterator[str]:
    """Container images anywhere in the object (pod templates, cron jobs, pods, custom resources)."""
    stack: list[Any] = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "image" and isinstance(v, str):
                    yield v
                else:
                    stack.append(v)
        elif isinstance(node, list):
            stack.extend(node)


def _image_name(image: str) -> str:
    """``registry/repo:tag@digest`` → ``registry/repo`` (the name kustomize's ``images`` matches)."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def matching_patches(kf: KFile, body: Mapping[str, Any], names: set[str]) -> tuple[list[str], bool]:
    """Patch files of ``kf`` whose target matches the object, and whether an inline patch matched.

    Matching follows kustomize's selectors (group/version/kind, name and namespace as anchored
    regular expressions, label/annotation selectors) against the object's final labels and every name
    it may have had during the build. It can over-report when a later layer renamed an object to a
    name another object had, which is rare and errs on the side of showing a file.
    """
    kdir = posixpath.dirname(kf.path)
    files: list[str] = []
    inline = False

    def record(path: Any, content: Any, target: Any) -> None:
        nonlocal inline
        if isinstance(path, str) and path:
            joined = join_path(kdir, path)
            if joined is None:
                return
            if target is None:
                content = kf.read(joined)
            if _patch_matches(target, content, body, names):
                files.append(joined)
        elif isinstance(content, str) and _patch_matches(target, content, body, names):
            inline = True

    for fld in ("patches", "patchesJson6902"):
        items = kf.data.get(fld)
        if isinstance(items, list):
            for item in items:
                if isinstance(item, dict):
                    record(item.get("path"), item.get("patch"), item.get("target"))
    smp = kf.data.get("patchesStrategicMerge")
    if isinstance(smp, list):
        for item in smp:
            if isinstance(item, str) and "\n" not in item:
                record(item, None, None)
            elif isinstance(item, str):
                record(None, item, None)
    return files, inline


def _patch_matches(target: Any, content: Any, body: Mapping[str, Any], names: set[str]) -> bool:
    if isinstance(target, dict):
        return selector_matches(target, body, names)
    if not isinstance(content, str):
        return False
    try:
        docs = yamlio.load_all(content, "patch")
    except yamlio.YamlError:
        return False
    for doc in docs:
        if not isinstance(doc, dict):
            continue  # a JSON6902 list without target matches nothing
        meta = doc.get("metadata") or {}
        sel = {"kind": doc.get("kind"), "name": meta.get("name")}
        if doc.get("apiVersion"):
            g, v = split_api_version(str(doc["apiVersion"]))
            sel.update(group=g, version=v)
        if selector_matches(sel, body, names, regex=False):
            return True
    return False


def selector_matches(sel: Mapping[str, Any], body: Mapping[str, Any], names: set[str], *,
                     regex: bool = True) -> bool:
    """Whether a kustomize selector (patch target, replacement select) may pick the object.

    ``namespace`` is not compared: the object's namespace at the selector's layer may have been
    changed by a later ``namespace:``, and naming a file too many is safer for an audit than one too few.
    """
    api_version = str(body.get("apiVersion") or "")
    group, version = split_api_version(api_version)
    meta = body.get("metadata") or {}

    def eq(pattern: Any, value: str) -> bool:
        if pattern in (None, ""):
            return True
        pat = str(pattern)
        if not regex:
            return pat == value
        try:
            return re.fullmatch(pat, value) is not None
        except re.error:
            return pat == value

    if not eq(sel.get("kind"), str(body.get("kind") or "")):
        return False
    if sel.get("group") not in (None, "") and not eq(sel.get("group"), group):
        return False
    if sel.get("version") not in (None, "") and not eq(sel.get("version"), version):
        return False
    if sel.get("name") not in (None, "") and not any(eq(sel.get("name"), n) for n in names):
        return False
    if sel.get("labelSelector") and not _label_selector(str(sel["labelSelector"]), meta.get("labels") or {}):
        return False
    return not (
        sel.get("annotationSelector")
        and not _label_selector(str(sel["annotationSelector"]), meta.get("annotations") or {})
    )


_SET_RE = re.compile(r"^\s*(!?)([^\s!=]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")


def _label_selector(selector: str, labels: Mapping[str, Any]) -> bool:
    """Kubernetes label selector (``a=b,c!=d,e in (x,y),!f,g``) against a label map."""
    for term in re.split(r",(?![^(]*\))", selector):
        term = term.strip()
        if not term:
            continue
        if "!=" in term:
            k, v = (s.strip() for s in term.split("!=", 1))
            if str(labels.get(k)) == v:
                return False
            continue
        if "=" in term:
            k, v = (s.strip() for s in term.split("==" if "==" in term else "=", 1))
            if k not in labels or str(labels[k]) != v:
                return False
            continue
        m = _SET_RE.match(term)
        if not m:
            return False
        neg, key, op, values = m.groups()
        vals = {v.strip() for v in (values or "").split(",") if v.strip()}
        if op == "in" and str(labels.get(key)) not in vals:
            return False
        if op == "notin" and key in labels and str(labels[key]) in vals:
            return False
        if not op and bool(neg) == (key in labels):
            return False
    return True


