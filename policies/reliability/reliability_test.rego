package gitops_audit.reliability_test

import data.gitops_audit.lib.fixtures
import data.gitops_audit.reliability
import rego.v1

# Opt-in rules (lib/k8s.rego opt_in_rules) are switched on for these tests.
ids(doc) := r if {
	r := fixtures.ids(reliability.warn) with input as doc with data.gitops_audit.config.enable as ["all"]
}

test_opt_in_rules_are_off_by_default if {
	not "reliability.priority_class_missing" in fixtures.ids(reliability.warn) with input as fixtures.with_pod({"priorityClassName": null})
	"reliability.priority_class_missing" in fixtures.ids(reliability.warn) with input as fixtures.with_pod({"priorityClassName": null})
		with data.gitops_audit.config.enable as ["reliability.priority_class_missing"]
}

test_good_passes if {
	count(ids(fixtures.good)) == 0
	every kind in ["Pod", "CronJob", "Job", "StatefulSet", "DaemonSet", "ReplicaSet"] {
		not "reliability.priority_class_missing" in ids(fixtures.as_kind(kind))
	}
}

test_priority_class_missing if {
	"reliability.priority_class_missing" in ids(fixtures.with_pod({"priorityClassName": null}))
	"reliability.priority_class_missing" in ids(fixtures.with_pod({"priorityClassName": ""}))
}

test_topology_spread_on_replicated_kinds_only if {
	doc := fixtures.with_pod({"topologySpreadConstraints": []})
	"reliability.topology_spread_missing" in ids(doc)
	"reliability.topology_spread_missing" in ids(object.union(doc, {"kind": "StatefulSet"}))
	not "reliability.topology_spread_missing" in ids(object.union(doc, {"kind": "DaemonSet"}))
	not "reliability.topology_spread_missing" in ids(object.union(doc, {"kind": "Job"}))
}

pdb(spec) := {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "p", "namespace": "shop"}, "spec": spec}

test_pdb_zero_disruptions if {
	every spec in [{"minAvailable": "100%"}, {"maxUnavailable": 0}, {"maxUnavailable": "0%"}, {"minAvailable": "100%", "maxUnavailable": 5}] {
		"reliability.pdb_zero_disruptions" in ids(pdb(spec))
	}
	every spec in [{"minAvailable": 5}, {"maxUnavailable": "5%"}, {}, {"minAvailable": 5, "maxUnavailable": "10%"}] {
		count(ids(pdb(spec))) == 0
	}
	count(ids(object.union(pdb({}), {"spec": null}))) == 0
}

hpa(spec) := {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h", "namespace": "shop"}, "spec": spec}

test_hpa_min_replicas if {
	"reliability.hpa_min_replicas" in ids(hpa({"minReplicas": 1, "maxReplicas": 5}))
	"reliability.hpa_min_replicas" in ids(hpa({"maxReplicas": 5}))
	count(ids(hpa({"minReplicas": 2, "maxReplicas": 5}))) == 0
	count(ids(hpa({"minReplicas": 3, "maxReplicas": 5}))) == 0 with data.gitops_audit.config as {"min_hpa_replicas": 3}
}

test_hpa_max_not_above_min if {
	"reliability.hpa_max_not_above_min" in ids(hpa({"minReplicas": 3, "maxReplicas": 3}))
	"reliability.hpa_max_not_above_min" in ids(hpa({"minReplicas": 4, "maxReplicas": 2}))
	not "reliability.hpa_max_not_above_min" in ids(hpa({"maxReplicas": 1}))
}

test_naked_pod if {
	"reliability.naked_pod" in ids(fixtures.as_kind("Pod"))
	owned := json.patch(fixtures.as_kind("Pod"), [{"op": "add", "path": "/metadata/ownerReferences", "value": [{"kind": "ReplicaSet", "name": "web-1", "apiVersion": "apps/v1", "uid": "1"}]}])
	not "reliability.naked_pod" in ids(owned)
}

test_instance_label if {
	"metadata.instance_label_mismatch" in ids(json.patch(fixtures.good, [{"op": "remove", "path": "/metadata/labels"}]))
	"metadata.instance_label_mismatch" in ids(json.patch(fixtures.good, [{"op": "replace", "path": "/metadata/labels", "value": {"app.kubernetes.io/instance": "other"}}]))
	not "metadata.instance_label_mismatch" in ids(fixtures.good)
}
