"""What API servers, admission plugins and controllers do to objects: each behaviour a named function.

The drift engine compares git with what the API server returns. Between the two sit defaulting,
admission plugins and controllers that rewrite fields nobody "changed". Every function here
models one such behaviour (the comment says which) and is tested from an object as the API
server returns it (``tests/diff/test_server_behaviour.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from auditor.diff.defaults import is_server_default

RBAC_GROUP = "rbac.authorization.k8s.io"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
ARGO_HOOK = "argocd.argoproj.io/hook"
ARGO_HOOK_DELETE = "argocd.argoproj.io/hook-delete-policy"
HELM_HOOK = "helm.sh/hook"
HELM_HOOK_DELETE = "helm.sh/hook-delete-policy"
ARGO_COMPARE_OPTIONS = "argocd.argoproj.io/compare-options"

Path = tuple[str, ...]


def is_aggregated_role(group: str, kind: str, desired: Mapping[str, Any]) -> bool:
    """A ClusterRole whose ``rules`` the clusterrole-aggregation-controller writes.

    Server behaviour: for a ClusterRole with ``aggregationRule``, kube-controller-manager's
    clusterrole-aggregation-controller replaces ``rules`` with the union of the rules of every
    ClusterRole its selectors match; whatever git writes there is overwritten (Argo CD's
    ``ignoreAggregatedRoles``).
    """
    return group == RBAC_GROUP and kind == "ClusterRole" and bool(desired.get("aggregationRule"))


def without_rules(body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` minus its ``rules`` (the controller owns them on an aggregated ClusterRole)."""
    return {k: v for k, v in body.items() if k != "rules"}


def transient_hook(desired: Mapping[str, Any]) -> str:
    """Why a desired object may rightly be absent live ('' when it may not): Argo CD or Helm hooks.

    Argo CD runs hook resources (``argocd.argoproj.io/hook``) during a sync and deletes them by
    their delete policy, ``BeforeHookCreation`` when none is given; Helm deletes hooks whose
    ``helm.sh/hook-delete-policy`` says so once they ran. Neither is part of the steady state, so
    absent live is normal — never ``missing``.
    """
    ann = (desired.get("metadata") or {}).get("annotations") or {}
    if not isinstance(ann, Mapping):
        return ""
    argo = ann.get(ARGO_HOOK)
    if isinstance(argo, str) and argo.strip() and argo.strip() != "Skip":
        policy = ann.get(ARGO_HOOK_DELETE) or "BeforeHookCreation"
        return f"Argo CD {argo.strip()} hook (delete policy {policy})"
    helm = ann.get(HELM_HOOK)
    policy = ann.get(HELM_HOOK_DELETE)
    if isinstance(helm, str) and helm.strip() and isinstance(policy, str) and policy.strip():
        return f"Helm {helm.strip()} hook (delete policy {policy.strip()})"
    return ""


def ignore_extraneous(live: Mapping[str, Any]) -> bool:
    """Argo CD ``argocd.argoproj.io/compare-options: IgnoreExtraneous`` on a live object not in git.

    Argo CD leaves such objects out of the sync status (generated objects, e.g. by a controller
    without ownerReferences); an orphan carrying it is shown as suppressed, not counted.
    """
    ann = (live.get("metadata") or {}).get("annotations") or {}
    value = ann.get(ARGO_COMPARE_OPTIONS) if isinstance(ann, Mapping) else None
    return isinstance(value, str) and "IgnoreExtraneous" in [v.strip() for v in value.split(",")]


def is_rollout_restart(path: Path) -> bool:
    """The pod-template annotation ``kubectl rollout restart`` writes.

    Server behaviour: ``kubectl rollout restart`` (field manager ``kubectl-rollout``) patches
    ``spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]`` with the current
    time, which makes the workload controller roll every pod. It changes no configuration and the
    applier never owns it (the next apply leaves it): an operational event, not drift.
    """
    return len(path) >= 4 and path[-1] == RESTARTED_AT and path[-2] == "annotations" and path[-3] == "metadata" \
        and path[-4] == "template"


def atomic_extras(kind: str, path: Path, desired: Any, live: Any) -> Iterator[tuple[Path, Any]]:
    """Live fields inside an atomic list that git does not set and the server does not default.

    Server behaviour: an atomic list (Endpoints ``subsets``, StatefulSet ``volumeClaimTemplates``,
    pod ``tolerations``…) is replaced whole by each writer, then defaulted *inside* (``protocol:
    TCP`` on ports, ``volumeMode: Filesystem``, ``apiVersion``/``kind``/``status`` on claim
    templates, tolerations appended by DefaultTolerationSeconds). Defaults inside an atomic list
    are still defaults: only what is left after them was written by someone.
    Yields (path, live value) of each extra, top-most first; lists of different length are
    compared item by item up to the shorter one, and the live items beyond it are extras unless
    they are defaults themselves.
    """
    if isinstance(desired, dict) and isinstance(live, dict):
        for key, lv in live.items():
            sub = (*path, key)
            if key not in desired:
                if not is_server_default(kind, sub, lv, live) and not _all_defaults(kind, sub, lv):
                    yield sub, lv
                continue
            yield from atomic_extras(kind, sub, desired[key], lv)
    elif isinstance(desired, list) and isinstance(live, list):
        for i, lv in enumerate(live):
            sub = (*path, f"[{i}]")
            if i < len(desired):
                yield from atomic_extras(kind, sub, desired[i], lv)
            elif not is_server_default(kind, sub, lv, live) and not _all_defaults(kind, sub, lv):
                yield sub, lv


def _all_defaults(kind: str, path: Path, value: Any) -> bool:
    """True when every leaf of ``value`` is a server default at its path (a defaulted sub-object)."""
    if isinstance(value, dict):
        if not value:
            return False
        return all(is_server_default(kind, (*path, k), v, value) or _all_defaults(kind, (*path, k), v)
                   for k, v in value.items())
    return False


def filled_after_create(kind: str, path: Path, value: Any, parent: Any) -> bool:
    """A defaulted empty struct that a manager owns as a leaf, filled in after it was recorded.

    Server behaviour: an ``Update`` that creates an object (``kubectl create``, client-side
    ``kubectl apply``, Helm) records the *defaulted* object for its manager before admission runs,
    so a container's ``resources: {}`` is owned as a bare leaf; the LimitRanger admission plugin then
    fills requests/limits, which nobody owns. The manager owns the empty map it sent, not what
    admission put inside (a hand edit of resources would be recorded field by field).
    """
    return isinstance(value, dict) and bool(value) and is_server_default(kind, path, {}, parent)
