"""The minimal read-only RBAC the auditor needs: get/list on the kinds it reads, no wildcards, no Secrets.

``deploy/rbac.yaml`` is :func:`render_rbac` of :data:`DEFAULT_RESOURCES`; ``gitops-audit rbac`` prints
the role for other kinds (those of a rendered overlay, say) so a cluster grants no more than needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.util import yamlio

VERBS = ("get", "list")

DEFAULT_RESOURCES: tuple[tuple[str, str], ...] = (
    ("", "configmaps"),
    ("", "limitranges"),
    ("", "namespaces"),
    ("", "persistentvolumeclaims"),
    ("", "resourcequotas"),
    ("", "serviceaccounts"),
    ("", "services"),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("apps", "daemonsets"),
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("autoscaling", "horizontalpodautoscalers"),
    ("batch", "cronjobs"),
    ("batch", "jobs"),
    ("helm.toolkit.fluxcd.io", "helmreleases"),
    ("kustomize.toolkit.fluxcd.io", "kustomizations"),
    ("networking.k8s.io", "ingressclasses"),
    ("networking.k8s.io", "ingresses"),
    ("networking.k8s.io", "networkpolicies"),
    ("policy", "poddisruptionbudgets"),
    ("rbac.authorization.k8s.io", "clusterrolebindings"),
    ("rbac.authorization.k8s.io", "clusterroles"),
    ("rbac.authorization.k8s.io", "rolebindings"),
    ("rbac.authorization.k8s.io", "roles"),
    ("scheduling.k8s.io", "priorityclasses"),
    ("source.toolkit.fluxcd.io", "gitrepositories"),
    ("source.toolkit.fluxcd.io", "helmrepositories"),
    ("source.toolkit.fluxcd.io", "ocirepositories"),
    ("storage.k8s.io", "storageclasses"),
)
"""(API group, resource) the default role grants: the kinds a Kustomize/Flux fleet usually holds."""


@dataclass(frozen=True)
class RbacSubject:
    """Who the ClusterRoleBinding grants the role to (the CronJob's service account)."""

    service_account: str = "gitops-audit"
    namespace: str = "gitops-audit"


DEFAULT_SUBJECT = RbacSubject()


def is_secret_resource(group: str, resource: str) -> bool:
    """True for core Secrets: granting ``list`` on them exposes every value, whatever the client asks."""
    return group == "" and resource == "secrets"


def cluster_role(resources: Iterable[tuple[str, str]], name: str, *, secrets: bool = False) -> dict[str, Any]:
    """A ClusterRole with get/list on each (group, resource); one rule per API group, no wildcards."""
    by_group: dict[str, set[str]] = {}
    for group, resource in resources:
        if not resource or "*" in resource or "*" in group:
            raise ValueError(f"refusing wildcard or empty resource {group}/{resource}")
        if is_secret_resource(group, resource) and not secrets:
            continue
        by_group.setdefault(group, set()).add(resource)
    rules = [
        {"apiGroups": [group], "resources": sorted(plurals), "verbs": list(VERBS)}
        for group, plurals in sorted(by_group.items())
    ]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "gitops-audit"}},
        "rules": rules,
    }


def cluster_role_binding(name: str, subject: RbacSubject) -> dict[str, Any]:
    """Bind the role to the auditor's service account."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "gitops-audit"}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": subject.service_account, "namespace": subject.namespace}],
    }


def render_rbac(
    resources: Iterable[tuple[str, str]],
    *,
    name: str = "gitops-audit-reader",
    subject: RbacSubject | None = DEFAULT_SUBJECT,
    secrets: bool = False,
    notes: Iterable[str] = (),
) -> str:
    """YAML for the role (and its binding unless ``subject`` is None), with a comment header."""
    resources = list(resources)
    header = [
        "# Read-only access for gitops-audit: get/list only, no wildcards, no watch, no writes.",
        "# API discovery (/api, /apis) is granted to every authenticated user by system:discovery.",
    ]
    if secrets:
        header.append("# Includes secrets: the holder of this role can read Secret values.")
    else:
        header.append("# No Secrets: list on secrets exposes their values to the holder, even though gitops-audit")
        header.append("# asks for metadata only. Secrets in scope are reported as not audited (forbidden).")
    header += [f"# {n}" for n in notes]
    docs: list[Mapping[str, Any]] = [cluster_role(resources, name, secrets=secrets)]
    if subject is not None:
        docs.append(cluster_role_binding(name, subject))
    return "\n".join(header) + "\n" + yamlio.dump_all(list(docs))
