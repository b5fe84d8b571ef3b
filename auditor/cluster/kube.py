"""Live state from a Kubernetes API server: discovery, paginated lists, coverage gaps, faults survived.

Reads are get/list only, one list per (resource, namespace) — never one GET per object — paginated
with ``limit``/``continue`` and restarted from scratch when a continue token expires (410 Gone).
Secrets are listed as ``PartialObjectMetadataList`` (no values) unless keyed hashing is asked for,
in which case each value is replaced by its keyed hash as soon as its page is parsed.
"""

from __future__ import annotations

import datetime as _dt
import sys
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TextIO

from auditor.cluster.http import Connection, HttpStatusError, Stopped
from auditor.cluster.kubeconfig import check_contexts
from auditor.cluster.objects import (
    REASON_FORBIDDEN,
    REASON_NOT_SERVED,
    group_kind,
    is_core_secret,
    protect_secret,
    sorted_manifests,
    wanted_versions,
)
from auditor.cluster.options import SECRET_MODES, ClusterOptions, LiveScope
from auditor.errors import ClusterError
from auditor.model import CoverageGap, ListRecord, LiveState, Manifest, ObjectRef
from auditor.util import stop as run_stop

__all__ = ["APIResource", "check_contexts", "discover_all", "read_cluster"]

_METADATA_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
_NOT_OBJECTS = frozenset({("", "ComponentStatus"), ("", "Binding")})
"""Listable in discovery but not stored objects (or deprecated probes): never worth reading."""


@dataclass(frozen=True)
class APIResource:
    """A listable resource as discovery reports it."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def group_version(self) -> str:
        """``apps/v1`` or ``v1``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def base_path(self) -> str:
        """``/apis/apps/v1`` or ``/api/v1``."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def list_path(self, namespace: str) -> str:
        """Collection path, namespaced when ``namespace`` is given."""
        if namespace:
            return f"{self.base_path}/namespaces/{namespace}/{self.plural}"
        return f"{self.base_path}/{self.plural}"


class _Discovery:
    """Lazy, cached discovery of one cluster: only the group versions a scope needs are fetched."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._groups: dict[str, tuple[list[str], str]] | None = None
        self._resources: dict[str, dict[str, tuple[APIResource, bool]] | None] = {}

    def groups(self) -> dict[str, tuple[list[str], str]]:
        """Map group → (served versions, preferred version); the core group is ``""``."""
        if self._groups is None:
            groups: dict[str, tuple[list[str], str]] = {}
            core = self.conn.get_json("/api")
            versions = [str(v) for v in core.get("versions") or []]
            if versions:
                groups[""] = (versions, "v1" if "v1" in versions else versions[0])
            for g in self.conn.get_json("/apis").get("groups") or []:
                name = str(g.get("name", ""))
                served = [str(v.get("version", "")) for v in g.get("versions") or []]
                preferred = str((g.get("preferredVersion") or {}).get("version") or (served[0] if served else ""))
                if name and served:
                    groups[name] = (served, preferred)
            self._groups = groups
        return self._groups

    def resources(self, group: str, version: str) -> dict[str, tuple[APIResource, bool]] | None:
        """Map kind → (resource, listable) for one group version; None when its discovery failed."""
        gv = f"{group}/{version}" if group else version
        if gv not in self._resources:
            path = f"/apis/{gv}" if group else f"/api/{version}"
            try:
                body = self.conn.get_json(path)
            except HttpStatusError:
                # 404/503 (after retries) on one group version: e.g. an aggregated API whose backend is down.
                self._resources[gv] = None
                return None
            out: dict[str, tuple[APIResource, bool]] = {}
            for r in body.get("resources") or []:
                name = str(r.get("name", ""))
                if not name or "/" in name:  # subresources (deployments/status, pods/log)
                    continue
                kind = str(r.get("kind", ""))
                res = APIResource(group, version, kind, name, bool(r.get("namespaced")))
                listable = "list" in (r.get("verbs") or [])
                if kind not in out or (listable and not out[kind][1]):
                    out[kind] = (res, listable)
            self._resources[gv] = out
        return self._resources[gv]

    def resolve(self, group: str, kind: str, versions: Sequence[str]) -> APIResource | str:
        """The resource to list for a kind, or the reason it cannot be read.

        Version choice: a requested version the cluster serves (fields then compare like for like),
        else the group's preferred version, else any served version that has the kind.
        """
        served, preferred = self.groups().get(group, ([], ""))
        if not served:
            return REASON_NOT_SERVED
        order = [v for v in versions if v in served]
        order += [v for v in [preferred, *served] if v not in order]
        not_listable = False
        failed = False
        for version in order:
            found = self.resources(group, version)
            if found is None:
                failed = True
                continue
            if kind in found:
                res, listable = found[kind]
                if listable:
                    return res
                not_listable = True
        if not_listable:
            return "kind cannot be listed"
        if failed:
            return "discovery failed for its API group"
        return REASON_NOT_SERVED


def discover_all(context: str, options: ClusterOptions) -> tuple[APIResource, ...]:
    """Every listable resource of the cluster in its group's preferred version (for snapshots).

    ComponentStatuses and other non-objects are left out. Raises :class:`ClusterError`.
    """
    conn = Connection(context, options)
    try:
        disc = _Discovery(conn)
        out: list[APIResource] = []
        try:
            for group, (_, preferred) in sorted(disc.groups().items()):
                for kind, (res, listable) in sorted((disc.resources(group, preferred) or {}).items()):
                    if listable and (group, kind) not in _NOT_OBJECTS:
                        out.append(res)
        except HttpStatusError as exc:
            raise ClusterError(f"read cluster {conn.label}: discovery: {conn.scrub(str(exc))}") from None
        except Stopped:
            raise ClusterError(f"read cluster {conn.label}: discovery stopped") from None
        return tuple(out)
    finally:
        conn.close()


@dataclass(frozen=True)
class _ListTask:
    resource: APIResource
    namespace: str


@dataclass(frozen=True)
class _ListResult:
    objects: tuple[Manifest, ...] = ()
    record: ListRecord | None = None
    gap: CoverageGap | None = None
    dropped: tuple[CoverageGap, ...] = ()
    """Items the server listed that are not objects (no metadata.name…): reported, never silently lost."""


class _Progress:
    """``context: lists 3/12`` lines on a TTY (stderr), at each quarter; silent otherwise.

    Whole lines, not carriage-return updates: several clusters are read at once and their
    progress interleaves with the pipeline's own lines.
    """

    def __init__(self, label: str, total: int, enabled: bool | None, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label = label
        self.total = total
        self.done = 0
        self.shown = 0
        self.lock = threading.Lock()

    def step(self) -> None:
        """Count one finished list."""
        if not self.enabled:
            return
        with self.lock:
            self.done += 1
            quarter = self.done * 4 // max(1, self.total)
            if quarter > self.shown or self.done == self.total:
                self.shown = quarter
                self.stream.write(f"  {self.label}: lists {self.done}/{self.total}\n")
                self.stream.flush()


def read_cluster(context: str, scope: LiveScope, options: ClusterOptions) -> LiveState:
    """Read the live objects of ``scope`` from the cluster of a kubeconfig context.

    Kinds the cluster does not serve and lists answered 403 become coverage gaps. Raises
    :class:`ClusterError` when the cluster is unreachable, rejects the credentials (401), keeps
    failing after ``max_attempts``, or the per-cluster deadline passes.
    """
    if options.secrets not in SECRET_MODES:
        raise ClusterError(f"read cluster {context}: unknown secrets mode {options.secrets!r}")
    key = options.secret_key if options.secrets == "hash" else b""
    if options.secrets == "hash" and not key:
        raise ClusterError(f"read cluster {context}: secrets mode 'hash' needs a per-run key")
    conn = Connection(context, options)
    try:
        return _read(conn, scope, key)
    except HttpStatusError as exc:
        raise ClusterError(f"read cluster {conn.label}: {conn.scrub(str(exc))}") from None
    except Stopped:
        why = run_stop.reason() if run_stop.requested() else "stopped"
        raise ClusterError(f"read cluster {conn.label}: {why}") from None
    finally:
        conn.close()


def _read(conn: Connection, scope: LiveScope, key: bytes) -> LiveState:
    disc = _Discovery(conn)
    gaps: list[CoverageGap] = []
    tasks: list[_ListTask] = []
    for (group, kind), versions in wanted_versions(scope).items():
        found = disc.resolve(group, kind, versions)
        if isinstance(found, str):
            gaps.append(CoverageGap(group_kind(group, kind), "", found))
            continue
        if not found.namespaced or scope.all_namespaces:
            tasks.append(_ListTask(found, ""))
        else:
            tasks.extend(_ListTask(found, ns) for ns in scope.namespaces)

    progress = _Progress(conn.label, len(tasks), conn.options.progress)
    workers = max(1, min(conn.options.parallel_lists, len(tasks) or 1))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"list-{conn.label}")
    try:
        futures: list[Future[_ListResult]] = [pool.submit(_list_one, conn, t, key, progress) for t in tasks]
        # Wait no longer than the deadline (or a stop request), even if a response trickles in
        # slower than the per-read socket timeout; work left behind stops at its next request.
        while True:
            _done, pending = wait(futures, timeout=max(0.0, min(0.25, conn.deadline.remaining())),
                                  return_when=FIRST_EXCEPTION)
            if not pending or any(f.exception() is not None for f in _done) or conn.deadline.remaining() <= 0:
                break
            if run_stop.requested():
                raise Stopped()
        errors = [f.exception() for f in futures if f.done() and f.exception() is not None]
        # The root cause, not a list that merely stopped because of it.
        failed = next((e for e in errors if not isinstance(e, Stopped)), errors[0] if errors else None)
        if failed is not None or pending:
            conn.stop.set()
            if failed is None:
                raise conn.deadline_error("")
            raise failed
        results = [f.result() for f in futures]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)

    objects: dict[ObjectRef, Manifest] = {}
    reads: list[ListRecord] = []
    for r in results:
        if r.gap is not None:
            gaps.append(r.gap)
        gaps.extend(r.dropped)
        if r.record is not None:
            reads.append(r.record)
        for m in r.objects:
            objects.setdefault(m.ref, m)
    return LiveState(
        objects=sorted_manifests(objects.values()),
        source=conn.server,
        identity=conn.identity,
        reads=tuple(reads),
        gaps=tuple(gaps),
        insecure=conn.insecure,
    )


def _describe_item(item: Any) -> str:
    """Whatever identifies an unnamed list item (uid, generateName, namespace), without its content."""
    if not isinstance(item, dict):
        return f"(a {type(item).__name__}, not an object)"
    meta = item.get("metadata")
    if not isinstance(meta, dict):
        return "(no metadata)"
    parts = [f"{k}={str(meta[k])[:80]!r}" for k in ("namespace", "generateName", "uid") if meta.get(k)]
    return "(" + ", ".join(parts) + ")" if parts else "(no name, uid or generateName)"


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _list_one(conn: Connection, task: _ListTask, key: bytes, progress: _Progress) -> _ListResult:
    """One paginated list; 410 on a continue token restarts it, 403/404 become gaps."""
    res = task.resource
    secret = is_core_secret(res.group, res.kind)
    accept = _METADATA_ACCEPT if secret and not key else "application/json"
    path = res.list_path(task.namespace)
    restarts = 0
    try:
        while True:
            started = _now()
            items: list[Manifest] = []
            dropped: list[CoverageGap] = []
            listed = 0
            query: dict[str, str | int] = {"limit": max(1, conn.options.page_size)}
            resource_version = ""
            try:
                while True:
                    page = conn.get_json(path, query, accept)
                    meta = page.get("metadata") or {}
                    if not resource_version:
                        resource_version = str(meta.get("resourceVersion") or "")
                    raw_items = page.get("items") or []
                    items.extend(_to_manifests(res, raw_items, secret, key, dropped, task.namespace, listed))
                    listed += len(raw_items) if isinstance(raw_items, list) else 0
                    token = meta.get("continue")
                    if not token:
                        break
                    query = {"limit": max(1, conn.options.page_size), "continue": str(token)}
                break
            except HttpStatusError as exc:
                # The continue token expired (the list was too slow for etcd compaction): a
                # consistent list must start again; bounded like any other retry.
                if exc.status == 410 and "continue" in query and restarts + 1 < max(1, conn.options.max_attempts):
                    restarts += 1
                    continue
                raise
        record = ListRecord(
            source=conn.server,
            resource=f"{res.group_version}/{res.plural}",
            namespace=task.namespace,
            resource_version=resource_version,
            time=started,
            count=len(items),
        )
        return _ListResult(objects=tuple(items), record=record, dropped=tuple(dropped))
    except HttpStatusError as exc:
        gk = group_kind(res.group, res.kind)
        if exc.status == 403:
            return _ListResult(gap=CoverageGap(gk, task.namespace, REASON_FORBIDDEN))
        if exc.status == 404:
            return _ListResult(gap=CoverageGap(gk, task.namespace, REASON_NOT_SERVED))
        where = f" in {task.namespace}" if task.namespace else ""
        raise ClusterError(f"read cluster {conn.label}: list {res.plural}{where}: {conn.scrub(str(exc))}") from None
    finally:
        progress.step()


def _to_manifests(res: APIResource, items: Iterable[Any], secret: bool, key: bytes,
                  dropped: list[CoverageGap] | None = None, namespace: str = "", offset: int = 0) -> list[Manifest]:
    """Live manifests from list items; the server omits apiVersion/kind on items of built-in lists.

    Items that are not objects (not a mapping, no ``metadata.name``) cannot be compared: each is
    appended to ``dropped`` as a coverage gap naming it, so the report says what was not audited.
    """
    out: list[Manifest] = []
    for index, item in enumerate(items, start=offset):
        meta = item.get("metadata") if isinstance(item, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        if not isinstance(name, str) or not name:
            if dropped is not None:
                dropped.append(CoverageGap(group_kind(res.group, res.kind), namespace,
                                           f"list item {index} {_describe_item(item)} dropped: no metadata.name"))
            continue
        assert isinstance(meta, dict)
        body = {"apiVersion": res.group_version, "kind": res.kind}
        body.update((k, v) for k, v in item.items() if k not in ("apiVersion", "kind"))
        if secret:
            body = protect_secret(body, key)
        ref = ObjectRef(res.group, res.kind, str(meta.get("namespace") or "") if res.namespaced else "", name)
        out.append(Manifest(ref=ref, api_version=res.group_version, body=body))
    return out
