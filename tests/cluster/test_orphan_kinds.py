"""Default orphan kinds (issue 15): read at one list per kind and namespace, 403 a low coverage gap."""

from __future__ import annotations

from pathlib import Path

from auditor.cluster.kube import read_cluster
from auditor.cluster.options import ClusterOptions
from auditor.cluster.rbac import DEFAULT_RESOURCES
from auditor.diff.options import DEFAULT_ORPHAN_KINDS
from auditor.model import CoverageGap, Manifest, ObjectRef, Target
from auditor.pipeline_target import live_scope
from auditor.util.kinds import guess_plural

from .fakeapi import FakeAPIServer


def _deployment() -> Manifest:
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}}
    return Manifest(ObjectRef("apps", "Deployment", "shop", "web"), "apps/v1", body)


def test_scope_adds_orphan_kinds_only_where_a_namespace_is_managed() -> None:
    scope = live_scope([_deployment()], Target(name="t"), (), DEFAULT_ORPHAN_KINDS)
    assert set(DEFAULT_ORPHAN_KINDS) <= set(scope.kinds) and scope.namespaces == ("shop",)
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "r", "namespace": "shop"}}  # the API server drops this namespace
    only_cluster = live_scope([Manifest(ObjectRef("rbac.authorization.k8s.io", "ClusterRole", "shop", "r"),
                                        "rbac.authorization.k8s.io/v1", role)], Target(name="t"), (),
                              DEFAULT_ORPHAN_KINDS)
    assert only_cluster.namespaces == () and only_cluster.kinds == (("rbac.authorization.k8s.io", "v1",
                                                                      "ClusterRole"),)


def test_default_role_grants_every_orphan_kind_but_secrets() -> None:
    granted = set(DEFAULT_RESOURCES)
    missing = {(g, guess_plural(k)) for g, _, k in DEFAULT_ORPHAN_KINDS} - granted
    assert missing == {("", "secrets")}  # deliberately not granted: list exposes values


def test_orphan_kinds_read_one_list_each_and_forbidden_is_a_gap(kubeconfig: Path, api: FakeAPIServer) -> None:
    api.add_fault(r"/secrets$", status=403, message='secrets is forbidden: User "auditor" cannot list '
                  'resource "secrets" in API group "" in the namespace "shop"')
    scope = live_scope([_deployment()], Target(name="t"), (), DEFAULT_ORPHAN_KINDS)
    state = read_cluster("prod", scope, ClusterOptions(kubeconfig=str(kubeconfig), request_timeout=2.0,
                                                         deadline=20.0))
    assert CoverageGap("Secret", "shop", "forbidden") in state.gaps
    lists = [r.path for r in api.log if r.query.get("limit")]
    assert len(lists) == len(set(lists))  # one list per (kind, namespace), never per object
    assert "/api/v1/namespaces/shop/configmaps" in lists
    assert any(m.ref.kind == "ConfigMap" for m in state.objects)
