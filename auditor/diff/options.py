"""Options of the drift stage, built by ``config.py`` (frozen dataclasses; imports nothing from stages).

Defaults are documented in ``auditor/diff/README.md``; every tuple here can be replaced from config.
"""

from __future__ import annotations

from dataclasses import dataclass

IGNORE_ANNOTATION = "gitops-audit.io/ignore-differences"
"""Object annotation (read from the *desired* object only) holding ignore rules for that object.

The value is either JSON pointers separated by newlines or commas (``/spec/replicas``), or a
JSON/YAML mapping with Argo CD's keys ``jsonPointers``, ``jqPathExpressions`` and
``managedFieldsManagers``. It is read from git, never from the live object: a live annotation
could be added out-of-band precisely to hide the drift it causes.
"""


@dataclass(frozen=True)
class IgnoreRule:
    """One Argo CD ``ignoreDifferences``-compatible rule.

    Selector fields left empty match anything (Argo CD reads an empty ``group`` as the core
    group; write ``group: ""`` with a ``kind`` and it still matches core kinds, since no other
    group serves them). ``group``, ``kind`` and ``namespace`` accept shell globs (``*``).
    A rule with no pointers, jq expressions or managers ignores the whole object (missing,
    orphaned and field differences alike).
    """

    name: str = ""
    """Object name (exact), as Argo CD's ``name``."""
    group: str = ""
    kind: str = ""
    name_pattern: str = ""
    """Shell glob over object names (``web-*``); used when ``name`` is empty."""
    namespace: str = ""
    json_pointers: tuple[str, ...] = ()
    """RFC 6901 pointers; a difference at or below one is suppressed (``/spec/replicas``)."""
    jq_path_expressions: tuple[str, ...] = ()
    """jq path expressions (needs the ``jq`` Python binding; reported as unmatched without it)."""
    managed_fields_managers: tuple[str, ...] = ()
    """Differences whose live value was last written by one of these field managers are suppressed."""
    id: str = ""
    """Name shown in ``suppressed_by`` and ``unmatched_rules``; generated from the selector when empty."""


DEFAULT_APPLIER_MANAGERS: tuple[str, ...] = (
    "kustomize-controller",
    "helm-controller",
    "argocd-controller",
    "argocd-application-controller",
    "gitops-audit",
)
"""Field managers that apply git to the cluster. ``kubectl-client-side-apply`` and ``kubectl`` are
deliberately *not* here: in a Flux/Argo fleet a hand-run ``kubectl apply`` is out-of-band."""

DEFAULT_KNOWN_CONTROLLERS: tuple[str, ...] = (
    "kube-controller-manager",
    "kube-scheduler",
    "kube-apiserver",
    "kubelet",
    "kube-proxy",
    "cloud-controller-manager",
    "cluster-autoscaler",
    "vpa-recommender",
    "vpa-updater",
    "vpa-admission-controller",
    "keda-operator",
    "before-first-apply",
)
"""Managers whose writes are expected (controllers, and kubectl's client-side → server-side apply
migration marker ``before-first-apply``); fields they own never count as added out-of-band."""

DEFAULT_GITOPS_LABELS: tuple[str, ...] = (
    "kustomize.toolkit.fluxcd.io/name",
    "kustomize.toolkit.fluxcd.io/namespace",
    "helm.toolkit.fluxcd.io/name",
    "helm.toolkit.fluxcd.io/namespace",
    "app.kubernetes.io/instance",
    "argocd.argoproj.io/instance",
)
"""Labels a GitOps applier stamps on what it applies; an orphan carrying this target's values is
"stale" (was in git, removed, not pruned). They are also ignored when comparing labels, since
the applier adds them at apply time and git never holds them — except ``app.kubernetes.io/instance``,
which users also set themselves, so it is compared when desired sets it."""

DEFAULT_GITOPS_ANNOTATIONS: tuple[str, ...] = (
    "argocd.argoproj.io/tracking-id",
    "kustomize.toolkit.fluxcd.io/checksum",
    "kustomize.toolkit.fluxcd.io/reconcile",
    "kustomize.toolkit.fluxcd.io/ssa",
    "kustomize.toolkit.fluxcd.io/prune",
)
"""Annotations the applier writes itself (tracking/bookkeeping); never compared, never "added"."""


DEFAULT_ORPHAN_KINDS: tuple[tuple[str, str, str], ...] = (
    ("", "v1", "ConfigMap"),
    ("", "v1", "Secret"),
    ("", "v1", "Service"),
    ("", "v1", "ServiceAccount"),
    ("", "v1", "PersistentVolumeClaim"),
    ("apps", "v1", "Deployment"),
    ("apps", "v1", "StatefulSet"),
    ("apps", "v1", "DaemonSet"),
    ("batch", "v1", "Job"),
    ("batch", "v1", "CronJob"),
    ("networking.k8s.io", "v1", "Ingress"),
    ("networking.k8s.io", "v1", "NetworkPolicy"),
    ("rbac.authorization.k8s.io", "v1", "Role"),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding"),
)
"""(group, version, kind) read in every managed namespace for orphan detection even when git holds
none of that kind (one list per kind and namespace, like any other read). Secrets are read as
metadata only."""


@dataclass(frozen=True)
class DriftOptions:
    """How the drift engine decides what counts (DESIGN §4)."""

    ignore: tuple[IgnoreRule, ...] = ()
    applier_managers: tuple[str, ...] = DEFAULT_APPLIER_MANAGERS
    known_controllers: tuple[str, ...] = DEFAULT_KNOWN_CONTROLLERS
    gitops_labels: tuple[str, ...] = DEFAULT_GITOPS_LABELS
    gitops_annotations: tuple[str, ...] = DEFAULT_GITOPS_ANNOTATIONS
    orphans: bool = True
    """Report live objects that git does not hold (in managed namespaces and cluster-scoped kinds)."""
    extra_system_objects: tuple[str, ...] = ()
    """More objects never reported as orphans, as globs ``Kind/namespace/name`` or ``Kind/name``
    (cluster-scoped), e.g. ``ConfigMap/*/istio-ca-root-cert``."""
    orphan_kinds: tuple[tuple[str, str, str], ...] = DEFAULT_ORPHAN_KINDS
    """Kinds read in managed namespaces for orphan detection whether or not git holds them
    (``drift.orphan_kinds``; the pipeline adds them to the live read when ``orphans`` is on)."""
    ignore_aggregated_roles: bool = True
    """Never compare ``rules`` of a ClusterRole with ``aggregationRule`` (the clusterrole-aggregation
    controller writes them; Argo CD's ``ignoreAggregatedRoles``)."""
    mutation_webhook_managers: tuple[str, ...] = ()
    """Field managers whose writes are admission/webhook mutations of what the applier sent
    (e.g. a sidecar injector that patches objects): differences they wrote are shown suppressed."""
    ignore_extraneous: bool = True
    """Honour Argo CD's ``argocd.argoproj.io/compare-options: IgnoreExtraneous`` on live objects not
    in git: such orphans are shown suppressed, not counted."""
    secret_hash_key: bytes = b""
    """Run key the cluster stage used to hash live Secret values (``auditor.util.secrets``). Set it
    (``dataclasses.replace``) when live Secrets arrive hashed; without it hashed live values cannot
    be compared and only Secret keys and metadata are."""
