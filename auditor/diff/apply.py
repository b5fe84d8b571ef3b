"""What the next apply changes that a desired-subset comparison cannot see: fields git no longer sets.

A desired-subset comparison only looks at fields git sets, so a field *removed from git* (a label
deleted, a Service port dropped, an env var taken out) looks in sync — yet the next reconcile
removes it from the cluster. Two appliers record what they applied last, and so what they will
remove:

- **Server-side apply** (Flux's kustomize-controller, Argo CD with ``ServerSideApply=true``,
  ``kubectl apply --server-side``): the applier's ``managedFields`` entry (``operation: Apply``)
  is exactly the set of fields of its last applied configuration. A field it owns that git no
  longer sets is removed by its next apply — unless another manager also owns it (the API server
  then only drops the applier's ownership) — :func:`ssa_stale_fields`.
- **Client-side** ``kubectl apply`` (Argo CD's default): the three-way merge deletes the fields
  present in ``kubectl.kubernetes.io/last-applied-configuration`` and absent from the new
  configuration — :func:`last_applied_stale_fields`.

A stale field whose live value equals the API default is not reported: the API server defaults it
again right after the removal, so nothing changes.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

from auditor.diff.defaults import is_server_default
from auditor.diff.fieldsv1 import ManagerEntry, decode_fields_v1, owned_values
from auditor.diff.normalize import COMPARED_METADATA, KEY_DEFAULTS, LAST_APPLIED, is_unset, list_item_segment
from auditor.diff.schema import ANY_KEY, FieldSpec, Schemas

Path = tuple[str, ...]

MECHANISM_SSA = "server-side apply"
MECHANISM_CSA = "kubectl apply (last-applied-configuration)"


def ssa_entries(live: Mapping[str, Any], applier: frozenset[str]) -> list[Mapping[str, Any]]:
    """The appliers' server-side apply entries (``operation: Apply``, not a status write)."""
    out: list[Mapping[str, Any]] = []
    for entry in (live.get("metadata") or {}).get("managedFields") or ():
        if (type(entry) is dict and entry.get("operation") == "Apply" and entry.get("manager") in applier
                and entry.get("subresource", "") != "status" and isinstance(entry.get("fieldsV1"), dict)):
            out.append(entry)
    return out


def ssa_stale_fields(
    kind: str,
    desired: Mapping[str, Any],
    live: Mapping[str, Any],
    entries: list[Mapping[str, Any]],
    ignored: Callable[[Path], bool],
) -> list[tuple[Path, Any, ManagerEntry]]:
    """(path, live value, applier entry) of fields an applier's SSA entry owns that git no longer sets.

    Top-most paths only (a removed list item is reported whole, not each of its fields).
    """
    # Fast path (nearly every object): every field the applier owns is still in git, apart from
    # fields never reported (the applier's own labels). Checked on the trie and desired alone.
    for entry in entries:
        if owns_field_not_in_git(entry["fieldsV1"], desired, ignored):
            break
    else:
        return []
    candidates: dict[Path, tuple[Any, ManagerEntry]] = {}
    for entry in entries:
        who = ManagerEntry(str(entry.get("manager", "")), "Apply", str(entry.get("time", "") or ""), "", frozenset())
        for p, value, parent, _ in owned_values(entry["fieldsV1"], live, desired, empty_is_set=True,
                                                only_outside_git=True):
            if ignored(p) or is_server_default(kind, p, value, parent):
                continue
            candidates.setdefault(p, (value, who))
    if not candidates:
        return []
    others = _paths_owned_by_others(live, {id(e) for e in entries})
    out = []
    for p in sorted(candidates, key=lambda x: (len(x), x)):
        if any(p[:n] in candidates for n in range(1, len(p))):
            continue  # an ancestor is reported whole
        if _co_owned(p, others):
            continue  # another manager owns it too: the apply only drops the applier's ownership
        value, who = candidates[p]
        out.append((p, value, who))
    return out


@functools.lru_cache(maxsize=8192)
def _element_key(element: str) -> Any:
    """Parsed JSON of a ``k:``/``v:`` element (the same few strings recur across thousands of objects)."""
    try:
        return json.loads(element[2:])
    except ValueError:
        return None


@functools.lru_cache(maxsize=8192)
def _key_items(element: str) -> tuple[tuple[str, Any], ...]:
    """The (key, value) pairs of a ``k:{...}`` element, parsed once."""
    want = _element_key(element)
    return tuple(want.items()) if isinstance(want, dict) else ()


def owns_field_not_in_git(fields: Mapping[str, Any], desired: Mapping[str, Any],
                          ignored: Callable[[Path], bool]) -> bool:
    """True when the trie owns a field git does not set and that is not ignored.

    A walk of the trie and desired only: the quick pre-check before the full walk alongside live
    (it runs on every object an applier server-side applied). Ignored paths all sit at the top or
    in ``metadata``, so only those levels build paths; below ``spec``/``data`` the walk only asks
    "is every owned field still in git".
    """
    for element, child in fields.items():
        if element == "." or element[:2] != "f:":
            continue
        name = element[2:]
        sub = desired.get(name)
        if name == "metadata":
            meta = sub if type(sub) is dict else {}
            for m_el, m_child in (child.items() if type(child) is dict else ()):
                if m_el == "." or m_el[:2] != "f:":
                    continue
                m_name = m_el[2:]
                m_sub = meta.get(m_name)
                if type(m_child) is dict and m_child and (len(m_child) > 1 or "." not in m_child) \
                        and m_name in ("labels", "annotations"):
                    values = m_sub if type(m_sub) is dict else {}
                    for key in m_child:
                        if key != "." and values.get(key[2:]) is None and key[2:] not in values \
                                and not ignored(("metadata", m_name, key[2:])):
                            return True
                    continue
                if m_sub is None and m_name not in meta and not ignored(("metadata", m_name)):
                    return True
                if m_sub is not None and m_child and type(m_child) is dict and _owns_more(m_child, m_sub):
                    return True
            continue
        if sub is None:
            if name not in desired and not ignored((name,)):
                return True
            continue
        if child and type(child) is dict and _owns_more(child, sub):
            return True
    return False


def _owns_more(fields: Mapping[str, Any], desired: Any) -> bool:
    """True when the trie owns anything below this point that ``desired`` does not set (hot path)."""
    for element, child in fields.items():
        c = element[0]
        if c == "f":
            if type(desired) is not dict:
                return True
            name = element[2:]
            sub = desired.get(name)
            if sub is None:
                if name in desired:
                    continue  # `null` in git (kustomize's creationTimestamp: null): nothing to remove
                return True
        elif c == ".":
            continue
        elif type(desired) is not list:
            return True
        elif c == "k":
            sub = None
            items = _key_items(element)
            for it in desired:
                if type(it) is dict:
                    for k, v in items:
                        if it.get(k, KEY_DEFAULTS.get(k)) != v:
                            break
                    else:
                        sub = it
                        break
            if sub is None:
                return True
        else:  # v: (set item by value) or i: (atomic item by index)
            want = _element_key(element)
            if c == "v":
                if want not in desired:
                    return True
                sub = want
            elif type(want) is int and 0 <= want < len(desired):
                sub = desired[want]
            else:
                return True
        if child and _owns_more(child, sub):
            return True
    return False


def _paths_owned_by_others(live: Mapping[str, Any], exclude: set[int]) -> set[Path]:
    out: set[Path] = set()
    for entry in (live.get("metadata") or {}).get("managedFields") or ():
        if type(entry) is dict and id(entry) not in exclude and isinstance(entry.get("fieldsV1"), dict):
            out |= decode_fields_v1(entry["fieldsV1"])
    return out


def _co_owned(path: Path, others: set[Path]) -> bool:
    """Another manager owns ``path``, an ancestor of it (a whole atomic value) or a field inside it."""
    if any(path[:n] in others for n in range(1, len(path) + 1)):
        return True
    n = len(path)
    return any(len(o) > n and o[:n] == path for o in others)


def last_applied(live: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The configuration the last client-side ``kubectl apply`` sent (None when absent or unreadable)."""
    ann = (live.get("metadata") or {}).get("annotations") or {}
    text = ann.get(LAST_APPLIED) if isinstance(ann, Mapping) else None
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def last_applied_stale_fields(
    previous: Mapping[str, Any],
    desired: Mapping[str, Any],
    live: Mapping[str, Any],
    schemas: Schemas,
    group: str,
    kind: str,
    ignored: Callable[[Path], bool],
) -> list[tuple[Path, Any]]:
    """(path, live value) of fields in last-applied that git no longer sets and that are still live.

    Models the three-way strategic merge of client-side ``kubectl apply``: a field in the previous
    configuration and absent from the new one is deleted (keyed list items by merge key, set
    items by value, atomic values whole).
    """
    out: list[tuple[Path, Any]] = []
    root = schemas.root(group, kind)
    for key, pv in previous.items():
        if key in ("apiVersion", "kind", "status"):
            continue
        if key == "metadata":
            if isinstance(pv, Mapping):
                lmeta = live.get("metadata") or {}
                dmeta = desired.get("metadata") or {}
                for mkey in COMPARED_METADATA:
                    sub = pv.get(mkey)
                    if sub is None:
                        continue
                    spec: FieldSpec | None = ("", "set", ()) if mkey == "finalizers" else None
                    _walk(sub, dmeta.get(mkey), lmeta.get(mkey), spec, ("metadata", mkey), schemas, kind, ignored, out)
            continue
        fields = schemas.fields(root) if root else None
        _walk(pv, desired.get(key), live.get(key), fields.get(key) if fields else None, (key,), schemas, kind,
              ignored, out)
    return out


_NONE: Any = object()


def _walk(prev: Any, want: Any, cur: Any, spec: FieldSpec | None, path: Path, schemas: Schemas, kind: str,
          ignored: Callable[[Path], bool], out: list[tuple[Path, Any]]) -> None:
    if cur is None or ignored(path):
        return
    if want is None or is_unset(want):
        # Git no longer sets this value: look inside maps and keyed lists (each key or item is
        # removed on its own, and some are not ours to report); anything else goes whole.
        if isinstance(prev, dict) and isinstance(cur, dict):
            want = {}
        elif isinstance(prev, list) and isinstance(cur, list) and spec and spec[1] in ("map", "set"):
            want = []
        else:
            if not is_server_default(kind, path, cur, None):
                out.append((path, cur))
            return
    if isinstance(prev, dict) and isinstance(want, dict) and isinstance(cur, dict):
        node = spec[0] if spec else ""
        fields = schemas.fields(node)
        for k, pv in prev.items():
            sub_spec = (fields.get(k) or fields.get(ANY_KEY)) if fields else None
            lv = cur.get(k)
            if lv is None:
                continue
            if k not in want:
                p = (*path, k)
                if not ignored(p) and not is_server_default(kind, p, lv, cur):
                    out.append((p, lv))
                continue
            _walk(pv, want[k], lv, sub_spec, (*path, k), schemas, kind, ignored, out)
        return
    keyed = bool(spec) and spec is not None and spec[1] in ("map", "set")
    if keyed and isinstance(prev, list) and isinstance(want, list) and isinstance(cur, list):
        assert spec is not None
        keys = spec[2] if spec[1] == "map" else ()

        def seg(item: Any) -> str:
            return list_item_segment(item, keys)

        wanted = {seg(it): it for it in want}
        live_items = {seg(it): it for it in cur}
        for it in prev:
            s = seg(it)
            li = live_items.get(s, _NONE)
            if li is _NONE:
                continue
            if s not in wanted:
                out.append(((*path, s), li))
            elif spec[1] == "map":
                _walk(it, wanted[s], li, (spec[0], "", ()), (*path, s), schemas, kind, ignored, out)
        return
    # Scalars and atomic lists: git sets them, so the desired-subset comparison covers them.
