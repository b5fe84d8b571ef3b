# Resource requests and limits of containers and initContainers.
package gitops_audit.resources

import data.gitops_audit.lib.k8s
import data.gitops_audit.lib.k8s.input_containers as containers
import data.gitops_audit.lib.k8s.input_subject as subject
import rego.v1

# Rule values of lib/k8s.rego are read through full-path imports, functions through `k8s.` (see lib/k8s.rego).

# Kinds these rules apply to: gitops-audit skips the package for other documents.
gitops_audit_kinds := data.gitops_audit.lib.k8s.workload_kinds

rules := {
	"resources.requests_missing": {
		"severity": "medium",
		"title": "Container without CPU/memory requests",
		"remediation": "Set resources.requests.cpu and resources.requests.memory so the scheduler can place the pod.",
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

deny contains k8s.finding(id, rules[id], msg) if {
	id := "resources.requests_missing"
	some entry in containers
	some res in ["cpu", "memory"]
	not entry.container.resources.requests[res]
	msg := sprintf("%s: %s has no %s request", [subject, entry.label, res])
}

deny contains k8s.finding(id, rules[id], msg) if {
	id := "resources.memory_limit_missing"
	some entry in containers
	not entry.container.resources.limits.memory
	msg := sprintf("%s: %s has no memory limit", [subject, entry.label])
}

deny contains k8s.finding(id, rules[id], msg) if {
	id := "resources.limit_below_request"
	some entry in containers
	some res, limit in entry.container.resources.limits
	request := entry.container.resources.requests[res]
	units.parse(sprintf("%v", [limit])) < units.parse(sprintf("%v", [request]))
	msg := sprintf(
		"%s: %s %s limit %v is below its request %v",
		[subject, entry.label, res, limit, request],
	)
}

maximum := {
	"cpu": k8s.setting("max_cpu", "16"),
	"memory": k8s.setting("max_memory", "64Gi"),
}

maximum_value := {res: units.parse(sprintf("%v", [v])) | some res, v in maximum}

deny contains k8s.finding(id, rules[id], msg) if {
	id := "resources.over_maximum"
	some entry in containers
	some kind in ["requests", "limits"]
	some res, value in entry.container.resources[kind]
	units.parse(sprintf("%v", [value])) > maximum_value[res]
	msg := sprintf(
		"%s: %s %s %s %v is over the maximum %v",
		[subject, entry.label, res, kind, value, maximum[res]],
	)
}
