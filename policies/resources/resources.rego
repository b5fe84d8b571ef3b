# Resource requests and limits of containers and initContainers.
#
# initContainers are checked too (Polaris skips them): the scheduler reserves the larger of the biggest
# initContainer request and the sum of the app containers' requests, and an initContainer without a
# memory limit can exhaust the node like any other container.
package gitops_audit.resources

import data.gitops_audit.lib.k8s
import data.gitops_audit.lib.k8s.input_containers as containers
import data.gitops_audit.lib.k8s.input_subject as subject
import data.gitops_audit.lib.k8s.inactive_rules as inactive
import rego.v1

# Rule values of lib/k8s.rego are read through full-path imports, functions through `k8s.` (see lib/k8s.rego).

# Kinds these rules apply to: gitops-audit skips the package for other documents.
gitops_audit_kinds := data.gitops_audit.lib.k8s.workload_kinds

rules := {
	"resources.cpu_request_missing": {
		"severity": "medium",
		"title": "Container without a CPU request",
		"remediation": "Set resources.requests.cpu so the scheduler can place the pod and the autoscalers can work.",
	},
	"resources.memory_request_missing": {
		"severity": "medium",
		"title": "Container without a memory request",
		"remediation": "Set resources.requests.memory so the scheduler can place the pod.",
	},
	"resources.cpu_limit_missing": {
		"severity": "low",
		"title": "Container without a CPU limit",
		"remediation": "Set resources.limits.cpu, or rely on a LimitRange default in the namespace.",
	},
	"resources.memory_limit_missing": {
		"severity": "high",
		"title": "Container without a memory limit",
		"remediation": "Set resources.limits.memory; an unbounded container can exhaust node memory.",
	},
	"resources.limit_below_request": {
		"severity": "high",
		"title": "Limit lower than request",
		"remediation": "Raise the limit to at least the request (the API server rejects such pods).",
	},
	"resources.over_maximum": {
		"severity": "medium",
		"title": "Resource value over the configured maximum",
		"remediation": "Lower the value or raise data.gitops_audit.config.max_cpu / max_memory.",
	},
}

# A value is set when it is present and not null or "" (an empty string is not a quantity).
given(values, res) if {
	v := values[res]
	not v in {null, ""}
}

# METADATA
# title: Container without a CPU request
# description: Without a CPU request the scheduler places the pod blind and the pod is first to starve under contention.
# custom:
#   rule_id: resources.cpu_request_missing
#   severity: medium
#   remediation: Set resources.requests.cpu so the scheduler can place the pod and the autoscalers can work.
#   kinds: [workloads]
#   controls: {nsa-cisa: [network.resource-policies], soc2: [A1.1], iso27001: [A.8.6], nist-800-53: [SC-6, CM-6]}
#   equivalents: {polaris: [cpuRequestsMissing], kubescape: [C-0050, C-0268], kube-linter: [unset-cpu-requirements]}
deny contains k8s.finding(id, rules[id], msg) if {
	id := "resources.cpu_request_missing"
	not id in inactive
	some entry in containers
	not given(entry.requests, "cpu")
	msg := sprintf("%s: %s has no cpu request", [subject, entry.label])
}

# METADATA
# title: Container without a memory request
# description: Without a memory request the scheduler cannot reserve memory and the pod is evicted first under pressure.
# custom:
#   rule_id: resources.memory_request_missing
#   severity: medium
#   remediation: Set resources.requests.memory so the scheduler can place the pod.
#   kinds: [workloads]
#   controls: {nsa-cisa: [network.resource-policies], soc2: [A1.1], iso27001: [A.8.6], nist-800-53: [SC-6, CM-6]}
#   equivalents: {polaris: [memoryRequestsMissing], kubescape: [C-0004, C-0269], kube-linter: [unset-memory-requirements]}
deny contains k8s.finding(id, rules[id], msg) if {
	id := "resources.memory_request_missing"
	not id in inactive
	some entry in containers
	not given(entry.requests, "memory")
	msg := sprintf("%s: %s has no memory request", [subject, entry.label])
}

# METADATA
# title: Container without a CPU limit
# description: Without a CPU limit (and no LimitRange default) one container can use every core of its node.
# custom:
#   rule_id: resources.cpu_limit_missing
#   default: off
#   severity: low
#   remediation: Set resources.limits.cpu, or rely on a LimitRange default in the namespace.
#   kinds: [workloads]
#   controls: {nsa-cisa: [network.resource-policies], soc2: [A1.1], iso27001: [A.8.6], nist-800-53: [SC-6, CM-6]}
#   equivalents: {polaris: [cpuLimitsMissing], kubescape: [C-0050, C-0270], kube-linter: [unset-cpu-requirements]}
warn contains k8s.finding(id, rules[id], msg) if {
	id := "resources.cpu_limit_missing"
	not id in inactive
	some entry in containers
	not given(entry.limits, "cpu")
	msg := sprintf("%s: %s has no cpu limit", [subject, entry.label])
}

# METADATA
# title: Container without a memory limit
# description: A container without a memory limit can exhaust the node's memory and get other pods killed.
# custom:
#   rule_id: resources.memory_limit_missing
#   severity: high
#   remediation: Set resources.limits.memory; an unbounded container can exhaust node memory.
#   kinds: [workloads]
#   controls: {nsa-cisa: [network.resource-policies], soc2: [A1.1], iso27001: [A.8.6], nist-800-53: [SC-6, CM-6]}
#   equivalents: {polaris: [memoryLimitsMissing], kubescape: [C-0004, C-0271], kube-linter: [unset-memory-requirements]}
deny contains k8s.finding(id, rules[id], msg) if {
	id := "resources.memory_limit_missing"
	not id in inactive
	some entry in containers
	not given(entry.limits, "memory")
	msg := sprintf("%s: %s has no memory limit", [subject, entry.label])
}

# METADATA
# title: Limit lower than request
# description: A limit below its request is rejected by the API server; the rollout would fail.
# custom:
#   rule_id: resources.limit_below_request
#   severity: high
#   remediation: Raise the limit to at least the request (the API server rejects such pods).
#   kinds: [workloads]
#   controls: {soc2: [A1.1], iso27001: [A.8.6, A.8.9], nist-800-53: [CM-6]}
#   equivalents: {}
deny contains k8s.finding(id, rules[id], msg) if {
	id := "resources.limit_below_request"
	not id in inactive
	some entry in containers
	some res, limit in entry.limits
	request := entry.requests[res]
	k8s.quantity(limit) < k8s.quantity(request)
	msg := sprintf(
		"%s: %s %s limit %v is below its request %v",
		[subject, entry.label, res, limit, request],
	)
}

maximum := {
	"cpu": k8s.setting("max_cpu", "16"),
	"memory": k8s.setting("max_memory", "64Gi"),
}

maximum_value := {res: k8s.quantity(v) | some res, v in maximum}

# METADATA
# title: Resource value over the configured maximum
# description: A request or limit above the configured maximum (max_cpu, max_memory) is usually a typo in units.
# custom:
#   rule_id: resources.over_maximum
#   severity: medium
#   remediation: Lower the value or raise data.gitops_audit.config.max_cpu / max_memory.
#   kinds: [workloads]
#   controls: {soc2: [A1.1], iso27001: [A.8.6], nist-800-53: [CM-6]}
#   equivalents: {}
deny contains k8s.finding(id, rules[id], msg) if {
	id := "resources.over_maximum"
	not id in inactive
	some entry in containers
	some kind in ["requests", "limits"]
	some res, value in entry[kind]
	k8s.quantity(value) > maximum_value[res]
	msg := sprintf(
		"%s: %s %s %s %v is over the maximum %v",
		[subject, entry.label, res, kind, value, maximum[res]],
	)
}
