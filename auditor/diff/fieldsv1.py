"""``metadata.managedFields`` decoding (FieldsV1) and field attribution.

FieldsV1 is a trie of path elements (see k8s.io/apimachinery ``fieldpath``):

- ``f:<name>``  a map field,
- ``k:<json>``  a list item identified by its merge-key values (``k:{"name":"web"}``),
- ``v:<json>``  a set item identified by its value (``v:"example.com/finalizer"``),
- ``i:<n>``     a list item by index (atomic lists of structs addressed by position),
- ``.``         the item or map itself is owned (not only its children).

Leaves (empty maps) and ``.`` markers are the owned fields. Paths come out in the segment form
of :mod:`auditor.diff.compare` so a change finds its owner by tuple lookup.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.diff.normalize import KEY_DEFAULTS, is_unset, key_value_text
from auditor.model import LiveProvenance

Path = tuple[str, ...]


@dataclass(frozen=True)
class ManagerEntry:
    """One managedFields entry, decoded."""

    manager: str
    operation: str
    time: str
    subresource: str
    paths: frozenset[Path]

    @property
    def provenance(self) -> LiveProvenance:
        """As the shared model's LiveProvenance."""
        return LiveProvenance(manager=self.manager, operation=self.operation, time=self.time)


def decode_segment(element: str) -> str | None:
    """One FieldsV1 element as a path segment, or None for ``.`` (the owner marker)."""
    if element.startswith("f:"):
        return element[2:]
    if element.startswith("k:"):
        try:
            keys = json.loads(element[2:])
        except ValueError:
            return "[" + element[2:] + "]"
        if isinstance(keys, dict):
            return "[" + ",".join(f"{k}={key_value_text(keys[k])}" for k in sorted(keys)) + "]"
        return "[" + key_value_text(keys) + "]"
    if element.startswith("v:"):
        try:
            return "[" + key_value_text(json.loads(element[2:])) + "]"
        except ValueError:
            return "[" + element[2:] + "]"
    if element.startswith("i:"):
        return "[" + element[2:] + "]"
    if element == ".":
        return None
    return element


def decode_fields_v1(fields: Mapping[str, Any]) -> set[Path]:
    """Owned paths of one FieldsV1 trie: leaves, list items marked ``.``, and maps owned only as a whole.

    A ``.`` inside a *map* field that also lists children only records that the manager created
    the map; the children are what it wrote. Counting the map itself would report e.g. a whole
    ``metadata.annotations`` as added when only the last-applied annotation is there.
    """
    out: set[Path] = set()
    stack: list[tuple[Mapping[str, Any], Path, bool]] = [(fields, (), False)]
    while stack:
        node, path, is_item = stack.pop()
        for element, child in node.items():
            seg = decode_segment(element)
            if seg is None:
                if path and (is_item or len(node) == 1):
                    out.add(path)
                continue
            sub = (*path, seg)
            if isinstance(child, Mapping) and child:
                stack.append((child, sub, element[:2] in ("k:", "v:", "i:")))
            else:
                out.add(sub)
    return out


_ABSENT: Any = object()


def owned_values(
    fields: Mapping[str, Any], live: Any, desired: Any = _ABSENT, empty_is_set: bool = False
) -> Iterator[tuple[Path, Any, Any, bool]]:
    """(path, live value, live parent, set in git) of every field a FieldsV1 trie owns.

    One pass over the trie, walking the live and desired objects alongside, instead of decoding
    paths and looking each one up: keyed items are found by their key values (``k:{...}``; a key
    git omits takes its API default, e.g. ``protocol: TCP``), set items by value, others by
    index. Fields no longer present live are skipped; git's ``null``/``{}``/``[]``/``""`` count as
    not set, unless ``empty_is_set`` (then only ``null`` does: ``emptyDir: {}`` is a value an
    apply sends).
    """
    stack: list[tuple[Mapping[str, Any], Path, Any, Any, Any, bool]] = [(fields, (), live, None, desired, False)]
    while stack:
        node, path, cur, parent, dcur, is_item = stack.pop()
        for element, child in node.items():
            if element == ".":
                if path and (is_item or len(node) == 1):
                    yield path, cur, parent, dcur is not _ABSENT
                continue
            head = element[:2]
            value: Any = _ABSENT
            dval: Any = _ABSENT
            if head == "f:":
                name = element[2:]
                seg = name
                if type(cur) is dict:
                    value = cur.get(name, _ABSENT)
                if type(dcur) is dict:
                    dval = dcur.get(name, _ABSENT)
            else:
                try:
                    want = json.loads(element[2:])
                except ValueError:
                    continue
                if head == "k:" and type(want) is dict:
                    seg = "[" + ",".join(f"{k}={key_value_text(want[k])}" for k in sorted(want)) + "]"
                    if type(cur) is list:
                        value = next((it for it in cur if type(it) is dict
                                      and all(it.get(k) == v for k, v in want.items())), _ABSENT)
                    if type(dcur) is list:
                        dval = next((it for it in dcur if type(it) is dict
                                     and all(it.get(k, KEY_DEFAULTS.get(k)) == v for k, v in want.items())),
                                    _ABSENT)
                elif head == "v:":
                    seg = "[" + key_value_text(want) + "]"
                    if type(cur) is list and want in cur:
                        value = want
                    if type(dcur) is list and want in dcur:
                        dval = want
                elif head == "i:" and type(want) is int:
                    seg = f"[{want}]"
                    if type(cur) is list and 0 <= want < len(cur):
                        value = cur[want]
                    if type(dcur) is list and 0 <= want < len(dcur):
                        dval = dcur[want]
                else:
                    continue
            if value is _ABSENT:
                continue
            if dval is not _ABSENT and (dval is None if empty_is_set else is_unset(dval)):
                dval = _ABSENT
            sub = (*path, seg)
            if isinstance(child, Mapping) and child:
                stack.append((child, sub, value, cur, dval, head != "f:"))
            else:
                yield sub, value, cur, dval is not _ABSENT


def decode_managed_fields(
    body: Mapping[str, Any], only: Callable[[str, str], bool] | None = None
) -> list[ManagerEntry]:
    """Decode the managedFields entries of a live object (entries without FieldsV1 are skipped).

    ``only(manager, subresource)`` limits decoding to the entries it accepts.
    """
    meta = body.get("metadata") or {}
    out = []
    for entry in meta.get("managedFields") or ():
        if not isinstance(entry, Mapping):
            continue
        if only is not None and not only(str(entry.get("manager", "")), str(entry.get("subresource", "") or "")):
            continue
        fields = entry.get("fieldsV1")
        if entry.get("fieldsType", "FieldsV1") != "FieldsV1" or not isinstance(fields, Mapping):
            continue
        out.append(
            ManagerEntry(
                manager=str(entry.get("manager", "")),
                operation=str(entry.get("operation", "")),
                time=str(entry.get("time", "") or ""),
                subresource=str(entry.get("subresource", "") or ""),
                paths=frozenset(decode_fields_v1(fields)),
            )
        )
    return out


def manager_names(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(manager, subresource) of each managedFields entry, without decoding (cheap pre-check)."""
    meta = body.get("metadata") or {}
    out = []
    for entry in meta.get("managedFields") or ():
        if type(entry) is dict:
            out.append((entry.get("manager", ""), entry.get("subresource", "")))
    return out


class Ownership:
    """Who owns which live field, with a preference when several managers share one."""

    def __init__(self, entries: list[ManagerEntry], rank: Mapping[str, int]) -> None:
        """``rank``: manager → preference on equal times (higher wins; out-of-band > controller > applier)."""
        self.entries = entries
        self._by_path: dict[Path, ManagerEntry] = {}
        self._all: dict[Path, list[ManagerEntry]] = {}
        for e in entries:
            if e.subresource == "status":
                continue  # status writes never explain spec/metadata drift
            for p in e.paths:
                self._all.setdefault(p, []).append(e)
                cur = self._by_path.get(p)
                # Credit the manager that wrote the field last (a later apply owns the value, not the
                # earlier `kubectl create`); on equal times prefer out-of-band over controller over applier.
                if cur is None or (e.time, rank.get(e.manager, 2)) > (cur.time, rank.get(cur.manager, 2)):
                    self._by_path[p] = e

    def owners_exact(self, path: Path) -> list[ManagerEntry]:
        """Every manager owning exactly ``path`` (shared ownership is common after re-applies)."""
        return self._all.get(path, [])

    def owner(self, path: Path) -> ManagerEntry | None:
        """The manager owning ``path`` or its closest owned ancestor (atomic lists, whole items)."""
        for n in range(len(path), 0, -1):
            e = self._by_path.get(path[:n])
            if e is not None:
                return e
        return None

    def owner_below(self, path: Path) -> ManagerEntry | None:
        """An owner of ``path`` itself, an ancestor, or — for removed fields — a descendant."""
        e = self.owner(path)
        if e is not None:
            return e
        n = len(path)
        best: ManagerEntry | None = None
        for p, cand in self._by_path.items():
            if len(p) > n and p[:n] == path and (best is None or cand.time > best.time):
                best = cand
        return best
