"""Offline live state: read and write directories of ``kubectl get -o yaml|json`` output.

A snapshot directory holds YAML or JSON files (single objects, ``List``s, multi-document streams,
nested directories). Reading filters the objects to a :class:`LiveScope` exactly as a live read
would (kinds by group, namespaces, cluster-scoped kinds), so an audit from a snapshot and an audit
from the cluster give the same findings.

``write_snapshot`` lays a live read out as one ``List`` per (resource, namespace) and adds an index
file, ``.gitops-audit-snapshot.json``, with the server, identity, list times, resourceVersions and
what was covered (kinds, namespaces, coverage gaps). When the index is present, reading a scope the
snapshot did not cover yields coverage gaps instead of silently empty results.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from auditor.cluster.objects import (
    REASON_FORBIDDEN,
    REASON_NOT_IN_SNAPSHOT,
    group_kind,
    is_core_secret,
    object_ref,
    protect_secret,
    sorted_manifests,
    to_manifest,
    wanted_versions,
)
from auditor.cluster.options import LiveScope
from auditor.errors import ClusterError
from auditor.model import CoverageGap, ListRecord, LiveState, Manifest, ObjectRef, split_api_version
from auditor.util import yamlio
from auditor.util.fs import atomic_write
from auditor.util.kinds import guess_plural, is_namespaced

INDEX_NAME = ".gitops-audit-snapshot.json"
INDEX_VERSION = 1
_SUFFIXES = (".yaml", ".yml", ".json")
_CLUSTER_DIR = "_cluster"
"""Directory for cluster-scoped lists; namespace names cannot start with ``_``."""


@dataclass(frozen=True)
class _Index:
    """What ``write_snapshot`` recorded beside the objects (absent for plain kubectl output)."""

    source: str
    identity: str
    kinds: frozenset[tuple[str, str]] | None
    """Kinds the snapshot covered; None when unknown (then only recorded gaps are reported)."""
    namespaces: frozenset[str]
    all_namespaces: bool
    cluster_scoped: frozenset[tuple[str, str]]
    gaps: tuple[CoverageGap, ...]
    times: Mapping[str, str]
    """Relative file path → time of the live list it came from."""


def _iter_files(directory: Path) -> Iterator[Path]:
    """Snapshot files in a stable order; hidden files and directories are skipped."""
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith(_SUFFIXES):
                yield Path(root) / name


def _load_index(directory: Path) -> _Index | None:
    path = directory / INDEX_NAME
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("version") != INDEX_VERSION:
            raise ValueError(f"unsupported index version {raw.get('version')!r}")
        return _Index(
            source=str(raw.get("source", "")),
            identity=str(raw.get("identity", "")),
            kinds=(
                None
                if raw.get("kinds") is None
                else frozenset((str(g), str(k)) for g, k in raw["kinds"])
            ),
            namespaces=frozenset(str(n) for n in raw.get("namespaces", [])),
            all_namespaces=bool(raw.get("all_namespaces", False)),
            cluster_scoped=frozenset((str(g), str(k)) for g, k in raw.get("cluster_scoped", [])),
            gaps=tuple(
                CoverageGap(str(g["group_kind"]), str(g.get("namespace", "")), str(g["reason"]))
                for g in raw.get("gaps", [])
            ),
            times={str(k): str(v) for k, v in (raw.get("times") or {}).items()},
        )
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ClusterError(f"read snapshot {directory}: {path.name}: invalid index: {exc}") from None


def _mtime(path: Path) -> str:
    stamp = _dt.datetime.fromtimestamp(path.stat().st_mtime, tz=_dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def read_snapshot(directory: Path, scope: LiveScope, *, secret_key: bytes = b"") -> LiveState:
    """Read a snapshot directory as live state for ``scope``.

    Secrets are reduced to metadata, or with ``secret_key`` their values become keyed hashes as
    soon as they are parsed. Raises :class:`ClusterError` for a missing directory, malformed
    YAML/JSON (naming ``file:line``) or documents that are not Kubernetes objects.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ClusterError(f"read snapshot {directory}: no such directory")
    index = _load_index(directory)
    wanted = wanted_versions(scope)
    namespaces = frozenset(scope.namespaces)
    extra_cluster = frozenset(scope.cluster_scoped) | (index.cluster_scoped if index else frozenset())

    # Keep one object per identity, preferring the first requested version (a live read asks
    # the server for that version), then the first file in path order.
    chosen: dict[ObjectRef, tuple[int, Manifest]] = {}
    reads: list[ListRecord] = []
    seen_cluster_scoped: set[tuple[str, str]] = set()
    ambiguous: list[CoverageGap] = []
    for path in _iter_files(directory):
        rel = path.relative_to(directory).as_posix()
        duplicates: yamlio.DuplicateKeys = []
        try:
            data = path.read_bytes()
            docs = yamlio.load_json_or_yaml(data, str(path), duplicates=duplicates)
        except yamlio.YamlError as exc:
            raise ClusterError(f"read snapshot {directory}: {exc}") from None
        except OSError as exc:
            raise ClusterError(f"read snapshot {directory}: {path}: {exc.strerror}") from None
        if duplicates:
            # PyYAML and json keep the last value silently; kubectl would have refused the file.
            ambiguous.extend(_duplicate_gaps(rel, data, duplicates))
        count = 0
        resource_version = ""
        file_namespaces: set[str] = set()
        for number, doc in enumerate(docs, start=1):
            if not isinstance(doc, dict):
                raise ClusterError(
                    f"read snapshot {directory}: {path}: document {number} is not a Kubernetes object"
                )
            if isinstance(doc.get("items"), list):
                meta = doc.get("metadata") or {}
                resource_version = resource_version or str(meta.get("resourceVersion") or "")
            for obj in yamlio.iter_items(doc):
                ref = object_ref(obj)
                if ref is None:
                    raise ClusterError(
                        f"read snapshot {directory}: {path}: document {number}: "
                        "not a Kubernetes object (needs apiVersion, kind and metadata.name)"
                    )
                versions = wanted.get((ref.group, ref.kind))
                if versions is None:
                    continue
                if not ref.namespace:
                    seen_cluster_scoped.add((ref.group, ref.kind))
                elif not scope.all_namespaces and ref.namespace not in namespaces:
                    continue
                _, version = split_api_version(str(obj["apiVersion"]))
                rank = versions.index(version) if version in versions else len(versions)
                previous = chosen.get(ref)
                if previous is not None and previous[0] <= rank:
                    continue
                chosen[ref] = (rank, to_manifest(obj, secret_key))
                count += 1
                file_namespaces.add(ref.namespace)
        reads.append(
            ListRecord(
                source=str(directory),
                resource=rel,
                namespace=next(iter(file_namespaces)) if len(file_namespaces) == 1 else "",
                resource_version=resource_version,
                time=(index.times.get(rel) if index else None) or _mtime(path),
                count=count,
            )
        )

    # Objects seen without a namespace mark their kind cluster-scoped, as discovery would.
    gaps = _coverage_gaps(scope, index, extra_cluster | frozenset(seen_cluster_scoped)) if index else ()
    return LiveState(
        objects=sorted_manifests(m for _, m in chosen.values()),
        source=str(directory),
        identity=index.identity if index else "",
        reads=tuple(reads),
        gaps=(*gaps, *ambiguous),
    )


def _duplicate_gaps(rel: str, data: bytes, duplicates: yamlio.DuplicateKeys) -> list[CoverageGap]:
    """One coverage gap per duplicate key, naming the file, line and (for YAML) the object that holds it."""
    holders: list[tuple[int, int, str, str]] = []  # (first line, last line, Kind, namespace/name)
    if any(line for line, _ in duplicates):
        try:
            nodes = yamlio.compose_all(data, rel)
        except yamlio.YamlError:
            nodes = []
        for node in nodes:
            items = _node_get(node, "items")
            for obj in items.value if isinstance(items, yaml.SequenceNode) else [node]:
                meta = _node_get(obj, "metadata")
                name = _scalar(_node_get(meta, "name"))
                ns = _scalar(_node_get(meta, "namespace"))
                holders.append((obj.start_mark.line + 1, obj.end_mark.line + 1, _scalar(_node_get(obj, "kind")),
                                f"{ns}/{name}" if ns else name))
    out = []
    for line, key in duplicates:
        holder = next(((k, n) for first, last, k, n in holders if first <= line <= last), None)
        where = f"snapshot {rel}:{line}" if line else f"snapshot {rel}"
        what = f" in {holder[0]}/{holder[1]}" if holder and holder[0] else ""
        reason = f"{where}: duplicate key {key!r}{what}; the file is ambiguous (the last value was used)"
        out.append(CoverageGap(holder[0] if holder and holder[0] else f"file {rel}", "", reason))
    return out


def _node_get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)


def _scalar(node: yaml.Node | None) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else ""


def _coverage_gaps(
    scope: LiveScope, index: _Index, cluster_scoped: frozenset[tuple[str, str]]
) -> tuple[CoverageGap, ...]:
    """Gaps a live read would have had (recorded in the index) plus scope the snapshot never read."""
    gaps: list[CoverageGap] = []
    recorded = {(g.group_kind, g.namespace): g for g in index.gaps}
    for group, kind in wanted_versions(scope):
        gk = group_kind(group, kind)
        namespaced = is_namespaced(group, kind, cluster_scoped)
        if (gk, "") in recorded:
            whole = recorded[(gk, "")]
            if whole.reason == REASON_FORBIDDEN and namespaced and not scope.all_namespaces:
                # A cluster-wide list was forbidden: a live read would list (and be refused) per namespace.
                gaps.extend(CoverageGap(gk, ns, whole.reason) for ns in scope.namespaces)
            else:
                gaps.append(whole)
            continue
        if index.kinds is None:
            gaps.extend(g for (g_k, ns), g in recorded.items() if g_k == gk and _in_scope(scope, ns))
            continue
        if (group, kind) not in index.kinds:
            gaps.append(CoverageGap(gk, "", REASON_NOT_IN_SNAPSHOT))
            continue
        if not namespaced:
            continue
        if scope.all_namespaces:
            wanted_ns = sorted({ns for g_k, ns in recorded if g_k == gk and ns})
            if not index.all_namespaces:
                gaps.append(CoverageGap(gk, "", REASON_NOT_IN_SNAPSHOT))
        else:
            wanted_ns = list(scope.namespaces)
        for ns in wanted_ns:
            if (gk, ns) in recorded:
                gaps.append(recorded[(gk, ns)])
            elif not index.all_namespaces and ns not in index.namespaces:
                gaps.append(CoverageGap(gk, ns, REASON_NOT_IN_SNAPSHOT))
    return tuple(gaps)


def _in_scope(scope: LiveScope, namespace: str) -> bool:
    return not namespace or scope.all_namespaces or namespace in scope.namespaces


def _safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def _file_for(obj: Mapping[str, Any], ref: ObjectRef) -> str:
    """``<namespace>/<plural>[.<group>].<version>.json``, or ``_cluster/...`` for cluster-scoped objects."""
    _, version = split_api_version(str(obj.get("apiVersion", "")))
    resource = guess_plural(ref.kind) + (f".{ref.group}" if ref.group else "")
    folder = ref.namespace or _CLUSTER_DIR
    return f"{_safe_name(folder)}/{_safe_name(resource)}.{_safe_name(version)}.json"


def write_snapshot(state: LiveState, directory: Path, *, scope: LiveScope | None = None) -> None:
    """Write live state as a snapshot directory that :func:`read_snapshot` reads back identically.

    One ``List`` per (resource, version, namespace), objects in name order. Secrets are written
    metadata-only whatever the state holds: a keyed hash is meaningless after its run and values
    are never stored. With ``scope`` (what the live read covered) the index records coverage, so a
    later read of a wider scope reports the difference as coverage gaps.
    """
    directory = Path(directory)
    groups: dict[str, list[Manifest]] = {}
    for m in state.objects:
        groups.setdefault(_file_for(m.body, m.ref), []).append(m)
    rv_by_list = _resource_versions(state)
    times: dict[str, str] = {}
    cluster_scoped: set[tuple[str, str]] = set(scope.cluster_scoped) if scope else set()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for rel, members in sorted(groups.items()):
            members.sort(key=lambda m: (m.ref.namespace, m.ref.name))
            items = []
            for m in members:
                body = dict(m.body)
                if is_core_secret(m.ref.group, m.ref.kind):
                    body = protect_secret(body, b"")
                items.append(body)
                if not m.ref.namespace:
                    cluster_scoped.add((m.ref.group, m.ref.kind))
            first = members[0]
            record = rv_by_list.get((first.ref.kind, first.ref.group, first.ref.namespace)) or rv_by_list.get(
                (first.ref.kind, first.ref.group, "")
            )
            doc = {
                "apiVersion": "v1",
                "kind": "List",
                "metadata": {"resourceVersion": record.resource_version if record else ""},
                "items": items,
            }
            if record and record.time:
                times[rel] = record.time
            # JSON, as `kubectl get -o json` writes it: parsing it back is ~50x faster than YAML.
            atomic_write(directory / rel, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
        index: dict[str, Any] = {
            "version": INDEX_VERSION,
            "source": state.source,
            "identity": state.identity,
            "kinds": sorted({(g, k) for g, _, k in scope.kinds}) if scope else None,
            "namespaces": sorted(scope.namespaces) if scope else [],
            "all_namespaces": bool(scope.all_namespaces) if scope else True,
            "cluster_scoped": sorted(cluster_scoped),
            "gaps": [
                {"group_kind": g.group_kind, "namespace": g.namespace, "reason": g.reason} for g in state.gaps
            ],
            "times": times,
            "reads": [
                {
                    "source": r.source,
                    "resource": r.resource,
                    "namespace": r.namespace,
                    "resourceVersion": r.resource_version,
                    "time": r.time,
                    "count": r.count,
                }
                for r in state.reads
            ],
        }
        atomic_write(directory / INDEX_NAME, json.dumps(index, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        raise ClusterError(f"write snapshot {directory}: {exc.strerror or exc}") from None


def _resource_versions(state: LiveState) -> dict[tuple[str, str, str], ListRecord]:
    """(kind, group, namespace) → the live list record, matched through the resource's plural name."""
    by_resource: dict[tuple[str, str], ListRecord] = {}
    for r in state.reads:
        by_resource[(r.resource, r.namespace)] = r
    out: dict[tuple[str, str, str], ListRecord] = {}
    for m in state.objects:
        group, version = split_api_version(m.api_version)
        prefix = f"{group}/{version}" if group else version
        for ns in (m.ref.namespace, ""):
            for plural in _plurals(m):
                rec = by_resource.get((f"{prefix}/{plural}", ns))
                if rec is not None:
                    out.setdefault((m.ref.kind, m.ref.group, ns), rec)
    return out


def _plurals(m: Manifest) -> tuple[str, ...]:
    return (guess_plural(m.ref.kind),)
