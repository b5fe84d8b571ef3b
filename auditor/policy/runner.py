"""Run policy queries for many documents: once per distinct (document, context), on every core.

Two costs dominate an audit's policy stage, and this module removes both:

- **Repeats.** Targets that share an overlay (or whose overlays leave most objects alone) hand the
  policies the same documents. Recent results are cached (:data:`RESULT_MEMO`), keyed by the query, an
  exact digest of the document and the *context key*: the side plus only the target fields the policies
  read (``context_deps.py``). Concurrent targets asking for the same key wait for one evaluation.
- **One core.** The embedded engine holds the GIL, so the pipeline's threads evaluate one at a time.
  Large batches go to a pool of worker processes (``worker.py``); small runs never start one. A pool that
  breaks (a worker killed, a start failure) is logged once and evaluation goes on in process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import marshal
import math
import multiprocessing
import os
import pickle
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.policy import worker
from auditor.policy.engine import EvalError, Evaluator, Plan
from auditor.policy.loader import RegoModule

log = logging.getLogger(__name__)

START_POOL_AT = 400
"""Documents to evaluate in one batch before a pool is worth starting (a worker starts in ~0.5 s)."""
DIGEST_MEMO = 8192
"""Desired documents whose digest is remembered (by identity): a few renders' worth. Targets sharing a render
are audited close together (streaming); a document evicted early is digested again (~6 µs)."""
RESULT_MEMO = 8192
"""Results kept for reuse (oldest out). Reuse comes from targets sharing a render or a document, which
the stream audits close together; kept for the whole run, every result of every target stayed in
memory (about 2 MB per 1,500-object target: half the growth of a 96-target run). An evicted result is
evaluated again if asked for (a miss costs time, never a different answer)."""
USE_POOL_AT = 32
"""Once the pool runs, smaller batches than this stay in process (the round trip costs more)."""
_CHUNK = (16, 200)
"""Bounds of documents per pool task: small enough to spread over workers, large enough to amortize."""

Job = tuple[Plan, Any]
"""``(plan, input)``; an empty plan means "no package applies" and evaluates to ``{}``."""
_Key = tuple[str, Plan, bytes]
"""(context key, plan, document digest)."""


@dataclass(frozen=True)
class _Claim:
    """A job whose result this call produces, under its cache key."""

    job: Job
    key: _Key
    future: Future[Any]


def auto_workers() -> int:
    """Default pool size: the usable cores (CPU affinity and cgroup quota), at most 4; none on one core."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_limit()
    if quota is not None:
        cores = min(cores, quota)
    return 0 if cores < 2 else min(cores, 4)


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Cores a CPU quota allows this container (cgroup v2 ``cpu.max``, else v1 CFS), rounded up; None if unlimited.

    A CronJob with ``resources.limits.cpu: 1`` on a 16-core node sees 16 cores but is throttled to one:
    workers beyond the quota only add switching.
    """
    try:
        quota_text, period_text = (root / "cpu.max").read_text().split()[:2]
        if quota_text == "max":
            return None
        quota, period = int(quota_text), int(period_text)
    except (OSError, ValueError):
        try:
            quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
            period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            return None
    if quota <= 0 or period <= 0:
        return None
    return max(1, math.ceil(quota / period))


_MARSHAL_VERSION = 2
"""marshal format without back-references or interning flags (both came with version 3).

From version 3 on, marshal marks an object it may meet again only when its reference count is above one,
and flags interned strings: the bytes of one value then depend on what else holds it (another thread, a
cache), which made cache keys differ between runs. Version 2 writes every value in full, so its bytes
depend on the value alone (types, and dict order, included)."""


def digest(doc: Any) -> bytes:
    """Digest of ``doc``'s exact value: marshal format 2 (pickle for other types), types and key order included.

    Depends on the value only: not on reference counts, string interning or shared sub-objects (see
    :data:`_MARSHAL_VERSION`). Exact, so two documents share a digest only when they are equal as Python
    values of the same types (``{1: "a"}`` and ``{"1": "a"}`` differ, as they do in Rego; so do ``1`` and
    ``True``). Equal documents in another key order only miss the cache. About 2x cheaper than canonical
    JSON (6 vs 14 us per manifest, ``bench/bench_policy.py --digest``), and any YAML value works.
    """
    try:
        data = b"m" + marshal.dumps(doc, _MARSHAL_VERSION)
    except ValueError:  # a type marshal does not know (a dict subclass): pickle is exact too
        data = b"p" + pickle.dumps(_plain(doc), protocol=pickle.HIGHEST_PROTOCOL)
    return hashlib.blake2b(data, digest_size=16).digest()


def _plain(doc: Any) -> Any:
    """``doc`` with mappings and sequences as plain dicts and lists, so pickle's memo sees no shared objects."""
    if isinstance(doc, Mapping):
        return {"__mapping__": [(_plain(k), _plain(v)) for k, v in doc.items()]}
    if isinstance(doc, list | tuple):
        return [type(doc).__name__, [_plain(v) for v in doc]]
    return doc


@dataclass
class RunnerStats:
    """What the runner did in a run (read at the end for logs and benchmarks)."""

    documents: int = 0
    """Jobs asked for, over all targets and sides."""
    not_applicable: int = 0
    """Jobs no package applies to (by kind): nothing to evaluate."""
    evaluated: int = 0
    """Jobs actually evaluated."""
    in_workers: int = 0
    """Of ``evaluated``, how many ran in worker processes."""
    worker_cpu: float = 0.0
    """CPU seconds the workers spent evaluating (what a busy machine cannot hide in wall time)."""

    @property
    def cached(self) -> int:
        """Jobs answered from the run's cache."""
        return self.documents - self.not_applicable - self.evaluated


class PolicyRunner:
    """Evaluates jobs for one policy set; thread-safe; :meth:`close` stops the pool."""

    def __init__(
        self,
        modules: Sequence[RegoModule],
        data: Mapping[str, Any],
        *,
        context_fields: frozenset[str] | None,
        workers: int = 0,
        start_pool_at: int = START_POOL_AT,
    ) -> None:
        """``workers`` > 0 allows a pool (embedded engine only); ``context_fields`` from ``context_deps``."""
        self._modules = tuple(modules)
        self._data = dict(data)
        self._fields = context_fields
        self._workers = workers
        self._start_pool_at = start_pool_at
        self._lock = threading.Lock()
        self._cache: dict[_Key, Future[Any]] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._pool_failed = False
        self._digests: dict[int, tuple[Any, bytes]] = {}
        """id → (document, digest) of desired documents: targets sharing a render share the objects.
        Bounded (oldest out, :data:`DIGEST_MEMO`): each entry holds its document, and renders are
        dropped after their last target (streaming), so an unbounded memo kept every render of the
        fleet alive until the run ended."""
        self.stats = RunnerStats()

    def context_key(self, context: Mapping[str, Any]) -> str:
        """The part of ``context`` (``data.gitops_audit``: ``{"target": {...}, "side": ...}``) results depend on."""
        target = context.get("target") or {}
        if self._fields is not None:
            target = {k: target.get(k) for k in sorted(self._fields)}
        return json.dumps({"side": context.get("side"), "target": target}, sort_keys=True, default=str)

    def run(self, evaluator: Evaluator, context: Mapping[str, Any], jobs: Sequence[Job]) -> list[Any]:
        """Values of ``jobs`` in order: the query's value, or an :class:`EvalError` for that document.

        ``evaluator`` must already see ``context`` as ``data.gitops_audit`` (it serves the in-process path).
        """
        ctx = self.context_key(context)
        memo = context.get("side") == "desired"
        # A combined job (a list input) weighs as much as its documents: the live side of a target is often
        # a few drifted documents plus one combined input of every live object.
        weight = sum(len(doc) if isinstance(doc, list) else 1 for _, doc in jobs)
        pool = self._pool_for(weight)
        step = self._chunk_size(len(jobs)) if pool is not None else max(1, len(jobs))
        futures: list[Future[Any] | None] = []
        # Results this call must produce; the others are cached or being produced for another target.
        owned: list[_Claim] = []
        tasks: list[tuple[list[_Claim], Future[Any]]] = []
        try:
            # Chunk by chunk, so workers evaluate while this thread digests the next documents.
            for start in range(0, len(jobs), step):
                mine = self._claim(ctx, jobs[start : start + step], futures, memo)
                owned += mine
                if pool is not None and mine:
                    try:
                        batch = [c.job for c in mine]
                        tasks.append((mine, pool.submit(worker.evaluate, dict(context), batch)))
                    except BrokenProcessPool as exc:
                        self._broken(exc)
                        pool = None
            for mine, task in tasks:
                try:
                    results, cpu = task.result()
                except BrokenProcessPool as exc:  # a worker died or could not start: no pool from now on
                    self._broken(exc)
                    continue
                except Exception as exc:  # this chunk only (e.g. a value that does not pickle): in process
                    log.debug("policy worker task failed (%s); evaluating its documents in process", exc)
                    continue
                for claim, (ok, value) in zip(mine, results, strict=True):
                    claim.future.set_result(value if ok else EvalError(value))
                with self._lock:
                    self.stats.in_workers += len(mine)
                    self.stats.worker_cpu += cpu
            for claim in owned:
                if not claim.future.done():
                    plan, doc = claim.job
                    try:
                        claim.future.set_result(evaluator.evaluate(plan, doc))
                    except EvalError as exc:
                        # A fresh error: the raised one's traceback would keep this thread's engine alive in
                        # the cache, and the binding's engines must not be dropped by another thread.
                        claim.future.set_result(EvalError(str(exc)))
        except BaseException as exc:
            self._abandon(owned, exc)
            raise
        return [{} if fut is None else fut.result() for fut in futures]

    def _abandon(self, owned: Sequence[_Claim], exc: BaseException) -> None:
        """Forget the unfinished keys of a failed call, and tell targets already waiting on them why."""
        reason = EvalError(f"evaluation failed for another target: {type(exc).__name__}: {exc}")
        with self._lock:
            for claim in owned:
                if not claim.future.done():
                    if self._cache.get(claim.key) is claim.future:  # not another claim of an evicted key
                        del self._cache[claim.key]  # a later target evaluates it afresh
                    claim.future.set_result(reason)

    def _claim(self, ctx: str, block: Sequence[Job], futures: list[Future[Any] | None], memo: bool) -> list[_Claim]:
        """Append each job's future to ``futures``; return the jobs no one has evaluated or claimed yet."""
        keys = [(ctx, q, self._digest(doc, memo)) if q else None for q, doc in block]
        mine: list[_Claim] = []
        with self._lock:
            self.stats.documents += len(block)
            for job, key in zip(block, keys, strict=True):
                if key is None:
                    self.stats.not_applicable += 1
                    futures.append(None)
                    continue
                fut = self._cache.get(key)
                if fut is None:
                    fut = self._cache[key] = Future()
                    mine.append(_Claim(job, key, fut))
                    # Insertion order: the oldest go first. One still being evaluated stays with its waiters
                    # (they hold its future); only a later ask for its key evaluates it again.
                    while len(self._cache) > RESULT_MEMO:
                        del self._cache[next(iter(self._cache))]
                futures.append(fut)
            self.stats.evaluated += len(mine)
        return mine

    def _digest(self, doc: Any, memo: bool) -> bytes:
        if not memo or not isinstance(doc, Mapping):
            return digest(doc)
        found = self._digests.get(id(doc))
        if found is not None and found[0] is doc:  # the entry holds the document, so its id is not reused
            return found[1]
        value = digest(doc)
        with self._lock:
            self._digests[id(doc)] = (doc, value)
            while len(self._digests) > DIGEST_MEMO:
                del self._digests[next(iter(self._digests))]  # insertion order: the oldest documents go first
        return value

    def start_pool(self, batch: int) -> None:
        """Start the workers now (they take ~0.5 s) if batches of ``batch`` documents will want them."""
        pool = self._pool_for(batch)
        if pool is None:
            return
        try:
            for _ in range(self._workers):
                pool.submit(worker.ping)
        except BrokenProcessPool as exc:
            self._broken(exc)

    def _chunk_size(self, total: int) -> int:
        low, high = _CHUNK
        return max(low, min(high, math.ceil(total / (2 * max(1, self._workers)))))

    def _pool_for(self, size: int) -> ProcessPoolExecutor | None:
        if self._workers <= 0 or self._pool_failed:
            return None
        with self._lock:
            if self._pool is None and size >= self._start_pool_at:
                self._pool = ProcessPoolExecutor(
                    max_workers=self._workers,
                    # spawn, not fork: the audit runs threads, and forking a threaded process can deadlock.
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=worker.init,
                    initargs=(self._modules, self._data),
                )
            pool = self._pool
        return pool if pool is not None and size >= USE_POOL_AT else None

    def _broken(self, exc: BaseException) -> None:
        with self._lock:
            first = not self._pool_failed
            self._pool_failed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if first:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            log.warning("policy worker pool failed (%s); evaluating in process", reason)

    def close(self) -> None:
        """Stop the worker pool (idempotent); the cache is dropped with the runner."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
