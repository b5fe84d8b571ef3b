"""Options the cluster stage takes from config and the command line (frozen, import only the model)."""

from __future__ import annotations

from dataclasses import dataclass

SECRET_MODES = ("metadata", "hash")
"""``metadata``: Secrets are read without ``data`` (default); ``hash``: values become keyed hashes on arrival."""


@dataclass(frozen=True)
class LiveScope:
    """What to read for one target: the kinds and namespaces that drift and orphan detection need."""

    kinds: tuple[tuple[str, str, str], ...]
    """(group, version, kind) to read: the kinds in desired plus configured extra kinds.

    Objects are identified without their version: when the cluster serves the given version it is
    read in that version (so fields compare like for like), else in the cluster's preferred version.
    """
    namespaces: tuple[str, ...]
    """Namespaces the target manages; namespaced kinds are listed once per namespace."""
    cluster_scoped: tuple[tuple[str, str], ...] = ()
    """(group, kind) known to be cluster-scoped beyond :data:`auditor.util.kinds.CLUSTER_SCOPED`.

    Only snapshots need this (a live read learns the scope from discovery); a snapshot object without
    a namespace is also treated as cluster-scoped.
    """
    all_namespaces: bool = False
    """Read namespaced kinds in every namespace (one cluster-wide list per kind), e.g. for snapshots."""


@dataclass(frozen=True)
class ClusterOptions:
    """How to reach clusters and how hard to try."""

    kubeconfig: str = ""
    """``--kubeconfig``: that file only; else ``KUBECONFIG`` (merged), else ``~/.kube/config``; else in-cluster."""
    request_timeout: float = 10.0
    """Seconds per HTTP request (connect and read)."""
    deadline: float = 120.0
    """Seconds for everything read from one cluster (discovery, lists, retries and backoff)."""
    max_attempts: int = 4
    """Attempts per request on 429/5xx/connection errors/timeouts (1 = no retry)."""
    parallel_lists: int = 4
    """Lists in flight at once within one cluster (the pipeline parallelises across clusters)."""
    page_size: int = 500
    """``limit`` per list page."""
    secrets: str = "metadata"
    """``metadata`` (default) or ``hash`` (values replaced by keyed hashes as soon as they arrive)."""
    secret_key: bytes = b""
    """Per-run key for keyed hashes (:mod:`auditor.util.secrets`), set by the pipeline."""
    progress: bool | None = None
    """Show progress on stderr: ``None`` means only when stderr is a TTY."""
    allow_exec_plugins: bool = True
    """Run kubeconfig exec credential plugins (and legacy auth-provider ``cmd-path`` commands) as kubectl
    does. ``False`` refuses contexts whose user needs one: for kubeconfigs you do not trust."""
