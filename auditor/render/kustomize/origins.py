"""Provenance of a plain kustomize build, computed from the kustomization graph instead of buildMetadata.

Why: with ``buildMetadata`` kustomize tracks origins, and then records every transformer on every object
it passes (a YAML annotation parsed and re-written per object per transformer). That costs ~20 % of
kustomize's CPU on a 1,500-object overlay whatever option is asked (bench/RESULTS.md), so an audit that
asked for it on every build could never be near plain kustomize's speed.

What: :func:`simulate` replays kustomize's accumulation (``api/internal/target/kusttarget.go``) over object
*identities*, not contents: resources and generators enter an accumulator, components run on their
parent's accumulator, each kustomization's builtin transformers touch everything accumulated so far, and
name prefixes/suffixes rename what they touch. It yields, for each predicted output object, the origin and
transformations annotations kustomize would have written (same shape, paths relative to the overlay), so
:mod:`~auditor.render.kustomize.attribution` works unchanged. :func:`match` pairs the predictions with the
objects kustomize actually printed, one to one, by group, kind and name (namespace only to break ties).

Exact, or say so: anything the replay does not model makes it decline, and the caller renders with
buildMetadata as before. It declines for remote bases, Helm charts, generator/transformer/validator
plugins, ``configurations``, generators with ``behavior: merge|replace``, patches or replacements that can
rename an object or change its kind, unknown kustomization fields, and whenever the pairing is not a
bijection (an object deleted by a patch, two candidates for one object, a local-config object kept...).
``tests/render/test_origins.py`` compares the replay with kustomize's own annotations on every fleet of
the test suite.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from auditor.model import split_api_version
from auditor.render.kustomize.graph import Graph, KFile, SourceObject, find_kustomization, join_path, source_objects
from auditor.util import yamlio
from auditor.util.kinds import is_namespaced

_KNOWN_FIELDS = frozenset({
    "apiVersion", "kind", "metadata", "resources", "bases", "components", "namespace", "namePrefix",
    "nameSuffix", "commonLabels", "labels", "commonAnnotations", "images", "imageTags", "replicas", "patches",
    "patchesStrategicMerge", "patchesJson6902", "replacements", "configMapGenerator", "secretGenerator",
    "generatorOptions", "vars", "sortOptions", "buildMetadata", "crds", "openapi",
})
"""Kustomization fields the replay models; any other field (helmCharts, generators, transformers,
validators, configurations…) makes it decline."""

_NO_RENAME = (("", "CustomResourceDefinition"), ("apiregistration.k8s.io", "APIService"), ("", "Namespace"))
"""(group or "" for any, kind) that kustomize's prefix and suffix transformers skip."""

_HASH_RE = re.compile(r"-[a-z0-9]{10}$")


class Unsupported(Exception):
    """The replay does not model this build (the message says what): render with buildMetadata instead."""


@dataclass
class _Record:
    """One object on its way through the build."""

    group: str
    kind: str
    name: str
    namespace: str
    origin: dict[str, Any]
    api_version: str = ""
    generated: bool = False
    local: bool = False
    transformations: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Annotations:
    """What kustomize's build annotations would have said about one output object (parsed)."""

    origin: Mapping[str, Any]
    transformations: tuple[Mapping[str, Any], ...]


def simulate(graph: Graph) -> list[_Record]:
    """The objects the overlay's build makes, with their origins and transformations; raises Unsupported."""
    records: list[_Record] = []
    _accumulate(graph, graph.overlay, records, ())
    return records


def match(records: list[_Record], items: list[dict[str, Any]]) -> list[Annotations]:
    """Annotations for each printed object, in order; raises Unsupported unless the pairing is one to one."""
    by_kind: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(records):
        by_kind.setdefault((r.group, r.kind), []).append(i)
    used: set[int] = set()
    out: list[Annotations] = []
    for obj in items:
        group = split_api_version(str(obj.get("apiVersion") or ""))[0]
        kind = str(obj.get("kind") or "")
        raw_meta = obj.get("metadata")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        name = str(meta.get("name") or "")
        found = [i for i in by_kind.get((group, kind), ()) if _name_matches(records[i], name)]
        if len(found) > 1:
            namespace = str(meta.get("namespace") or "")
            found = [i for i in found if records[i].namespace == namespace]
        if len(found) != 1:
            raise Unsupported(f"{kind}/{name}: {len(found)} candidate sources")
        i = found[0]
        if i in used or records[i].local:
            raise Unsupported(f"{kind}/{name}: source already paired or dropped by kustomize")
        used.add(i)
        r = records[i]
        out.append(Annotations(r.origin, tuple(r.transformations)))
    left = [r for i, r in enumerate(records) if i not in used and not r.local]
    if left:
        raise Unsupported(f"{left[0].kind}/{left[0].name} is not in the output (deleted by a patch?)")
    return out


def _name_matches(r: _Record, name: str) -> bool:
    if r.name == name:
        return True
    return r.generated and name.startswith(r.name) and len(name) == len(r.name) + 11 and bool(
        _HASH_RE.search(name))


def _rel(graph: Graph, path: str) -> str:
    """``path`` (repository-relative) as kustomize writes it in annotations: relative to the overlay."""
    return posixpath.relpath(path or ".", graph.overlay or ".")


def _accumulate(graph: Graph, kdir: str, ra: list[_Record], stack: tuple[str, ...]) -> None:
    """Replay accumulateTarget for ``kdir`` into ``ra`` (the parent's accumulator for a component)."""
    if kdir in stack:
        raise Unsupported(f"{kdir or '.'}: cycle")
    kf = graph.kfiles.get(kdir)
    if kf is None or kf.error:
        raise Unsupported(f"{kdir or '.'}: kustomization not scanned")
    data = kf.data
    unknown = sorted(k for k in data if k not in _KNOWN_FIELDS)
    if unknown:
        raise Unsupported(f"{kf.path}: {', '.join(unknown)}")
    _check_renames(kf)
    stack = (*stack, kdir)
    # resources (bases appended, as kustomize's FixKustomization does)
    for entry in _strings(data.get("resources")) + _strings(data.get("bases")):
        target = join_path(kdir, entry)
        if target is None or "\n" in entry:
            raise Unsupported(f"{kf.path}: resource {entry!r} is not a path in the repository")
        full = graph.root.joinpath(*target.split("/")) if target else graph.root
        if full.is_file():
            objs = source_objects(graph.root, target, graph.memo)
            if objs is None:
                raise Unsupported(f"{target}: not parsed")
            ra.extend(_from_file(graph, target, objs))
        elif full.is_dir() and find_kustomization(graph.root, target) is not None:
            sub: list[_Record] = []
            _accumulate(graph, target, sub, stack)
            ra.extend(sub)
        else:
            raise Unsupported(f"{kf.path}: resource {entry!r} is neither a file nor a kustomization")
    # generators, then components (on this accumulator), then this kustomization's transformers
    ra.extend(_generated(graph, kf))
    for entry in _strings(data.get("components")):
        target = join_path(kdir, entry)
        if target is None or find_kustomization(graph.root, target) is None:
            raise Unsupported(f"{kf.path}: component {entry!r} is not a local kustomization")
        _accumulate(graph, target, ra, stack)
    configured_in = _rel(graph, kf.path)
    for kind, value in _transformers(data):
        note = {"configuredIn": configured_in, "configuredBy": {"apiVersion": "builtin", "kind": kind}}
        for r in ra:
            r.transformations.append(note)
            if kind == "PrefixTransformer" and not _skips_rename(r):
                r.name = value + r.name
            elif kind == "SuffixTransformer" and not _skips_rename(r):
                r.name = r.name + value
            elif kind == "NamespaceTransformer":
                if r.kind == "Namespace" and r.api_version == "v1":
                    r.name = value  # kustomize's namespace field specs rename a v1 Namespace object
                elif is_namespaced(r.group, r.kind):
                    r.namespace = value


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Unsupported("a list of paths is not a list of strings")
    return list(value)


def _from_file(graph: Graph, path: str, objs: Iterable[SourceObject]) -> list[_Record]:
    origin = {"path": _rel(graph, path)}
    return [_Record(split_api_version(o.api_version)[0], o.kind, o.name, o.namespace, dict(origin),
                    api_version=o.api_version, local=o.local) for o in objs]


def _generated(graph: Graph, kf: KFile) -> list[_Record]:
    out: list[_Record] = []
    for fld, kind, gen_kind in (("configMapGenerator", "ConfigMap", "ConfigMapGenerator"),
                                ("secretGenerator", "Secret", "SecretGenerator")):
        items = kf.data.get(fld) or []
        if not isinstance(items, list):
            raise Unsupported(f"{kf.path}: {fld} is not a list")
        for gen in items:
            if not isinstance(gen, dict) or str(gen.get("behavior") or "create") != "create":
                raise Unsupported(f"{kf.path}: {fld} with behavior merge/replace")
            origin = {"configuredIn": _rel(graph, kf.path),
                      "configuredBy": {"apiVersion": "builtin", "kind": gen_kind}}
            out.append(_Record("", kind, str(gen.get("name") or ""), str(gen.get("namespace") or ""), origin,
                               api_version="v1", generated=True))
    return out


def _transformers(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(kind, value) of the builtin transformers a kustomization configures, one per instance.

    In kustomize's order (configureBuiltinTransformers).
    """
    out: list[tuple[str, str]] = []

    def count(name: str) -> int:
        value = data.get(name)
        return len(value) if isinstance(value, (list, dict)) else 0

    if count("patchesStrategicMerge"):
        out.append(("PatchStrategicMergeTransformer", ""))
    out += [("PatchTransformer", "")] * count("patches")
    if data.get("namespace"):
        out.append(("NamespaceTransformer", str(data["namespace"])))
    if data.get("namePrefix"):
        out.append(("PrefixTransformer", str(data["namePrefix"])))
    if data.get("nameSuffix"):
        out.append(("SuffixTransformer", str(data["nameSuffix"])))
    if count("labels") or count("commonLabels"):
        out += [("LabelTransformer", "")] * (count("labels") + 1)
    if count("commonAnnotations"):
        out.append(("AnnotationsTransformer", ""))
    out += [("PatchJson6902Transformer", "")] * count("patchesJson6902")
    out += [("ReplicaCountTransformer", "")] * count("replicas")
    out += [("ImageTagTransformer", "")] * (count("images") + count("imageTags"))
    if count("replacements"):
        out.append(("ReplacementTransformer", ""))
    return out


def _skips_rename(r: _Record) -> bool:
    return any(r.kind == kind and (not group or r.group == group) for group, kind in _NO_RENAME)


_RENAMING_PATH = re.compile(r"^(?:/?|/metadata|/(?:kind|apiVersion|metadata/name)(?:/.*)?)$")
_WIPING_PATH = re.compile(r"^(?:/?|/metadata|/metadata/annotations)$")
"""JSON patch paths that replace or remove the whole annotations map, build annotations included: kustomize
then starts the object's origin over from that transformer, which the replay does not model."""


def _check_renames(kf: KFile) -> None:
    """Decline patches and replacements the replay does not model.

    Those that may rename an object or change its kind or API group, and those that replace the whole
    ``metadata.annotations`` map (kustomize's origin annotation goes with it).
    """
    data = kf.data
    kdir = posixpath.dirname(kf.path)

    def text_of(value: Any, path: Any) -> str | None:
        if isinstance(path, str):
            joined = join_path(kdir, path)
            text = kf.read(joined) if joined is not None else None
            if text is None:
                raise Unsupported(f"{kf.path}: patch file {path} unreadable")
            return text
        return value if isinstance(value, str) else None

    for fld in ("patches", "patchesJson6902"):
        for item in data.get(fld) or []:
            if not isinstance(item, dict):
                raise Unsupported(f"{kf.path}: {fld} entry is not a mapping")
            options = item.get("options")
            if isinstance(options, dict) and (options.get("allowNameChange") or options.get("allowKindChange")):
                raise Unsupported(f"{kf.path}: a patch may rename objects")
            _check_patch(kf, text_of(item.get("patch"), item.get("path")))
    for item in data.get("patchesStrategicMerge") or []:
        if isinstance(item, str):
            is_inline = "\n" in item or item.lstrip().startswith(("{", "["))
            _check_patch(kf, item if is_inline else text_of(None, item))
    for rep in data.get("replacements") or []:
        if not isinstance(rep, dict):
            raise Unsupported(f"{kf.path}: replacements entry is not a mapping")
        items: list[Any] = [rep]
        if isinstance(rep.get("path"), str):
            joined = join_path(kdir, rep["path"])
            text = kf.read(joined) if joined is not None else None
            try:
                docs = yamlio.load_all(text, joined or "") if text else None
            except yamlio.YamlError:
                docs = None
            if docs is None:
                raise Unsupported(f"{kf.path}: replacements file {rep['path']} unreadable")
            items = [i for d in docs for i in (d if isinstance(d, list) else [d])]
        for item in items:
            targets = item.get("targets") if isinstance(item, dict) else None
            for tgt in targets or []:
                paths = tgt.get("fieldPaths") if isinstance(tgt, dict) else None
                if any(isinstance(p, str) and (p in ("kind", "apiVersion", "metadata", "metadata.annotations")
                                               or p.startswith("metadata.name"))
                       for p in paths or ()):
                    raise Unsupported(f"{kf.path}: a replacement sets a name, kind, apiVersion or all annotations")


def _check_patch(kf: KFile, text: str | None) -> None:
    """Decline a patch (JSON6902 or strategic merge) that renames or replaces all annotations."""
    if text is None:
        return
    try:
        docs = yamlio.load_all(text, "patch")
    except yamlio.YamlError:
        raise Unsupported(f"{kf.path}: a patch does not parse") from None
    for doc in docs:
        if isinstance(doc, list):
            for op in doc:
                if not isinstance(op, dict):
                    raise Unsupported(f"{kf.path}: a JSON patch operation is not a mapping")
                for key in ("path", "from"):
                    value = op.get(key)
                    if isinstance(value, str) and (_RENAMING_PATH.match(value) or _WIPING_PATH.match(value)):
                        raise Unsupported(f"{kf.path}: a JSON patch changes a name, kind, apiVersion or all "
                                          "annotations")
        elif isinstance(doc, dict):
            meta = doc.get("metadata", {})
            # `$patch: delete` removes the object (the pairing then fails); `replace` rewrites it whole.
            if meta is None or doc.get("$patch") == "replace" or (isinstance(meta, dict) and (
                    "$patch" in meta or ("annotations" in meta and not isinstance(meta["annotations"], dict))
                    or "$patch" in (meta.get("annotations") or {}))):
                raise Unsupported(f"{kf.path}: a strategic-merge patch replaces metadata or all annotations")
