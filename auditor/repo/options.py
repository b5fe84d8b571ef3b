"""Options of the ``source:`` config section: git access (repo) and rendering (render) both read them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceOptions:
    """How to reach repositories and render overlays; built by ``config.py`` from the ``tools``/``source`` keys."""

    cache_dir: str = ""
    """Clone cache for remote repositories; empty → ``$XDG_CACHE_HOME/gitops-audit/repos``
    (``~/.cache/gitops-audit/repos`` when XDG_CACHE_HOME is unset)."""
    kustomize_path: str = ""
    """Explicit kustomize binary; empty → ``kustomize`` on PATH, else ``kubectl kustomize``."""
    kubectl_path: str = ""
    """Explicit kubectl binary used for ``kubectl kustomize`` when no kustomize is found."""
    render_timeout: float = 120.0
    """Seconds one ``kustomize build`` may take."""
    git_timeout: float = 300.0
    """Seconds one git command (clone/fetch included) may take."""
    allow_remote_bases: tuple[str, ...] = ()
    """URL prefixes allowed as remote kustomize resources/bases; everything else remote is refused.

    A prefix matches at a path boundary with the same scheme and host, e.g. ``https://github.com/acme/``
    or ``git@github.com:acme/``. Overlays using remote bases get no render cache key."""
    allow_remote_repos: tuple[str, ...] = ()
    """URL prefixes of repositories (other than the audited one) that Flux and Argo CD sources may name and
    the audit may clone into the cache; same matching rules as ``allow_remote_bases``. Others are reported
    as not rendered."""
    repo_urls: tuple[str, ...] = ()
    """Other URLs of the audited repository (how Flux GitRepositories and Argo CD sources name it), besides
    its own remote URL and, for a local repository, its ``origin``."""
    worktree: bool = False
    """Render from the working tree (uncommitted files included) instead of a commit: explicit opt-in."""
    tool_memory_mb: int = 2048
    """Memory (RLIMIT_DATA, MiB) each kustomize, helm or git process may use; more is a render error."""
    tool_processes: int = 0
    """CPU-bound tool processes (kustomize, helm, jsonnet) running at once; 0 = auto, one per available CPU."""
    credential_hosts: tuple[str, ...] = ()
    """``scheme://host[:port]`` of the repositories the config names (``repo:``, targets, ``--repo``): the
    only places ``$GITOPS_AUDIT_GIT_TOKEN`` is ever offered to (a URL found inside a repository is not)."""
    render_cache: str = ""
    """Directory of renders kept across runs (keyed by the commit's root tree); empty → the user cache dir
    (``$XDG_CACHE_HOME/gitops-audit/renders``), ``off`` → never cache."""
