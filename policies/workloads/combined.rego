# Workload checks that need other objects (combined input): ServiceAccount token mounting, disruption
# budgets and autoscalers, the replica count, and NetworkPolicy coverage. Objects are matched the way the
# API server matches them: label selectors (matchLabels and matchExpressions) in the same namespace,
# scaleTargetRef by kind and name.
package gitops_audit.workloads.combined

import data.gitops_audit.lib.combined
import data.gitops_audit.lib.k8s
import data.gitops_audit.lib.k8s.inactive_rules as inactive
import rego.v1

# The kinds these rules read: gitops-audit leaves other documents out of this package's combined input.
gitops_audit_kinds := {
	"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController", "Pod", "CronJob",
	"ServiceAccount", "PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy",
}

rules := {
	"pod_security.automount_service_account_token": {
		"severity": "low",
		"title": "Pod mounts a ServiceAccount token",
		"remediation": "Set automountServiceAccountToken: false on the pod (or its ServiceAccount) unless it calls the Kubernetes API.",
	},
	"reliability.pdb_missing": {
		"severity": "low",
		"title": "No PodDisruptionBudget for the workload",
		"remediation": "Add a PodDisruptionBudget selecting the pods (e.g. maxUnavailable: 1) so drains and upgrades keep it available.",
	},
	"reliability.pdb_min_available_over_hpa": {
		"severity": "low",
		"title": "PodDisruptionBudget minAvailable above the autoscaler's minReplicas",
		"remediation": "Lower the PDB's minAvailable below the HPA's minReplicas (or use maxUnavailable), so pods can be evicted at minimum scale.",
	},
	"reliability.replicas_missing": {
		"severity": "low",
		"title": "Deployment runs a single replica",
		"remediation": "Set spec.replicas to 2 or more, or scale it with a HorizontalPodAutoscaler (and leave spec.replicas unset).",
	},
	"network.policy_missing": {
		"severity": "medium",
		"title": "No NetworkPolicy selects the workload's pods",
		"remediation": "Add a NetworkPolicy that selects the pods (a default-deny policy for the namespace, then the traffic they need).",
	},
	"network.policy_incomplete": {
		"severity": "low",
		"title": "Pods not isolated for both ingress and egress",
		"remediation": "Cover both directions with policyTypes [Ingress, Egress] in the NetworkPolicies that select the pods.",
	},
}

# METADATA
# title: Pod mounts a ServiceAccount token
# description: >-
#   The pod gets an API token unless automountServiceAccountToken is false on the pod, or unset on the
#   pod and false on its ServiceAccount. A ServiceAccount that is not among the objects mounts by default.
#   A stolen token is a foothold in the cluster.
# custom:
#   rule_id: pod_security.automount_service_account_token
#   severity: low
#   remediation: "Set automountServiceAccountToken: false on the pod (or its ServiceAccount) unless it calls the Kubernetes API."
#   kinds: [workloads]
#   controls: {cis-k8s: ["5.1.6"], nsa-cisa: [pod-security.sa-tokens], soc2: [CC6.1], iso27001: [A.5.17, A.8.2], pci-dss: [7.2.5], nist-800-53: [AC-6, IA-5]}
#   equivalents: {polaris: [automountServiceAccountToken], kubescape: [C-0034, C-0190]}
warn contains k8s.result(id, rules[id], msg, info.w) if {
	id := "pod_security.automount_service_account_token"
	not id in inactive
	some info in combined.workloads
	info.token
	msg := sprintf("%s mounts a token for ServiceAccount %s/%s", [k8s.subject(info.w), info.ns, info.account])
}

# Deployments and StatefulSets: the kinds a PodDisruptionBudget protects during drains.
budgeted_kinds := {"Deployment", "StatefulSet"}

# METADATA
# title: No PodDisruptionBudget for the workload
# description: >-
#   Without a PodDisruptionBudget a node drain or cluster upgrade may evict every replica at once. Checked
#   on Deployments and StatefulSets; the PDB must be in the same namespace and its selector must select
#   the pod template's labels.
# custom:
#   rule_id: reliability.pdb_missing
#   default: off
#   severity: low
#   remediation: "Add a PodDisruptionBudget selecting the pods (e.g. maxUnavailable: 1) so drains and upgrades keep it available."
#   kinds: [Deployment, StatefulSet]
#   controls: {soc2: [A1.2], iso27001: [A.8.14]}
#   equivalents: {polaris: [missingPodDisruptionBudget]}
warn contains k8s.result(id, rules[id], msg, info.w) if {
	id := "reliability.pdb_missing"
	not id in inactive
	some info in combined.workloads
	info.kind in budgeted_kinds
	count(combined.pdbs_for(info)) == 0
	msg := sprintf("%s: no PodDisruptionBudget selects its pods", [k8s.subject(info.w)])
}


# A PDB's minAvailable in pods for a given replica count (percentages round up, as the disruption
# controller rounds them).
min_available_pods(pdb, _) := v.value if {
	v := k8s.int_or_percent(object.get(pdb, ["spec", "minAvailable"], null))
	not v.percent
}

min_available_pods(pdb, replicas) := ceil((v.value * replicas) / 100) if {
	v := k8s.int_or_percent(object.get(pdb, ["spec", "minAvailable"], null))
	v.percent
}

# METADATA
# title: PodDisruptionBudget minAvailable above the autoscaler's minReplicas
# description: >-
#   When the HorizontalPodAutoscaler scales the workload down to minReplicas, a PDB that requires more
#   available pods than that forbids every eviction, and node drains hang.
# custom:
#   rule_id: reliability.pdb_min_available_over_hpa
#   severity: low
#   remediation: Lower the PDB's minAvailable below the HPA's minReplicas (or use maxUnavailable), so pods can be evicted at minimum scale.
#   kinds: [Deployment, StatefulSet]
#   controls: {soc2: [A1.2], iso27001: [A.8.14]}
#   equivalents: {polaris: [pdbMinAvailableGreaterThanHPAMinReplicas]}
warn contains k8s.result(id, rules[id], msg, info.w) if {
	id := "reliability.pdb_min_available_over_hpa"
	not id in inactive
	count(combined.hpas) > 0
	some info in combined.workloads
	info.kind in budgeted_kinds
	some hpa in combined.hpas_for(info)
	min_replicas := hpa.spec.minReplicas
	is_number(min_replicas)
	some pdb in combined.pdbs_for(info)
	pods := min_available_pods(pdb, min_replicas)
	pods > min_replicas
	msg := sprintf("%s: PodDisruptionBudget %s requires %v available pods, more than HorizontalPodAutoscaler %s's minReplicas %v", [
		k8s.subject(info.w), k8s.name_of(pdb), pods, k8s.name_of(hpa), min_replicas,
	])
}

# METADATA
# title: Deployment runs a single replica
# description: >-
#   A Deployment with spec.replicas unset or below 2 runs one pod: every rollout, eviction or crash is an
#   outage. A Deployment that a HorizontalPodAutoscaler scales passes: with GitOps its spec.replicas must
#   stay unset, or every sync would undo the autoscaler.
# custom:
#   rule_id: reliability.replicas_missing
#   default: off
#   severity: low
#   remediation: Set spec.replicas to 2 or more, or scale it with a HorizontalPodAutoscaler (and leave spec.replicas unset).
#   kinds: [Deployment]
#   controls: {soc2: [A1.2], iso27001: [A.8.14]}
#   equivalents: {polaris: [deploymentMissingReplicas], kube-linter: [minimum-three-replicas]}
warn contains k8s.result(id, rules[id], msg, info.w) if {
	id := "reliability.replicas_missing"
	not id in inactive
	some info in combined.workloads
	info.kind == "Deployment"
	replicas := object.get(info.w, ["spec", "replicas"], null)
	single(replicas)
	count(combined.hpas_for(info)) == 0
	msg := sprintf("%s: spec.replicas is %v", [k8s.subject(info.w), replicas_text(replicas)])
}

single(null) := true

single(r) if {
	is_number(r)
	r < 2
}

replicas_text(null) := "not set (1)"

replicas_text(r) := r if r != null

# The NetworkPolicies of each namespace, with the directions each isolates, indexed once.
policies_by_namespace := {ns: [{"selector": object.get(p, ["spec", "podSelector"], null), "types": policy_types(p)} |
	some p in combined.network_policies
	k8s.namespace_of(p) == ns
] |
	some p0 in combined.network_policies
	ns := k8s.namespace_of(p0)
}

# Per workload: the directions the NetworkPolicies selecting its pods isolate; absent when none selects them.
isolation := [[info, covered] |
	some info in combined.workloads
	selecting := [p | some p in object.get(policies_by_namespace, info.ns, []); k8s.selects(p.selector, info.labels)]
	covered := {t | some p in selecting; some t in p.types}
	count(selecting) > 0
]

unisolated := [info |
	some info in combined.workloads
	not selected(info)
]

selected(info) if {
	some p in object.get(policies_by_namespace, info.ns, [])
	k8s.selects(p.selector, info.labels)
}

# The directions a policy isolates: its policyTypes, or (unset) Ingress, plus Egress when it has
# egress rules (API server defaulting).
policy_types(p) := {t | some t in types} if {
	types := k8s.arr(object.get(p, ["spec", "policyTypes"], []))
	count(types) > 0
} else := {"Ingress", "Egress"} if {
	object.get(p, ["spec", "egress"], null) != null
} else := {"Ingress"}

# METADATA
# title: No NetworkPolicy selects the workload's pods
# description: Pods that no NetworkPolicy selects accept traffic from, and send traffic to, any pod of the cluster.
# custom:
#   rule_id: network.policy_missing
#   severity: medium
#   remediation: Add a NetworkPolicy that selects the pods (a default-deny policy for the namespace, then the traffic they need).
#   kinds: [workloads]
#   controls: {cis-k8s: ["5.3.2"], nsa-cisa: [network.policies], soc2: [CC6.1, CC6.6], iso27001: [A.8.20, A.8.22], pci-dss: [1.3.1, 1.3.2], nist-800-53: [AC-4, SC-7]}
#   equivalents: {polaris: [missingNetworkPolicy], kubescape: [C-0260], kube-linter: [non-isolated-pod]}
warn contains k8s.result(id, rules[id], msg, info.w) if {
	id := "network.policy_missing"
	not id in inactive
	some info in unisolated
	msg := sprintf("%s: no NetworkPolicy selects its pods", [k8s.subject(info.w)])
}

# METADATA
# title: Pods not isolated for both ingress and egress
# description: >-
#   NetworkPolicies select the pods but isolate only one direction: the other stays open to the whole
#   cluster (and beyond, for egress). A policy without policyTypes isolates ingress, and egress only when
#   it has egress rules.
# custom:
#   rule_id: network.policy_incomplete
#   severity: low
#   remediation: Cover both directions with policyTypes [Ingress, Egress] in the NetworkPolicies that select the pods.
#   kinds: [workloads]
#   controls: {cis-k8s: ["5.3.2"], nsa-cisa: [network.policies], soc2: [CC6.1, CC6.6], iso27001: [A.8.20, A.8.22], pci-dss: [1.3.1, 1.3.2], nist-800-53: [AC-4, SC-7]}
#   equivalents: {polaris: [missingNetworkPolicy], kubescape: [C-0030]}
warn contains k8s.result(id, rules[id], msg, info.w) if {
	id := "network.policy_incomplete"
	not id in inactive
	some [info, covered] in isolation
	missing := {"Ingress", "Egress"} - covered
	count(missing) > 0
	msg := sprintf("%s: no NetworkPolicy isolates its %s traffic", [k8s.subject(info.w), lower(concat("/", sort(missing)))])
}
