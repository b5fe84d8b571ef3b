"""Options of Argo CD discovery and rendering (built by ``config.py`` from the ``argocd:`` section).

Imports only the standard library and the sibling Flux options module (its cluster override is shared):
``config.py`` may import this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from auditor.render.flux.options import ClusterOverride

ARGOCD_RENDERER_LABEL = "gitops-audit.io/renderer"
ARGOCD_RENDERER = "argocd"
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
IN_CLUSTER_NAME = "in-cluster"


@dataclass(frozen=True)
class ArgoCluster:
    """A cluster registered in Argo CD (what the ``clusters`` generator lists and destinations name)."""

    name: str
    server: str
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class ArgoOptions:
    """How to find Argo CD Applications in the repository and render them like the repo-server.

    Targets are destination clusters: every Application whose destination is that cluster is part of
    its desired state. A cluster's context/snapshot come from ``overrides[<cluster name or server>]``,
    else the ``context``/``snapshot`` templates (``{name}`` = cluster name, ``{server}``), else the
    kubeconfig context named like the cluster.
    """

    apps: str = ""
    """Glob of repository files holding Applications/ApplicationSets (``argocd/**/*.yaml``); empty = none."""
    root: str = ""
    """App-of-apps root: a repository directory rendered like an Application source (Helm chart,
    kustomization or plain directory) or a file holding Applications; its Applications are followed
    recursively and are themselves desired objects of the cluster Argo CD runs in."""
    root_values: tuple[str, ...] = ()
    """``valueFiles`` for a Helm root (relative to the root directory)."""
    root_destination: str = IN_CLUSTER_SERVER
    """Cluster the root's Applications are applied to (where Argo CD runs)."""
    namespace: str = "argocd"
    """Namespace of Applications that name none (Argo CD's control-plane namespace)."""
    revision: str = "HEAD"
    """The ``targetRevision`` the audited ref stands for. Sources on the audited repository naming it (or
    ``HEAD``/empty) render from the audited commit; other revisions are read from the same clone."""
    context: str = ""
    snapshot: str = ""
    overrides: Mapping[str, ClusterOverride] = field(default_factory=dict, hash=False)
    clusters: tuple[ArgoCluster, ...] = ()
    """Clusters registered in Argo CD (for the ``clusters`` generator and ``destination.name``)."""
    tracking: str = "annotation"
    """Argo CD's ``application.resourceTrackingMethod``: ``annotation`` (default since 3.0), ``label`` or
    ``annotation+label``."""
    instance_label: str = "app.kubernetes.io/instance"
    """``application.instanceLabelKey``."""
    helm_path: str = ""
    helm_kube_version: str = ""
    helm_timeout: float = 120.0
    jsonnet_timeout: float = 60.0
    max_depth: int = 10
    """How deep app-of-apps may nest."""

    @property
    def configured(self) -> bool:
        """True when discovery is asked for."""
        return bool(self.apps or self.root)
