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

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
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


def _candidates(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Name prefixes ending in ``-`` and suffixes starting with ``-`` (one or two words) that most names share.

    An overlay's ``namePrefix``/``nameSuffix`` applies to every object it renders (objects generated
    further down, like a region's ConfigMap, may lack it), so only affixes of more than half the names count.
    """
    unique = set(names)
    pre: dict[str, int] = defaultdict(int)
    suf: dict[str, int] = defaultdict(int)
    for name in unique:
        parts = name.split("-")
        for n in (1, 2):
            if len(parts) > n:
                pre["-".join(parts[:n]) + "-"] += 1
                suf["-" + "-".join(parts[-n:])] += 1
    half = len(unique) / 2
    return (["", *sorted(p for p, c in pre.items() if c > half)],
            ["", *sorted(x for x, c in suf.items() if c > half)])


def _strip(name: str, prefix: str, suffix: str) -> str:
    if prefix and name.startswith(prefix) and len(name) > len(prefix):
        name = name[len(prefix):]
    if suffix and name.endswith(suffix) and len(name) > len(suffix):
        name = name[: -len(suffix)]
    return name


def line_up(targets: Sequence[tuple[str, Sequence[AppObject]]]) -> dict[str, tuple[AppObject, ...]]:
    """Re-key each target's objects without the overlay's name prefix/suffix (``dev-``, ``-eu``…).

    The affixes are not known from the render, so each target takes the (prefix, suffix) whose removal
    lines its names up best with the other targets: the score sums, over every other target, the
    largest overlap with that target's names under any of *its* candidate affixes (so ``dev-web`` and
    ``prod-web`` meet as ``web``, and a sibling with the same prefix does not outvote the fleet). Ties
    go to the shorter affixes, so a target that matches nothing keeps its names. Apps named after the
    object (no ``app.kubernetes.io/name`` label) follow their object's new name.
    """
    names = {t: [a.key.partition("/")[2] for a in apps if a.ref.kind != "Namespace"] for t, apps in targets}
    options: dict[str, dict[tuple[str, str], frozenset[str]]] = {}
    for t, ns in names.items():
        prefixes, suffixes = _candidates(ns)
        options[t] = {(p, x): frozenset(_strip(n, p, x) for n in ns) for p in prefixes for x in suffixes}
    chosen: dict[str, tuple[str, str]] = {}
    for t in names:
        best, best_score = ("", ""), -1
        for affix, stripped in options[t].items():
            score = sum(max(len(stripped & other) for other in options[o].values()) for o in names if o != t)
            if score > best_score or (score == best_score and len("".join(affix)) < len("".join(best))):
                best, best_score = affix, score
        chosen[t] = best
    out: dict[str, tuple[AppObject, ...]] = {}
    for t, apps in targets:
        prefix, suffix = chosen[t]
        rekeyed = []
        seen: set[str] = set()
        for a in apps:
            kind, _, name = a.key.partition("/")
            base = name if kind == "Namespace" else _strip(name, prefix, suffix)
            key = f"{kind}/{base}"
            if key in seen:  # two objects that only the affix told apart keep their own names
                key = a.key
            seen.add(key)
            app = _strip(a.app, prefix, suffix) if a.app == name else a.app
            rekeyed.append(replace(a, key=key, app=app))
        out[t] = tuple(rekeyed)
    return out


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
    """One :class:`AppObject` per desired object and per orphaned live object of one target.

    Keys drop the namespace and generator hash here; :func:`line_up` drops the overlay's name affixes
    once every target of the run is known.
    """
    namespace = _only_namespace(desired)
    verdict = {d.ref: d.kind for d in drifts}
    live_by_ref = {m.ref: m for m in live}
    out: list[AppObject] = []
    seen: set[str] = set()

    def add(ref: ObjectRef, body: Manifest | None, state: DriftKind) -> None:
        if ref.kind == "Namespace" and not ref.group:
            base = NAMESPACE if ref.name == namespace else ref.name
        else:
            base = _strip_hash(ref)
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


def _leaves(value: Any, path: str, out: dict[str, Any], skip_data: bool, rename: Mapping[str, str]) -> None:
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
            _leaves(v, f"{path}.{key}" if path else key, out, skip_data, rename)
        return
    if isinstance(value, list):
        if not value:
            out[path] = []
            return
        named = all(isinstance(v, Mapping) and isinstance(v.get("name"), str) for v in value)
        for i, v in enumerate(value):
            item = f"[name={rename.get(v['name'], v['name'])}]" if named else f"[{i}]"
            _leaves(v, path + item, out, skip_data, rename)
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


ParkedObject = tuple[str, str, str, str, str, Mapping[str, Any]]
"""What :func:`fleet_fields` reads of a desired object, as plain values: (group, kind, namespace, name,
apiVersion, body)."""


def park(objects: Iterable[Manifest]) -> tuple[ParkedObject, ...]:
    """Desired objects as :data:`ParkedObject` rows for the run's spool.

    Plain tuples and dicts pickle in C; the objects themselves (slotted dataclasses, with provenance the
    comparison never reads) went through ``__getstate__`` in Python: 4 s of a 24 x 1,500 fleet's run.
    """
    return tuple((m.ref.group, m.ref.kind, m.ref.namespace, m.ref.name, m.api_version, m.body) for m in objects)


def unpark(rows: Iterable[ParkedObject]) -> tuple[Manifest, ...]:
    """The objects of :func:`park`, without provenance."""
    return tuple(Manifest(ref=ObjectRef(g, k, ns, n), api_version=v, body=b) for g, k, ns, n, v, b in rows)


def fleet_fields(
    targets: Iterable[tuple[str, Sequence[Manifest], Sequence[AppObject]]],
) -> tuple[FleetField, ...]:
    """Desired fields whose value is not the same on every target holding the object.

    ``targets``: (target name, desired objects, its :func:`app_objects`), in report order; read one at a
    time, so the caller can hand each target's objects over from disk. Values that name one of the
    target's own objects (``serviceAccountName: dev-shop-web``) or its only namespace are compared in
    their fleet-wide form, so the overlay's renaming is not reported as a difference.

    Each field keeps the first value seen, a bit per target holding that value and the targets whose
    value is another: memory follows the fields of the fleet's objects, not fields x targets.
    """
    names: list[str] = []
    holders: dict[str, int] = defaultdict(int)  # app key -> bit per target holding it
    fields: dict[tuple[str, str], list[Any]] = {}  # -> [first value, bits of targets with it, {target: other}]
    for index, (name, desired, apps) in enumerate(targets):
        names.append(name)
        bit = 1 << index
        by_ref = {a.ref: a for a in apps}
        rename = _normalizer(desired, by_ref)
        namespace = _only_namespace(desired)
        for m in desired:
            a = by_ref.get(m.ref)
            if a is None:
                continue
            holders[a.key] |= bit
            leaves: dict[str, Any] = {}
            _leaves(m.body, "", leaves, (m.ref.group, m.ref.kind) in _SECRET_KINDS, rename)
            for path, value in leaves.items():
                if isinstance(value, str):
                    if namespace and value == namespace and path.endswith("namespace"):
                        value = NAMESPACE  # e.g. a RoleBinding subject in the overlay's own namespace
                    elif value in rename:
                        value = rename[value]
                _record(fields, (a.key, path), index, bit, value)
    out: list[FleetField] = []
    # A field's (target, value) pairs, and whole value lists, repeat across fields (every object carries the
    # overlay's `env` label): one instance each, or they grew with differing fields x targets (~20 MB at 96).
    pairs: dict[tuple[str, tuple[type, Any]], tuple[str, Any]] = {}  # keyed by (target, _exact(value))
    lists: dict[tuple[int, ...], tuple[tuple[str, Any], ...]] = {}

    def pair(name: str, value: Any) -> tuple[str, Any]:
        try:
            return pairs.setdefault((name, _exact(value)), (name, value))
        except TypeError:  # an empty list or dict
            return (name, value)

    for (key, path), (first, same, others) in fields.items():
        held = holders[key]
        if held & (held - 1) == 0:  # one target holds the object
            continue
        if same == held and not others:
            continue  # every holder has the first value
        values = [(i, others[i] if i in others else first if same >> i & 1 else None)
                  for i in range(held.bit_length()) if held >> i & 1]
        base = values[0][1]
        if not all(_same(v, base) for _, v in values[1:]):
            shown = tuple(pair(names[i], v) for i, v in values)
            # Keyed by the pairs' identities: a kept list keeps its pairs alive, so no id is reused.
            shown = lists.setdefault(tuple(map(id, shown)), shown)
            out.append(FleetField(key=key, path=path, values=shown))
    out.sort(key=lambda f: (f.key, f.path))
    return tuple(out[:MAX_FLEET_FIELDS])


def _exact(value: Any) -> tuple[type, Any]:
    """A leaf (scalar or empty container) as the report shows it: its type, and a float by its text.

    ``==`` is not exact on leaves: 1 == 1.0 == True, 0.0 == -0.0 and NaN != NaN.
    """
    return type(value), repr(value) if type(value) is float else value


def _same(a: Any, b: Any) -> bool:
    """True when two leaves are the same value, as the report shows them (:func:`_exact`)."""
    if type(a) is not type(b):  # per leaf per target: the common cases without building keys
        return False
    return _exact(a) == _exact(b) if type(a) is float else bool(a == b)


def _record(fields: dict[tuple[str, str], list[Any]], where: tuple[str, str], index: int, bit: int,
            value: Any) -> None:
    """Note ``value`` as target ``index``'s at ``where`` (a target's later object with the same key wins)."""
    entry = fields.get(where)
    if entry is None:
        fields[where] = [value, bit, {}]
        return
    entry[1] &= ~bit
    entry[2].pop(index, None)
    if _same(value, entry[0]):
        entry[1] |= bit
    else:
        entry[2][index] = value
