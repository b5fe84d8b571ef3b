"""``gitops-audit rbac``: print the minimal read-only ClusterRole for the kinds an audit reads.

Kinds come from ``--kind`` and from manifest files (``-f``, e.g. ``kubectl kustomize overlays/prod |
gitops-audit rbac -f -``; the default orphan kinds an audit also lists are added); with neither, the
default role of ``deploy/rbac.yaml`` is printed. Resource
names come from the cluster's discovery with ``--context``, else from the kind's usual plural.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from auditor.cluster.rbac import DEFAULT_RESOURCES, RbacSubject, render_rbac
from auditor.diff.options import DEFAULT_ORPHAN_KINDS
from auditor.errors import UsageError
from auditor.model import split_api_version
from auditor.util import yamlio
from auditor.util.kinds import guess_plural


def register(subparsers: Any) -> None:
    """Add the ``rbac`` subcommand."""
    p = subparsers.add_parser(
        "rbac",
        help="print the minimal read-only ClusterRole (get/list, no wildcards, no Secrets) for given kinds",
        description="Print a ClusterRole and ClusterRoleBinding granting get/list on exactly the kinds an audit "
        "reads. Without --kind or -f, prints the default role shipped as deploy/rbac.yaml.",
    )
    p.add_argument("--kind", "-k", action="append", default=[], metavar="KIND",
                   help="Kind, Kind.group or group/version/Kind (repeatable)")
    p.add_argument("--filename", "-f", action="append", default=[], metavar="FILE",
                   help="manifests whose kinds to grant (repeatable; YAML/JSON, Lists, multi-document; "
                   "'-' reads stdin)")
    p.add_argument("--context", metavar="CTX", help="resolve resource names through this cluster's discovery")
    p.add_argument("--kubeconfig", metavar="FILE", help="use only this kubeconfig file (with --context)")
    p.add_argument("--secrets", action="store_true",
                   help="also grant get/list on Secrets (exposes their values to the role's holder)")
    p.add_argument("--name", default="gitops-audit-reader", help="ClusterRole name (default: gitops-audit-reader)")
    p.add_argument("--service-account", default="gitops-audit", metavar="NAME",
                   help="service account bound to the role (default: gitops-audit)")
    p.add_argument("--namespace", "-n", default="gitops-audit", metavar="NS",
                   help="namespace of that service account (default: gitops-audit)")
    p.add_argument("--no-binding", action="store_true", help="print only the ClusterRole")
    p.set_defaults(func=handler)


_WELL_KNOWN_GROUPS = {
    "Deployment": "apps", "StatefulSet": "apps", "DaemonSet": "apps", "ReplicaSet": "apps",
    "Job": "batch", "CronJob": "batch", "HorizontalPodAutoscaler": "autoscaling",
    "PodDisruptionBudget": "policy", "Ingress": "networking.k8s.io", "NetworkPolicy": "networking.k8s.io",
    "IngressClass": "networking.k8s.io", "Role": "rbac.authorization.k8s.io",
    "RoleBinding": "rbac.authorization.k8s.io", "ClusterRole": "rbac.authorization.k8s.io",
    "ClusterRoleBinding": "rbac.authorization.k8s.io", "StorageClass": "storage.k8s.io",
    "PriorityClass": "scheduling.k8s.io", "CustomResourceDefinition": "apiextensions.k8s.io",
    "Kustomization": "kustomize.toolkit.fluxcd.io", "HelmRelease": "helm.toolkit.fluxcd.io",
    "GitRepository": "source.toolkit.fluxcd.io", "HelmRepository": "source.toolkit.fluxcd.io",
    "OCIRepository": "source.toolkit.fluxcd.io",
}
"""Group of a bare kind name on the command line (anything else is taken as the core group)."""


def parse_kind(text: str) -> tuple[str, str]:
    """``Deployment``, ``Deployment.apps`` or ``apps/v1/Deployment`` → (group, Kind)."""
    text = text.strip()
    if not text:
        raise UsageError("rbac --kind: empty kind")
    if "/" in text:
        api_version, _, kind = text.rpartition("/")
        group, _ = split_api_version(api_version)
        return group, kind
    kind, _, group = text.partition(".")
    return (group if group else _WELL_KNOWN_GROUPS.get(kind, "")), kind


def kinds_from_files(paths: list[str]) -> set[tuple[str, str]]:
    """(group, Kind) of every object in the given manifest files (``-`` is stdin)."""
    found: set[tuple[str, str]] = set()
    for path in paths:
        try:
            data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
            docs = yamlio.load_json_or_yaml(data, "<stdin>" if path == "-" else path)
        except OSError as exc:
            raise UsageError(f"rbac -f {path}: {exc.strerror}") from None
        except yamlio.YamlError as exc:
            raise UsageError(f"rbac -f: {exc}") from None
        for doc in docs:
            for obj in yamlio.iter_items(doc):
                api_version, kind = obj.get("apiVersion"), obj.get("kind")
                if isinstance(api_version, str) and isinstance(kind, str):
                    found.add((split_api_version(api_version)[0], kind))
    return found


def _plurals(kinds: set[tuple[str, str]], args: argparse.Namespace) -> tuple[list[tuple[str, str]], list[str]]:
    """(group, resource) per kind, through discovery when a context is given; plus notes."""
    notes: list[str] = []
    if not args.context:
        return sorted((g, guess_plural(k)) for g, k in kinds), notes
    from auditor.cluster.kube import check_contexts, discover_all
    from auditor.cluster.options import ClusterOptions

    options = ClusterOptions(kubeconfig=args.kubeconfig or "")
    check_contexts([args.context], options)
    served = {(r.group, r.kind): r.plural for r in discover_all(args.context, options)}
    out: list[tuple[str, str]] = []
    for group, kind in sorted(kinds):
        plural = served.get((group, kind))
        if plural is None:
            plural = guess_plural(kind)
            notes.append(f"{kind}{'.' + group if group else ''} is not served by {args.context}; "
                         f"granted as {plural!r}")
        out.append((group, plural))
    return out, notes


def handler(args: argparse.Namespace) -> int:
    """Print the role; returns the exit code."""
    kinds = {parse_kind(k) for k in args.kind} | kinds_from_files(list(args.filename))
    if args.filename and kinds:
        # An audit of those manifests also lists the default orphan kinds in their namespaces.
        kinds |= {(g, k) for g, _, k in DEFAULT_ORPHAN_KINDS}
    if kinds:
        resources, notes = _plurals(kinds, args)
    elif args.filename:
        raise UsageError("rbac -f: no Kubernetes objects found")
    else:
        resources = list(DEFAULT_RESOURCES)
        notes = ["The default role (deploy/rbac.yaml), printed by `gitops-audit rbac`. For exactly the kinds",
                 "of one overlay: kubectl kustomize DIR | gitops-audit rbac -f -"]
    subject = None if args.no_binding else RbacSubject(args.service_account, args.namespace)
    sys.stdout.write(render_rbac(resources, name=args.name, subject=subject, secrets=bool(args.secrets),
                                 notes=notes))
    return 0
