"""Each normalization of what API servers and controllers do, tested from objects as the server returns them."""

from __future__ import annotations

import json

from auditor.diff import apply, server
from auditor.diff.compare import Comparer
from auditor.diff.defaults import is_server_default
from auditor.diff.schema import Schemas
from auditor.util.secrets import decoded_secret_value, hash_secret_object

RULES = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]


def test_aggregated_cluster_role_rules_belong_to_the_controller() -> None:
    desired = {"kind": "ClusterRole", "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "1"}}]},
               "rules": []}
    live = {**desired, "rules": RULES, "metadata": {"managedFields": [
        {"manager": "clusterrole-aggregation-controller", "operation": "Apply", "fieldsV1": {"f:rules": {}}}]}}
    assert server.is_aggregated_role("rbac.authorization.k8s.io", "ClusterRole", desired)
    assert not server.is_aggregated_role("rbac.authorization.k8s.io", "ClusterRole", {"rules": RULES})
    assert "rules" not in server.without_rules(live) and "metadata" in server.without_rules(live)


def test_hooks_with_a_delete_policy_are_transient() -> None:
    def obj(ann: dict[str, str]) -> dict[str, object]:
        return {"metadata": {"annotations": ann}}
    assert server.transient_hook(obj({"argocd.argoproj.io/hook": "PreSync"})).startswith("Argo CD PreSync hook")
    assert "BeforeHookCreation" in server.transient_hook(obj({"argocd.argoproj.io/hook": "PostSync"}))
    assert server.transient_hook(obj({"argocd.argoproj.io/hook": "Skip"})) == ""
    assert server.transient_hook(obj({"helm.sh/hook": "test", "helm.sh/hook-delete-policy": "hook-succeeded"}))
    assert server.transient_hook(obj({"helm.sh/hook": "post-install"})) == ""  # Helm keeps it
    assert server.transient_hook({"metadata": {}}) == ""


def test_ignore_extraneous_is_one_of_the_compare_options() -> None:
    ann = "argocd.argoproj.io/compare-options"
    assert server.ignore_extraneous({"metadata": {"annotations": {ann: "IgnoreExtraneous"}}})
    assert server.ignore_extraneous({"metadata": {"annotations": {ann: "ServerSideDiff=true, IgnoreExtraneous"}}})
    assert not server.ignore_extraneous({"metadata": {"annotations": {ann: "ServerSideDiff=true"}}})


def test_rollout_restart_annotation_is_recognised_on_pod_templates_only() -> None:
    path = ("spec", "template", "metadata", "annotations", "kubectl.kubernetes.io/restartedAt")
    assert server.is_rollout_restart(path)
    assert server.is_rollout_restart(("spec", "jobTemplate", "spec", *path))
    assert not server.is_rollout_restart(("metadata", "annotations", "kubectl.kubernetes.io/restartedAt"))


def test_endpoint_ports_defaulted_inside_the_atomic_subsets_list() -> None:
    # As the API server returns a hand-written Endpoints object: protocol defaulted on each port.
    desired = [{"addresses": [{"ip": "172.20.10.97"}], "ports": [{"name": "http", "port": 8080}]}]
    live = [{"addresses": [{"ip": "172.20.10.97"}], "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]
    assert list(server.atomic_extras("Endpoints", ("subsets",), desired, live)) == []
    live[0]["addresses"].append({"ip": "10.0.0.66"})
    assert list(server.atomic_extras("Endpoints", ("subsets",), desired, live)) == [
        (("subsets", "[0]", "addresses", "[1]"), {"ip": "10.0.0.66"})]


def test_claim_templates_defaulted_as_persistent_volume_claims() -> None:
    desired = [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]
    live = [{"apiVersion": "v1", "kind": "PersistentVolumeClaim",
             "metadata": {"name": "data", "creationTimestamp": None},
             "spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem"}, "status": {"phase": "Pending"}}]
    assert list(server.atomic_extras("StatefulSet", ("spec", "volumeClaimTemplates"), desired, live)) == []
    live[0]["spec"]["storageClassName"] = "io2"
    assert [p for p, _ in server.atomic_extras("StatefulSet", ("spec", "volumeClaimTemplates"), desired, live)] == [
        ("spec", "volumeClaimTemplates", "[0]", "spec", "storageClassName")]


def test_default_toleration_seconds_appended_to_pod_tolerations() -> None:
    mine = {"key": "dedicated", "operator": "Equal", "value": "shop", "effect": "NoSchedule"}
    added = [{"effect": "NoExecute", "key": f"node.kubernetes.io/{k}", "operator": "Exists", "tolerationSeconds": 300}
             for k in ("not-ready", "unreachable")]
    comparer = Comparer(Schemas())
    res = comparer.compare({"spec": {"tolerations": [mine]}}, {"spec": {"tolerations": [mine, *added]}}, "", "Pod")
    assert res.changes == [] and [r.path for r in res.atomic_extra] == [("spec", "tolerations")]
    assert list(server.atomic_extras("Pod", ("spec", "tolerations"), [mine], [mine, *added])) == []


def test_limit_ranger_fills_resources_the_creator_recorded_empty() -> None:
    parent = {"name": "toolbox", "resources": {"limits": {"cpu": "500m"}}}
    path = ("spec", "containers", "[name=toolbox]", "resources")
    assert server.filled_after_create("Pod", path, parent["resources"], parent)
    assert not server.filled_after_create("Pod", path, {}, parent)  # still empty: an ordinary default
    assert not server.filled_after_create("Pod", ("spec", "nodeSelector"), {"a": "b"}, {})


def test_rbac_subject_api_group_defaults() -> None:
    path = ("subjects", "[0]", "apiGroup")
    assert is_server_default("RoleBinding", path, "rbac.authorization.k8s.io", {"kind": "Group"})
    assert is_server_default("RoleBinding", path, "", {"kind": "ServiceAccount"})
    assert not is_server_default("RoleBinding", path, "example.com", {"kind": "User"})


def test_secret_null_value_is_empty_bytes() -> None:
    assert decoded_secret_value(None) == b"" == decoded_secret_value("")
    key = b"k" * 32
    git = hash_secret_object({"data": {"token": ""}, "stringData": {"note": ""}}, key)
    live = hash_secret_object({"data": {"token": None, "note": None}}, key)  # as the API server returns it
    assert git["data"] == live["data"]


def test_ssa_stale_fields_follow_the_appliers_apply_entry() -> None:
    live = {"metadata": {"labels": {"app": "api", "tier": "backend", "owner": "x"}, "managedFields": [
        {"manager": "kustomize-controller", "operation": "Apply", "time": "2026-11-12T10:41:07Z",
         "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}, "f:tier": {}, "f:owner": {}}}}},
        {"manager": "kubectl", "operation": "Apply", "time": "2026-11-13T00:00:00Z",
         "fieldsV1": {"f:metadata": {"f:labels": {"f:owner": {}}}}}]}}
    desired = {"metadata": {"labels": {"app": "api"}}}
    entries = apply.ssa_entries(live, frozenset({"kustomize-controller"}))
    got = apply.ssa_stale_fields("Deployment", desired, live, entries, lambda p: False)
    # tier goes with the next apply; owner stays (kubectl's apply owns it too)
    assert [(p, v, e.manager) for p, v, e in got] == [(("metadata", "labels", "tier"), "backend",
                                                       "kustomize-controller")]


def test_last_applied_three_way_removal() -> None:
    previous = {"metadata": {"labels": {"app": "w", "team": "orders"}},
                "spec": {"template": {"spec": {"containers": [
                    {"name": "w", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]}}}}
    live = json.loads(json.dumps(previous))
    live["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(previous)}
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    desired = {"metadata": {"labels": {"app": "w"}},
               "spec": {"template": {"spec": {"containers": [{"name": "w", "env": [{"name": "A", "value": "1"}]}]}}}}
    assert apply.last_applied(live) == previous
    got = apply.last_applied_stale_fields(previous, desired, live, Schemas(), "apps", "Deployment", lambda p: False)
    assert [p for p, _ in got] == [("metadata", "labels", "team"),
                                   ("spec", "template", "spec", "containers", "[name=w]", "env", "[name=B]")]
    assert apply.last_applied({"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                                                            "{not json"}}}) is None
