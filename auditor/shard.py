"""Split a fleet's targets into N shards deterministically (``--shard K/N``, Indexed Jobs).

Assignment is rendezvous hashing (highest random weight) over the target *name*: target ``t`` goes
to the shard ``k`` with the largest ``sha256(f"{k}/{t}")``. Properties:

- deterministic on every machine and Python version (no ``hash()``, whose seed varies per process);
- a target's shard depends only on its own name, so adding or removing a target never moves another;
- going from N to N+1 shards moves only the ~1/(N+1) of targets that now prefer the new shard
  (plain ``hash % N`` would move most of them);
- the order of targets within a shard is the config order, as an unsharded run uses.

The price is balance: with few targets the shards can be uneven (12 targets in 3 shards may split
6/3/3). Targets that share an overlay may land in different shards and each shard renders it once.
Shards are numbered from 0, like ``JOB_COMPLETION_INDEX``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from collections.abc import Mapping, Sequence

from auditor.errors import UsageError
from auditor.model import Target

INDEX_ENV = "JOB_COMPLETION_INDEX"
"""Set by Kubernetes in every pod of an Indexed Job (0 … completions-1)."""
MAX_SHARDS = 10_000
"""Upper bound of N checked before anything else (assigning a target costs one hash per shard)."""


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` → ``(K, N)`` with ``0 <= K < N``; raises :class:`UsageError` otherwise."""
    k_text, sep, n_text = text.strip().partition("/")
    try:
        if not sep:
            raise ValueError(text)
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise UsageError(f"--shard {text!r}: expected K/N, e.g. 0/3 (shards are numbered from 0)") from None
    return _check(k, n, f"--shard {text}")


def _check(k: int, n: int, what: str) -> tuple[int, int]:
    if n < 1:
        raise UsageError(f"{what}: the shard count must be at least 1")
    if n > MAX_SHARDS:
        raise UsageError(f"{what}: at most {MAX_SHARDS} shards")
    if not 0 <= k < n:
        raise UsageError(f"{what}: shard index must be 0..{n - 1} (shards are numbered from 0)")
    return k, n


def shard_from_env(env: Mapping[str, str], count: int) -> tuple[int, int]:
    """``(JOB_COMPLETION_INDEX, count)`` for a pod of an Indexed Job with ``count`` completions."""
    raw = env.get(INDEX_ENV, "")
    if not raw.strip():
        raise UsageError(f"--shard-count {count}: ${INDEX_ENV} is not set (not running in an Indexed Job?)")
    try:
        k = int(raw)
    except ValueError:
        raise UsageError(f"--shard-count {count}: ${INDEX_ENV}={raw!r} is not a number") from None
    return _check(k, count, f"--shard-count {count} with {INDEX_ENV}={k}")


def shard_of(name: str, n: int) -> int:
    """The shard (0..n-1) of a target name: highest ``sha256("k/name")`` wins."""
    best, best_score = 0, b""
    for k in range(n):
        score = hashlib.sha256(f"{k}/{name}".encode()).digest()
        if score > best_score:
            best, best_score = k, score
    return best


def check_count(k: int, n: int, targets: int) -> None:
    """Refuse more shards than targets (one line, exit 2): some shards would be empty by construction."""
    if n > max(1, targets):
        raise UsageError(f"shard {k}/{n}: {n} shards for {targets} target{'s' if targets != 1 else ''} "
                         "(use at most one shard per target)")


def select_shard(targets: Sequence[Target], k: int, n: int) -> tuple[Target, ...]:
    """The targets of shard ``k`` of ``n``, in their given (config) order. May be empty.

    Raises :class:`UsageError` when ``n`` exceeds the number of targets.
    """
    _check(k, n, f"shard {k}/{n}")
    check_count(k, n, len(targets))
    return tuple(t for t in targets if shard_of(t.name, n) == k)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--shard K/N`` and ``--shard-count N`` (with ``$JOB_COMPLETION_INDEX``), mutually exclusive."""
    group = parser.add_argument_group("sharding (one part of a fleet audit; merge with 'report merge')")
    ex = group.add_mutually_exclusive_group()
    ex.add_argument("--shard", metavar="K/N", help="audit only shard K of N (0-based) of the selected targets")
    ex.add_argument("--shard-count", type=int, metavar="N",
                    help=f"audit shard ${INDEX_ENV} of N (for Kubernetes Indexed Jobs)")


def from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> tuple[int, int] | None:
    """The shard the flags ask for, or ``None`` for an unsharded run."""
    if getattr(args, "shard", None):
        return parse_shard(args.shard)
    count = getattr(args, "shard_count", None)
    if count is not None:
        return shard_from_env(os.environ if env is None else env, count)
    return None
