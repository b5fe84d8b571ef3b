"""Line the targets of a run up side by side: workload identity per object, and desired fields that differ.

Overlays rename what they share: ``namePrefix: dev-``, ``namespace: shop-dev``, generator hashes
(``region-config-7h2c9t8mkd``). To show one application across dev, staging and production (the fleet
matrix, version skew, the environment comparison) each object gets a *key* that is the same on every
target: ``Kind/name`` with the target's common name prefix/suffix and the generator hash removed.
The *app* of an object is its ``app.kubernetes.io/name`` (else ``app``) label, else that key's name.

Wiring-level code (like the other ``pipeline_*`` modules): it reads manifests and drift verdicts and
returns model values; no stage imports it.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from auditor.model import AppObject, DriftKind, FleetField, Manifest, ObjectDrift, ObjectRef

MAX_FIELDS_PER_OBJECT = 2000
"""Leaves read per object; a larger object (a big ConfigMap) is compared on its first leaves only."""
MAX_FLEET_FIELDS = 20000
"""Differing fields kept for the report (the HTML embeds them); the rest are counted, not shown."""

# kustomize's generator suffix: 10 characters from its hash alphabet (no vowels, no 0/1/3).
_HASH_SUFFIX = re.compile(r"-[2456789bcdfghkmt]{10}$")
_APP_LABELS = ("app.kubernetes.io/name", "app")
_SKIP_META = frozenset({"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                        "managedFields", "selfLink"})
_SECRET_KINDS = frozenset({("", "Secret")})
NAMESPACE = "(namespace)"
"""Fleet-wide name of a target's own namespace (``shop-dev``, ``shop`` …)."""


def _strip_hash(ref: ObjectRef) -> str:
    if ref.group == "" and ref.kind in ("ConfigMap", "Secret"):
        return _HASH_SUFFIX.sub("", ref.name)
    return ref.name


def _common_affixes(names: Iterable[str]) -> tuple[str, str]:
    """The prefix ending in ``-`` and the suffix starting with ``-`` that every name shares.

    Only with two names or more: one object alone says nothing about what the overlay added.
    """
    unique = sorted(set(names))
    if len(unique) < 2:
        return "", ""
    first, last = unique[0], unique[-1]
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    prefix = first[:n]
    prefix = prefix[: prefix.rfind("-") + 1] if "-" in prefix else ""
    rev = sorted(name[::-1] for name in unique)
    n = 0
    while n < min(len(rev[0]), len(rev[-1])) and rev[0][n] == rev[-1][n]:
        n += 1
    suffix = rev[0][:n][::-1]
    suffix = suffix[suffix.find("-"):] if "-" in suffix else ""
    if any(len(name) <= len(prefix) + len(suffix) for name in unique):
        return "", ""  # an affix that would leave a name empty is the name itself, not an affix
    return prefix, suffix


def _base_name(name: str, affixes: tuple[str, str]) -> str:
    prefix, suffix = affixes
    if prefix and name.startswith(prefix):
        name = name[len(prefix):]
    if suffix and name.endswith(suffix) and len(name) > len(suffix):
        name = name[: -len(suffix)]
    return name


def _labels(m: Manifest | None) -> Mapping[str, Any]:
    if m is None:
        return {}
    labels = m.labels
    return labels if isinstance(labels, Mapping) else {}


def _app_of(m: Manifest | None, base: str) -> str:
    labels = _labels(m)
    for key in _APP_LABELS:
        value = labels.get(key)
        if isinstance(value, str) and value:
            return value
    return base


def _state(kind: DriftKind) -> DriftKind:
    # Fields added out-of-band make the object drifted as much as a changed field does.
    return DriftKind.MODIFIED if kind == DriftKind.ADDED else kind


def app_objects(
    desired: Sequence[Manifest], live: Sequence[Manifest], drifts: Sequence[ObjectDrift]
) -> tuple[AppObject, ...]:
    """One :class:`AppObject` per desired object and per orphaned live object of one target."""
    affixes = _common_affixes(_strip_hash(m.ref) for m in desired if m.ref.kind != "Namespace")
    namespace = _only_namespace(desired)
    verdict = {d.ref: d.kind for d in drifts}
    live_by_ref = {m.ref: m for m in live}
    out: list[AppObject] = []
    seen: set[str] = set()

    def add(ref: ObjectRef, body: Manifest | None, state: DriftKind) -> None:
        if ref.kind == "Namespace" and not ref.group:
            base = NAMESPACE if ref.name == namespace else ref.name
        else:
            base = _base_name(_strip_hash(ref), affixes)
        key = f"{ref.kind}/{base}"
        if key in seen:  # the same kind and name in two namespaces of one target
            key = f"{key} ({ref.namespace})"
        seen.add(key)
        labels = _labels(body)
        chart, version = labels.get("helm.sh/chart", ""), labels.get("app.kubernetes.io/version", "")
        out.append(AppObject(ref=ref, app=_app_of(body, base), key=key, state=state,
                             chart=str(chart or ""), version=str(version or "")))

    for m in desired:
        add(m.ref, m, _state(verdict.get(m.ref, DriftKind.IN_SYNC)))
    for d in drifts:
        if d.kind == DriftKind.ORPHANED:
            add(d.ref, live_by_ref.get(d.ref), DriftKind.ORPHANED)
    return tuple(out)


def _leaves(value: Any, path: str, out: dict[str, Any], skip_data: bool) -> None:
    if len(out) >= MAX_FIELDS_PER_OBJECT:
        return
    if isinstance(value, Mapping):
        if not value and path:
            out[path] = {}
        for k, v in value.items():
            key = str(k)
            if not path and key == "status":
                continue
            if path == "metadata" and key in _SKIP_META:
                continue
            if not path and skip_data and key in ("data", "stringData"):
                continue  # Secret values are never compared, shown or kept
            _leaves(v, f"{path}.{key}" if path else key, out, skip_data)
        return
    if isinstance(value, list):
        if not value:
            out[path] = []
            return
        named = all(isinstance(v, Mapping) and isinstance(v.get("name"), str) for v in value)
        for i, v in enumerate(value):
            _leaves(v, f"{path}[name={v['name']}]" if named else f"{path}[{i}]", out, skip_data)
        return
    out[path] = value


def _only_namespace(desired: Sequence[Manifest]) -> str:
    namespaces = {m.ref.namespace for m in desired if m.ref.namespace}
    return namespaces.pop() if len(namespaces) == 1 else ""


def _normalizer(desired: Sequence[Manifest], apps: Mapping[ObjectRef, AppObject]) -> dict[str, str]:
    """Values that name one of this target's objects → their fleet-wide form."""
    names: dict[str, str] = {}
    for m in desired:
        a = apps.get(m.ref)
        if a is not None and m.ref.kind != "Namespace" and a.key.partition("/")[2] != m.ref.name:
            names[m.ref.name] = a.key.partition("/")[2]
    return names


def fleet_fields(targets: Sequence[tuple[str, Sequence[Manifest], Sequence[AppObject]]]) -> tuple[FleetField, ...]:
    """Desired fields whose value is not the same on every target holding the object.

    ``targets``: (target name, desired objects, its :func:`app_objects`). Values that name one of
    the target's own objects (``serviceAccountName: dev-shop-web``) or its only namespace are
    compared in their fleet-wide form, so the overlay's renaming is not reported as a difference.
    """
    values: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
    holders: dict[str, list[str]] = defaultdict(list)
    for name, desired, apps in targets:
        by_ref = {a.ref: a for a in apps}
        rename = _normalizer(desired, by_ref)
        namespace = _only_namespace(desired)
        for m in desired:
            a = by_ref.get(m.ref)
            if a is None:
                continue
            holders[a.key].append(name)
            leaves: dict[str, Any] = {}
            _leaves(m.body, "", leaves, (m.ref.group, m.ref.kind) in _SECRET_KINDS)
            for path, value in leaves.items():
                if isinstance(value, str):
                    if namespace and value == namespace and path.endswith("namespace"):
                        value = NAMESPACE  # e.g. a RoleBinding subject in the overlay's own namespace
                    elif value in rename:
                        value = rename[value]
                values[(a.key, path)][name] = value
    out: list[FleetField] = []
    for (key, path), per_target in values.items():
        held = holders[key]
        if len(held) < 2:
            continue
        seen = {json.dumps(per_target.get(t), sort_keys=True, default=str) for t in held}
        if len(seen) > 1:
            out.append(FleetField(key=key, path=path, values=tuple((t, per_target.get(t)) for t in held)))
    out.sort(key=lambda f: (f.key, f.path))
    return tuple(out[:MAX_FLEET_FIELDS])
