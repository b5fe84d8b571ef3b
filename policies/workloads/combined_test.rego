package gitops_audit.workloads.combined_test

import data.gitops_audit.lib.fixtures
import data.gitops_audit.workloads.combined
import rego.v1

ids(docs) := r if {
	r := fixtures.ids_for(combined.warn, "Deployment", "web") with input as fixtures.files(docs)
		with data.gitops_audit.config.enable as ["all"]
}

test_good_with_companions_passes if {
	count(ids(array.concat([fixtures.good], fixtures.good_companions))) == 0
}

test_good_alone if {
	ids([fixtures.good]) == {"reliability.pdb_missing", "network.policy_missing"}
}

# --- automountServiceAccountToken: the pod's value wins; unset, the ServiceAccount's; unset there (or no
# ServiceAccount among the objects), a token is mounted.
automount(pod_value, sa_value) := [
	json.patch(fixtures.good, [{"op": "replace", "path": "/spec/template/spec/automountServiceAccountToken", "value": pod_value}]),
	object.union(fixtures.service_account, {"automountServiceAccountToken": sa_value}),
	fixtures.pdb, fixtures.network_policy,
]

test_automount if {
	"pod_security.automount_service_account_token" in ids(automount(true, true))
	"pod_security.automount_service_account_token" in ids(automount(true, false))
	"pod_security.automount_service_account_token" in ids(automount(null, null))
	"pod_security.automount_service_account_token" in ids(automount(null, true))
	not "pod_security.automount_service_account_token" in ids(automount(null, false))
	not "pod_security.automount_service_account_token" in ids(automount(false, true))
	not "pod_security.automount_service_account_token" in ids(automount(false, null))
}

test_automount_without_service_account_object if {
	doc := json.patch(fixtures.good, [{"op": "remove", "path": "/spec/template/spec/automountServiceAccountToken"}])
	"pod_security.automount_service_account_token" in ids([doc, fixtures.pdb, fixtures.network_policy])
}

# --- PodDisruptionBudgets select by labels, in the workload's namespace.
pdb(selector) := object.union(fixtures.pdb, {"spec": {"selector": selector}})

test_pdb_selection if {
	base := [fixtures.good, fixtures.network_policy, fixtures.service_account]
	not "reliability.pdb_missing" in ids(array.concat(base, [pdb({"matchLabels": {"app": "web"}})]))
	not "reliability.pdb_missing" in ids(array.concat(base, [pdb({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]})]))
	"reliability.pdb_missing" in ids(array.concat(base, [pdb({"matchLabels": {"app": "api"}})]))
	"reliability.pdb_missing" in ids(array.concat(base, [pdb({"matchLabels": {"app": "web", "tier": "front"}})]))
	"reliability.pdb_missing" in ids(array.concat(base, [object.union(fixtures.pdb, {"metadata": {"namespace": "other"}})]))
}

test_pdb_missing_only_for_deployments_and_statefulsets if {
	fixtures.ids_for(combined.warn, "DaemonSet", "web") == set() with input as fixtures.files([fixtures.as_kind("DaemonSet"), fixtures.network_policy, fixtures.service_account])
		with data.gitops_audit.config.enable as ["all"]
	"reliability.pdb_missing" in fixtures.ids_for(combined.warn, "StatefulSet", "web") with input as fixtures.files([fixtures.as_kind("StatefulSet"), fixtures.network_policy, fixtures.service_account])
		with data.gitops_audit.config.enable as ["all"]
}

hpa(min_replicas) := {
	"apiVersion": "autoscaling/v2",
	"kind": "HorizontalPodAutoscaler",
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "minReplicas": min_replicas, "maxReplicas": 10},
}

with_min_available(value) := object.union(fixtures.pdb, {"spec": {"minAvailable": value, "maxUnavailable": null}})

test_pdb_min_available_over_hpa if {
	base := [fixtures.good, fixtures.network_policy, fixtures.service_account]
	"reliability.pdb_min_available_over_hpa" in ids(array.concat(base, [hpa(2), with_min_available(3)]))
	not "reliability.pdb_min_available_over_hpa" in ids(array.concat(base, [hpa(3), with_min_available(3)]))
	# 80% of 3 replicas rounds up to 3, not above 3; 100% of 2 is 2.
	not "reliability.pdb_min_available_over_hpa" in ids(array.concat(base, [hpa(3), with_min_available("80%")]))
	not "reliability.pdb_min_available_over_hpa" in ids(array.concat(base, [hpa(2), with_min_available("100%")]))
	# No HPA, or an HPA for another Deployment: nothing to compare.
	not "reliability.pdb_min_available_over_hpa" in ids(array.concat(base, [with_min_available(5)]))
	other := json.patch(hpa(1), [{"op": "replace", "path": "/spec/scaleTargetRef/name", "value": "api"}])
	not "reliability.pdb_min_available_over_hpa" in ids(array.concat(base, [other, with_min_available(5)]))
}

test_replicas if {
	companions := fixtures.good_companions
	single := json.patch(fixtures.good, [{"op": "replace", "path": "/spec/replicas", "value": 1}])
	unset := json.patch(fixtures.good, [{"op": "remove", "path": "/spec/replicas"}])
	"reliability.replicas_missing" in ids(array.concat([single], companions))
	"reliability.replicas_missing" in ids(array.concat([unset], companions))
	not "reliability.replicas_missing" in ids(array.concat([unset, hpa(2)], companions))
}

netpol(spec) := object.union(fixtures.network_policy, {"spec": spec})

test_network_policy_selection_and_directions if {
	base := [fixtures.good, fixtures.pdb, fixtures.service_account]
	"network.policy_missing" in ids(array.concat(base, [netpol({"podSelector": {"matchLabels": {"app": "api"}}})]))
	"network.policy_missing" in ids(array.concat(base, [object.union(fixtures.network_policy, {"metadata": {"namespace": "other"}})]))
	got_ingress_only := ids(array.concat(base, [netpol({"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"]})]))
	got_ingress_only == {"network.policy_incomplete"}
	# Without policyTypes: Ingress, plus Egress when the policy has egress rules.
	"network.policy_incomplete" in ids(array.concat(base, [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "n", "namespace": "shop"}, "spec": {"podSelector": {}, "ingress": [{}]}}]))
	count(ids(array.concat(base, [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "n", "namespace": "shop"}, "spec": {"podSelector": {}, "ingress": [{}], "egress": [{}]}}]))) == 0
	# Two policies, one per direction.
	count(ids(array.concat(base, [
		netpol({"podSelector": {}, "policyTypes": ["Ingress"]}),
		object.union(netpol({"podSelector": {}, "policyTypes": ["Egress"]}), {"metadata": {"name": "egress"}}),
	]))) == 0
}

test_null_fields if {
	docs := [
		json.patch(fixtures.good, [{"op": "replace", "path": "/spec/template", "value": null}]),
		{"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "p", "namespace": "shop"}, "spec": {"selector": null}},
		{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "n", "namespace": "shop"}, "spec": null},
		{"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h", "namespace": "shop"}, "spec": null},
		{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": null},
	]
	ids(docs) == {"reliability.pdb_missing", "network.policy_missing", "pod_security.automount_service_account_token"}
}

test_gate_names_every_kind_read if {
	combined.gitops_audit_kinds == data.gitops_audit.lib.k8s.workload_kinds | {"ServiceAccount", "PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy"}
}
