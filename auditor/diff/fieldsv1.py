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

import functools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.diff.normalize import KEY_DEFAULTS, key_value_text
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


_segment = functools.lru_cache(maxsize=8192)(decode_segment)
"""decode_segment of the elements that recur in every object of a fleet (``k:`` parses JSON), kept."""


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
            seg = _segment(element)
            if seg is None:
                if path and (is_item or len(node) == 1):
                    out.add(path)
                continue
            sub = (*path, seg)
            if child and (type(child) is dict or isinstance(child, Mapping)):
                stack.append((child, sub, element[:2] in ("k:", "v:", "i:")))
            else:
                out.add(sub)
    return out


_ABSENT: Any = object()
_CONTAINERS = (dict, list)


@functools.lru_cache(maxsize=8192)
def _list_element(element: str) -> tuple[str, str, Any] | None:
    """(head, path segment, parsed key) of a ``k:``/``v:``/``i:`` element; None when it names nothing.

    The same few hundred elements (container names, ports, finalizers) recur in every object of a
    fleet: parsing their JSON and building the segment once, not per object, is most of the walk.
    The cache holds only the element text and what it parses to, never an object's values. For
    ``k:`` the key is the (field, value, default when git omits it) triples.
    """
    try:
        want = json.loads(element[2:])
    except ValueError:
        return None
    head = element[:2]
    if head == "k:" and type(want) is dict:
        seg = "[" + ",".join(f"{k}={key_value_text(want[k])}" for k in sorted(want)) + "]"
        return head, seg, tuple((k, v, KEY_DEFAULTS.get(k)) for k, v in want.items())
    if head == "v:":
        return head, "[" + key_value_text(want) + "]", want
    if head == "i:" and type(want) is int:
        return head, f"[{want}]", want
    return None


def owned_values(
    fields: Mapping[str, Any], live: Any, desired: Any = _ABSENT, empty_is_set: bool = False,
    only_outside_git: bool = False,
) -> Iterator[tuple[Path, Any, Any, bool]]:
    """(path, live value, live parent, set in git) of every field a FieldsV1 trie owns.

    One pass over the trie, walking the live and desired objects alongside, instead of decoding
    paths and looking each one up: keyed items are found by their key values (``k:{...}``; a key
    git omits takes its API default, e.g. ``protocol: TCP``), set items by value, others by
    index. Fields no longer present live are skipped; git's ``null``/``{}``/``[]``/``""`` count as
    not set, unless ``empty_is_set`` (then only ``null`` does: ``emptyDir: {}`` is a value an
    apply sends). ``only_outside_git`` leaves out the fields set in git (what both callers want).
    """
    absent = _ABSENT  # a local: this loop runs for every field of every out-of-band manager
    stack: list[tuple[Mapping[str, Any], Path, Any, Any, Any, bool]] = [(fields, (), live, None, desired, False)]
    while stack:
        node, path, cur, parent, dcur, is_item = stack.pop()
        cur_map = cur if type(cur) is dict else None
        git_map = dcur if type(dcur) is dict else None
        for element, child in node.items():
            value: Any = absent
            dval: Any = absent
            if element[:2] == "f:":
                if cur_map is None:
                    continue
                seg = element[2:]
                value = cur_map.get(seg, absent)
                if value is absent:
                    continue
                if git_map is not None:
                    dval = git_map.get(seg, absent)
                is_list = False
            elif element == ".":
                if path and (is_item or len(node) == 1) and not (only_outside_git and dcur is not absent):
                    yield path, cur, parent, dcur is not absent
                continue
            else:
                parsed = _list_element(element)
                if parsed is None or type(cur) is not list:
                    continue
                is_list = True
                head, seg, want = parsed
                if head == "k:":
                    for it in cur:
                        if type(it) is dict:
                            for k, v, _ in want:
                                if it.get(k) != v:
                                    break
                            else:
                                value = it
                                break
                    if value is absent:
                        continue
                    if type(dcur) is list:
                        for it in dcur:
                            if type(it) is dict:
                                for k, v, default in want:
                                    if it.get(k, default) != v:
                                        break
                                else:
                                    dval = it
                                    break
                elif head == "v:":
                    if want not in cur:
                        continue
                    # A fresh copy, as parsing gave before: the cached key is shared by every object.
                    value = want if type(want) not in _CONTAINERS else json.loads(element[2:])
                    if type(dcur) is list and want in dcur:
                        dval = want
                else:
                    if not 0 <= want < len(cur):
                        continue
                    value = cur[want]
                    if type(dcur) is list and 0 <= want < len(dcur):
                        dval = dcur[want]
            # normalize.is_unset spelled out (a JSON value equal to "", {} or [] is falsy), and dicts
            # spared the Mapping ABC check: this runs for every owned field.
            if dval is not absent and (dval is None or (not (empty_is_set or dval)
                                       and (dval == "" or dval == {} or dval == []))):
                dval = absent
            if child and (type(child) is dict or isinstance(child, Mapping)):
                stack.append((child, (*path, seg), value, cur, dval, is_list))
            elif dval is absent or not only_outside_git:
                yield (*path, seg), value, cur, dval is not absent


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
