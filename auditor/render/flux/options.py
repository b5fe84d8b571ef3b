"""Options of Flux-style fleet discovery and rendering (built by ``config.py`` from the ``flux:`` section).

Imports only the standard library: ``config.py`` may import this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

FLUX_RENDERER_LABEL = ("gitops-audit.io/renderer", "flux")
"""Label pair put on every discovered target: the pipeline renders such targets with ``render_flux_target``."""


@dataclass(frozen=True)
class ClusterOverride:
    """Explicit settings for one cluster directory (``flux.overrides.<cluster name>``); they win over all else."""

    env: str = ""
    region: str = ""
    context: str = ""
    snapshot: str = ""
    """Absolute path (``config.py`` resolves it against the config file's directory)."""
    namespace: str = ""
    name: str = ""
    """Target name to use instead of the cluster directory's name."""
    source_paths: Mapping[str, str] = field(default_factory=dict, hash=False)
    """Like :attr:`FluxOptions.source_paths`, for this cluster only (wins over the global map)."""


@dataclass(frozen=True)
class FluxOptions:
    """How to find cluster targets in a Flux layout and render them like kustomize-controller.

    Per-cluster ``env``/``region``/``context``/``snapshot`` come from, first match wins:
    1. ``overrides[<cluster name>]`` (config);
    2. labels ``gitops-audit.io/env``, ``gitops-audit.io/region``, ``gitops-audit.io/context`` on a
       Flux ``Kustomization`` in the cluster directory (env/region also from the ``env_var``/``region_var``
       keys of a Kustomization's ``postBuild.substitute`` or of a ConfigMap in the cluster directory);
    3. ``name_pattern``: a regular expression with named groups ``env``/``region`` matched against the
       cluster name (``(?P<env>[a-z]+)-(?P<region>.+)`` for ``production-us-east``);
    4. env = the cluster name, region empty; context/snapshot from the ``context``/``snapshot``
       templates (``{name}``, ``{env}``, ``{region}`` are replaced).
    A cluster that ends with neither context nor snapshot uses the kubeconfig context named like the cluster.
    """

    clusters: str = ""
    """Glob of cluster directories relative to the repository root (``clusters/*``); empty = no discovery."""
    name_pattern: str = ""
    env_var: str = ""
    """Substitution variable naming the environment, e.g. ``cluster_env``."""
    region_var: str = ""
    context: str = ""
    """Template of the kubeconfig context per cluster, e.g. ``{name}`` or ``{env}-{region}``."""
    snapshot: str = ""
    """Template of the snapshot directory per cluster (absolute after config resolution), e.g.
    ``/srv/snapshots/{name}``."""
    overrides: Mapping[str, ClusterOverride] = field(default_factory=dict, hash=False)
    source_paths: Mapping[str, str] = field(default_factory=dict, hash=False)
    """``Kind/namespace/name`` of a source whose content is not in git (OCIRepository, Bucket; also a
    GitRepository or ExternalArtifact to override) → local directory holding its content, for every cluster
    (``overrides.<cluster>.source_paths`` per cluster). GitRepositories of the audited repository at another
    ref, allowed repositories (``source.allow_remote_repos``) and ExternalArtifacts of ArtifactGenerators in
    git are read from git without it."""
    repo_sources: tuple[str, ...] = ("GitRepository/flux-system/flux-system",)
    """Sources that *are* the audited repository (paths resolve against its root), besides any
    GitRepository whose ``spec.url`` names the audited repository."""
    allow_cluster_substitution: bool = False
    """``substituteFrom`` objects absent from git may be read from the cluster (the pipeline passes a lookup)."""
    strict_substitution: bool = False
    """Unset ``${var}`` without default is an error (Flux's StrictPostBuildSubstitutions)."""
    helm_charts: tuple[str, ...] = ()
    """Local chart directories/caches for HelmReleases of remote repositories: ``<dir>/<chart>/Chart.yaml``
    or ``<dir>/<chart>-<version>.tgz``."""
    kustomize_helm: bool = False
    """Allow kustomize ``helmCharts`` (``--enable-helm``); off by default."""
    helm_path: str = ""
    """Explicit helm binary; empty → ``helm`` on PATH."""
    helm_timeout: float = 120.0
    helm_kube_version: str = ""
    """``.Capabilities.KubeVersion`` for ``helm template`` (e.g. ``1.31.0``); empty → helm's default."""
    render_workers: int = 4
    """kustomize builds run in parallel for Kustomizations whose dependencies are rendered."""
    root_name: str = "flux-system"
    """Name and namespace of the Flux Kustomization assumed to apply the cluster directory when the
    directory holds no Kustomization pointing at itself."""
