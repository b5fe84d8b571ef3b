"""Desired-subset comparison of one desired object with its live twin.

Only fields present in desired are compared (server defaults and controller-written fields are
never noise). Lists follow the API's merge semantics: keyed lists are matched item by item by their
merge keys, sets by value, atomic lists whole (lists of objects of equal length are walked by
index so the report can point at the field that changed).

Paths are tuples of segments: map keys, and list items as ``[name=web]`` (keyed), ``[value]``
(set) or ``[3]`` (index). This is also the form managedFields decoding produces, so a change
finds its field manager by tuple lookup.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from auditor.diff.normalize import (
    COMPARED_METADATA,
    SERVER_ANNOTATIONS,
    SKIPPED_TOP_LEVEL,
    is_quantity_field,
    is_unset,
    key_value_text,
    list_item_segment,
    numbers_equal,
    quantities_equal,
)
from auditor.diff.schema import ANY_KEY, FieldSpec, Schemas

Path = tuple[str, ...]
METADATA_NODE = "meta.v1.ObjectMeta"


class _Missing:
    """Sentinel for "absent live"."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


class RawChange(NamedTuple):
    """One difference before attribution/suppression: path, desired and live value."""

    path: Path
    expected: Any
    actual: Any


@dataclass
class CompareResult:
    """Changes of one object, plus atomic lists that differ only in fields git does not set."""

    changes: list[RawChange] = field(default_factory=list)
    atomic_extra: list[RawChange] = field(default_factory=list)
    """Atomic lists that are not equal but contain every desired field: reported only when an
    out-of-band manager owns the list (then the live extras were added by hand, not defaulted)."""


def escape_pointer(token: str) -> str:
    """RFC 6901 escaping of one reference token."""
    return token.replace("~", "~0").replace("/", "~1")


class Comparer:
    """Compares objects using one target's schemas."""

    def __init__(self, schemas: Schemas) -> None:
        self.schemas = schemas
        self._defs = schemas.defs

    def compare(self, desired: Mapping[str, Any], live: Mapping[str, Any], group: str, kind: str) -> CompareResult:
        """Differences of ``live`` from ``desired`` (desired-subset semantics)."""
        res = CompareResult()
        root = self.schemas.root(group, kind)
        fields = self._defs.get(root) if root else None
        for key, dv in desired.items():
            if key in SKIPPED_TOP_LEVEL:
                continue
            lv = live.get(key, MISSING)
            if dv == lv:
                continue
            if key == "metadata":
                if isinstance(dv, dict):
                    self._metadata(dv, lv if isinstance(lv, dict) else {}, res)
                continue
            self._value(key, dv, lv, fields.get(key) if fields else None, "", (key,), res)
        return res

    def _metadata(self, d: Mapping[str, Any], live: Mapping[str, Any], res: CompareResult) -> None:
        """Compare labels, annotations (minus server-written ones) and finalizers only."""
        for key in COMPARED_METADATA:
            dv = d.get(key)
            if is_unset(dv):
                continue
            lv = live.get(key, MISSING)
            if dv == lv:
                continue
            base: Path = ("metadata", key)
            if key == "finalizers":
                self._value(key, dv, lv, ("", "set", ()), "metadata", base, res)
                continue
            if not isinstance(dv, dict):
                continue
            lmap = lv if isinstance(lv, dict) else {}
            for k, v in dv.items():
                if key == "annotations" and k in SERVER_ANNOTATIONS:
                    continue
                lval = lmap.get(k, MISSING)
                if v == lval or (v is None and lval is MISSING):
                    continue
                if numbers_equal(v, lval):
                    continue
                res.changes.append(RawChange((*base, k), v, None if lval is MISSING else lval))

    def _map(self, d: dict[str, Any], live: dict[str, Any], node: str, path: Path, res: CompareResult) -> None:
        fields = self._defs.get(node) if node else None
        parent = path[-1] if path else ""
        for key, dv in d.items():
            lv = live.get(key, MISSING)
            if dv == lv:
                continue
            spec = (fields.get(key) or fields.get(ANY_KEY)) if fields else None
            if type(dv) is dict and type(lv) is dict:  # the common case, without the dispatch call
                if dv:
                    self._map(dv, lv, spec[0] if spec else "", (*path, key), res)
                continue
            self._value(key, dv, lv, spec, parent, (*path, key), res)

    def _value(
        self,
        key: str,
        dv: Any,
        lv: Any,
        spec: FieldSpec | None,
        parent: str,
        path: Path,
        res: CompareResult,
    ) -> None:
        # Hot path: exact type checks (bodies are plain JSON/YAML trees) and is_unset inlined.
        t = type(dv)
        if t is dict:
            if not dv:
                return
            if type(lv) is dict:
                self._map(dv, lv, spec[0] if spec else "", path, res)
            else:
                res.changes.append(RawChange(path, dv, _live(lv)))
        elif t is list:
            if not dv:
                return
            if type(lv) is list:
                self._list(dv, lv, spec, path, res)
            else:
                res.changes.append(RawChange(path, dv, _live(lv)))
        elif dv is None or dv == "":
            return
        elif lv is MISSING or lv is None:
            res.changes.append(RawChange(path, dv, None))
        elif not (
            numbers_equal(dv, lv) or (is_quantity_field(parent, key) and quantities_equal(dv, lv))
        ):
            res.changes.append(RawChange(path, dv, lv))

    def _list(self, dv: list[Any], lv: list[Any], spec: FieldSpec | None, path: Path, res: CompareResult) -> None:
        list_type = spec[1] if spec else "atomic"
        child = spec[0] if spec else ""
        if list_type == "map" and spec:
            keys = spec[2]
            index = {list_item_segment(item, keys): i for i, item in enumerate(lv)}
            for item in dv:
                seg = list_item_segment(item, keys)
                i = index.get(seg)
                if i is None:
                    res.changes.append(RawChange((*path, seg), item, None))
                    continue
                litem = lv[i]
                if item == litem:
                    continue
                if isinstance(item, dict) and isinstance(litem, dict):
                    self._map(item, litem, child, (*path, seg), res)
                else:
                    res.changes.append(RawChange((*path, seg), item, litem))
            return
        if list_type == "set":
            present = {_hashable(v) for v in lv}
            for v in dv:
                if _hashable(v) not in present:
                    res.changes.append(RawChange((*path, f"[{key_value_text(v)}]"), v, None))
            return
        # Atomic: walk lists of objects of equal length by index when the items still correspond
        # (share at least one field value, e.g. the same name or host), so the report points at the
        # field that changed; report anything else whole.
        # Live may be longer: admission appends defaults to atomic lists (DefaultTolerationSeconds
        # adds two tolerations to every pod); the tail is judged with the other atomic extras.
        if len(dv) <= len(lv) and all(
            isinstance(a, dict) and isinstance(b, dict) and (a == b or _corresponds(a, b))
            for a, b in zip(dv, lv, strict=False)
        ):
            before = len(res.changes)
            for i, (a, b) in enumerate(zip(dv, lv, strict=False)):
                if a != b:
                    self._map(a, b, child, (*path, f"[{i}]"), res)
            if len(res.changes) == before:
                res.atomic_extra.append(RawChange(path, dv, lv))
            return
        # Scalars of an atomic list (args, command, hosts…) are text, never quantities: "1000" → "1k" is a change.
        if len(dv) == len(lv) and all(a == b or numbers_equal(a, b) for a, b in zip(dv, lv, strict=True)):
            return
        res.changes.append(RawChange(path, dv, lv))


def _corresponds(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """True when two list items share a field value: the same item, edited (not replaced)."""
    for k, v in a.items():
        if k not in b or is_unset(v):
            continue
        w = b[k]
        if w == v or (isinstance(v, dict) and isinstance(w, dict) and _corresponds(v, w)):
            return True
        if isinstance(v, list) and isinstance(w, list) and any(
            x == y or (isinstance(x, dict) and isinstance(y, dict) and _corresponds(x, y))
            for x, y in zip(v, w, strict=False)
        ):
            return True
    return False


def _live(lv: Any) -> Any:
    return None if lv is MISSING else lv


def _hashable(v: Any) -> Any:
    if isinstance(v, dict | list):
        return json.dumps(v, sort_keys=True)
    return v


def pointer_of(desired: Mapping[str, Any], live: Mapping[str, Any], path: Path, schemas: Schemas, group: str,
               kind: str) -> str:
    """RFC 6901 pointer of ``path``: indexes from live where the item exists there, else from desired."""
    value, ptr = locate(live, path, schemas, group, kind)
    if value is not MISSING:
        return ptr
    value, dptr = locate(desired, path, schemas, group, kind)
    return dptr if value is not MISSING else ptr


def locate(body: Mapping[str, Any], path: Path, schemas: Schemas, group: str, kind: str) -> tuple[Any, str]:
    """(value at ``path`` or MISSING, its JSON pointer in ``body``)."""
    node = schemas.root(group, kind)
    cur: Any = body
    spec: FieldSpec | None = None
    ptr = ""
    for seg in path:
        if isinstance(cur, list):
            if not seg.startswith("["):
                return MISSING, ptr
            found: Any = MISSING
            idx = -1
            if spec and spec[1] == "map":
                for n, it in enumerate(cur):
                    if list_item_segment(it, spec[2]) == seg:
                        found, idx = it, n
                        break
            else:
                inner = seg[1:-1]
                for n, it in enumerate(cur):
                    if not isinstance(it, dict | list) and key_value_text(it) == inner:
                        found, idx = it, n
                        break
                if found is MISSING and inner.isdigit() and int(inner) < len(cur):
                    idx = int(inner)
                    found = cur[idx]
            node = spec[0] if spec else ""
            spec = None
            cur = found
            if cur is MISSING:
                return MISSING, ptr
            ptr += f"/{idx}"
        elif isinstance(cur, Mapping):
            if seg not in cur:
                return MISSING, ptr
            fields = schemas.fields(node)
            spec = (fields.get(seg) or fields.get(ANY_KEY)) if fields else None
            if spec is None and seg == "metadata" and cur is body:
                spec = (METADATA_NODE, "", ())
            cur = cur[seg]
            ptr += "/" + escape_pointer(seg)
            if isinstance(cur, Mapping):
                node = spec[0] if spec else ""
        else:
            return MISSING, ptr
    return cur, ptr
