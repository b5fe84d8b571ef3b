# Reliability of one object: priority classes, topology spread, disruption budgets and autoscalers that
# cannot work, bare Pods, and the app.kubernetes.io/instance label. Rules that need a second object (a PDB
# for a Deployment, an HPA for its replicas) are in workloads/combined.rego.
package gitops_audit.reliability

import data.gitops_audit.lib.k8s
import data.gitops_audit.lib.k8s.input_pod_spec as pod_spec
import data.gitops_audit.lib.k8s.input_subject as subject
import data.gitops_audit.lib.k8s.inactive_rules as inactive
import rego.v1

# Rule values of lib/k8s.rego are read through full-path imports, functions through `k8s.` (see lib/k8s.rego).

# Kinds these rules apply to: gitops-audit skips the package for other documents.
gitops_audit_kinds := {
	"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController", "Pod", "CronJob",
	"PodDisruptionBudget", "HorizontalPodAutoscaler",
}

rules := {
	"reliability.priority_class_missing": {
		"severity": "low",
		"title": "Pod without a priority class",
		"remediation": "Set priorityClassName so the scheduler knows what to evict first when the cluster is full.",
	},
	"reliability.topology_spread_missing": {
		"severity": "low",
		"title": "Replicas without a topology spread constraint",
		"remediation": "Add topologySpreadConstraints (e.g. across topology.kubernetes.io/zone) so replicas do not share one failure domain.",
	},
	"reliability.pdb_zero_disruptions": {
		"severity": "medium",
		"title": "PodDisruptionBudget allows no voluntary disruption",
		"remediation": "Allow at least one disruption (maxUnavailable >= 1 or minAvailable below 100%); node drains and upgrades block otherwise.",
	},
	"reliability.hpa_min_replicas": {
		"severity": "low",
		"title": "HorizontalPodAutoscaler may scale down to one replica",
		"remediation": "Set spec.minReplicas to at least the configured minimum (min_hpa_replicas, default 2).",
	},
	"reliability.hpa_max_not_above_min": {
		"severity": "low",
		"title": "HorizontalPodAutoscaler cannot scale",
		"remediation": "Set spec.maxReplicas above spec.minReplicas.",
	},
	"reliability.naked_pod": {
		"severity": "low",
		"title": "Pod not managed by a controller",
		"remediation": "Run the pod from a Deployment, StatefulSet, DaemonSet or Job so it is recreated when it dies or its node goes away.",
	},
	"metadata.instance_label_mismatch": {
		"severity": "info",
		"title": "app.kubernetes.io/instance label missing or not the object's name",
		"remediation": "Set the label app.kubernetes.io/instance to metadata.name.",
	},
}

# METADATA
# title: Pod without a priority class
# description: Without a priority class every pod has the same priority, so a full cluster may evict an important pod to fit a minor one.
# custom:
#   rule_id: reliability.priority_class_missing
#   default: off
#   severity: low
#   remediation: Set priorityClassName so the scheduler knows what to evict first when the cluster is full.
#   kinds: [workloads]
#   controls: {soc2: [A1.1], iso27001: [A.8.6]}
#   equivalents: {polaris: [priorityClassNotSet], kube-linter: [priority-class-name]}
warn contains k8s.finding(id, rules[id], msg) if {
	id := "reliability.priority_class_missing"
	not id in inactive
	input.kind in data.gitops_audit.lib.k8s.workload_kinds
	object.get(pod_spec, "priorityClassName", "") in {"", null}
	msg := sprintf("%s: no priorityClassName", [subject])
}

# METADATA
# title: Replicas without a topology spread constraint
# description: >-
#   Without topologySpreadConstraints the scheduler may put every replica in one zone or on one node, and
#   one failure takes them all. Checked on the kinds that keep replicas (not DaemonSets, Jobs or Pods).
# custom:
#   rule_id: reliability.topology_spread_missing
#   default: off
#   severity: low
#   remediation: Add topologySpreadConstraints (e.g. across topology.kubernetes.io/zone) so replicas do not share one failure domain.
#   kinds: [replicated]
#   controls: {soc2: [A1.2], iso27001: [A.8.14]}
#   equivalents: {polaris: [topologySpreadConstraint], kube-linter: [no-anti-affinity]}
warn contains k8s.finding(id, rules[id], msg) if {
	id := "reliability.topology_spread_missing"
	not id in inactive
	input.kind in data.gitops_audit.lib.k8s.replicated_kinds
	count(k8s.arr(object.get(pod_spec, "topologySpreadConstraints", []))) == 0
	msg := sprintf("%s: no topologySpreadConstraints", [subject])
}

# METADATA
# title: PodDisruptionBudget allows no voluntary disruption
# description: minAvailable 100% or maxUnavailable 0 forbids every eviction, so node drains and cluster upgrades hang.
# custom:
#   rule_id: reliability.pdb_zero_disruptions
#   severity: medium
#   remediation: Allow at least one disruption (maxUnavailable >= 1 or minAvailable below 100%); node drains and upgrades block otherwise.
#   kinds: [PodDisruptionBudget]
#   controls: {soc2: [A1.2], iso27001: [A.8.14]}
#   equivalents: {polaris: [pdbDisruptionsIsZero], kube-linter: [pdb-max-unavailable, pdb-min-available]}
warn contains k8s.finding(id, rules[id], msg) if {
	id := "reliability.pdb_zero_disruptions"
	not id in inactive
	input.kind == "PodDisruptionBudget"
	object.get(input, ["spec", "minAvailable"], null) == "100%"
	msg := sprintf("%s: minAvailable is 100%%", [subject])
}

warn contains k8s.finding(id, rules[id], msg) if {
	id := "reliability.pdb_zero_disruptions"
	not id in inactive
	input.kind == "PodDisruptionBudget"
	value := object.get(input, ["spec", "maxUnavailable"], null)
	value in {0, "0", "0%"}
	msg := sprintf("%s: maxUnavailable is %v", [subject, value])
}

hpa_min := v if {
	v := input.spec.minReplicas
	is_number(v)
} else := 1

# METADATA
# title: HorizontalPodAutoscaler may scale down to one replica
# description: An HPA whose minReplicas is below the minimum (default 2; unset means 1) can scale to a single pod, a single point of failure.
# custom:
#   rule_id: reliability.hpa_min_replicas
#   severity: low
#   remediation: Set spec.minReplicas to at least the configured minimum (min_hpa_replicas, default 2).
#   kinds: [HorizontalPodAutoscaler]
#   controls: {soc2: [A1.2], iso27001: [A.8.14]}
#   equivalents: {polaris: [hpaMinAvailability], kube-linter: [hpa-minimum-three-replicas]}
warn contains k8s.finding(id, rules[id], msg) if {
	id := "reliability.hpa_min_replicas"
	not id in inactive
	input.kind == "HorizontalPodAutoscaler"
	minimum := k8s.setting("min_hpa_replicas", 2)
	hpa_min < minimum
	msg := sprintf("%s: minReplicas is %v, below %v", [subject, hpa_min, minimum])
}

# METADATA
# title: HorizontalPodAutoscaler cannot scale
# description: With maxReplicas at or below a minReplicas that is set, the autoscaler can never add a replica.
# custom:
#   rule_id: reliability.hpa_max_not_above_min
#   severity: low
#   remediation: Set spec.maxReplicas above spec.minReplicas.
#   kinds: [HorizontalPodAutoscaler]
#   controls: {soc2: [A1.1], iso27001: [A.8.6]}
#   equivalents: {polaris: [hpaMaxAvailability]}
warn contains k8s.finding(id, rules[id], msg) if {
	id := "reliability.hpa_max_not_above_min"
	not id in inactive
	input.kind == "HorizontalPodAutoscaler"
	minimum := input.spec.minReplicas
	is_number(minimum)
	maximum := object.get(input, ["spec", "maxReplicas"], 0)
	is_number(maximum)
	maximum <= minimum
	msg := sprintf("%s: maxReplicas %v is not above minReplicas %v", [subject, maximum, minimum])
}

# METADATA
# title: Pod not managed by a controller
# description: A bare Pod is not recreated when it dies or its node is drained; nothing rolls it out again.
# custom:
#   rule_id: reliability.naked_pod
#   severity: low
#   remediation: Run the pod from a Deployment, StatefulSet, DaemonSet or Job so it is recreated when it dies or its node goes away.
#   kinds: [Pod]
#   controls: {soc2: [A1.2], iso27001: [A.8.14]}
#   equivalents: {kubescape: [C-0073]}
warn contains k8s.finding(id, rules[id], msg) if {
	id := "reliability.naked_pod"
	not id in inactive
	input.kind == "Pod"
	count(k8s.arr(object.get(input, ["metadata", "ownerReferences"], []))) == 0
	msg := sprintf("%s: no controller owns this pod", [subject])
}

# METADATA
# title: app.kubernetes.io/instance label missing or not the object's name
# description: >-
#   Polaris expects the recommended label app.kubernetes.io/instance on every workload, equal to its
#   name; tools that group objects by instance then find it. Informational.
# custom:
#   rule_id: metadata.instance_label_mismatch
#   default: off
#   severity: info
#   remediation: Set the label app.kubernetes.io/instance to metadata.name.
#   kinds: [workloads]
#   controls: {iso27001: [A.8.9], nist-800-53: [CM-8]}
#   equivalents: {polaris: [metadataAndInstanceMismatched], kubescape: [C-0077]}
warn contains k8s.finding(id, rules[id], msg) if {
	id := "metadata.instance_label_mismatch"
	not id in inactive
	input.kind in data.gitops_audit.lib.k8s.workload_kinds
	instance := object.get(input, ["metadata", "labels", "app.kubernetes.io/instance"], null)
	name := k8s.name_of(input)
	instance != name
	msg := instance_message(instance, name)
}

instance_message(null, _) := sprintf("%s: no app.kubernetes.io/instance label", [subject])

instance_message(instance, name) := sprintf("%s: app.kubernetes.io/instance is %v, not %q", [subject, instance, name]) if {
	instance != null
}
