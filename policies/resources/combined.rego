# Namespaces that run workloads but have no LimitRange or ResourceQuota (combined input).
package gitops_audit.resources.combined

import data.gitops_audit.lib.combined
import data.gitops_audit.lib.combined.workload_namespaces
import data.gitops_audit.lib.k8s
import data.gitops_audit.lib.k8s.inactive_rules as inactive
import rego.v1

# Keep this package to `rules` and the rule bodies: every rule here is also evaluated for each document
# the parent package `gitops_audit.resources` checks (the indexes are in lib/combined.rego).
# Rule values of lib packages are read through full-path imports, functions through the package alias
# (a rule reference through a package alias evaluates every rule of that package).

# The kinds these rules read (k8s.workload_kinds plus the two it looks for, a literal: cheaper than a
# reference to the lib package); gitops-audit leaves other documents out of the combined input.
gitops_audit_kinds := {
	"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController", "Pod", "CronJob",
	"LimitRange", "ResourceQuota",
}

rules := {
	"resources.namespace_without_limitrange": {
		"severity": "low",
		"title": "Namespace without a LimitRange",
		"remediation": "Add a LimitRange so containers without requests/limits get defaults.",
	},
	"resources.namespace_without_quota": {
		"severity": "low",
		"title": "Namespace without a ResourceQuota",
		"remediation": "Add a ResourceQuota to cap what the namespace can consume.",
	},
}

# METADATA
# title: Namespace without a LimitRange
# description: >-
#   A namespace that runs workloads has no LimitRange, so containers without requests or limits get no
#   defaults and no maximum. Namespaces in exempt_namespaces are skipped.
# custom:
#   rule_id: resources.namespace_without_limitrange
#   severity: low
#   remediation: Add a LimitRange so containers without requests/limits get defaults.
#   kinds: [workloads]
#   unit: namespace
#   controls: {nsa-cisa: [network.resource-policies], soc2: [A1.1], iso27001: [A.8.6], nist-800-53: [SC-6]}
#   equivalents: {}
warn contains k8s.result(id, rules[id], msg, {"kind": "Namespace", "metadata": {"name": ns}}) if {
	id := "resources.namespace_without_limitrange"
	not id in inactive
	some ns in workload_namespaces
	not combined.has_kind("LimitRange", ns)
	msg := sprintf("Namespace/%s runs workloads but has no LimitRange", [ns])
}

# METADATA
# title: Namespace without a ResourceQuota
# description: >-
#   A namespace that runs workloads has no ResourceQuota, so nothing caps what it can consume from the
#   cluster. Namespaces in exempt_namespaces are skipped.
# custom:
#   rule_id: resources.namespace_without_quota
#   severity: low
#   remediation: Add a ResourceQuota to cap what the namespace can consume.
#   kinds: [workloads]
#   unit: namespace
#   controls: {nsa-cisa: [network.resource-policies], soc2: [A1.1], iso27001: [A.8.6], nist-800-53: [SC-6]}
#   equivalents: {}
warn contains k8s.result(id, rules[id], msg, {"kind": "Namespace", "metadata": {"name": ns}}) if {
	id := "resources.namespace_without_quota"
	not id in inactive
	some ns in workload_namespaces
	not combined.has_kind("ResourceQuota", ns)
	msg := sprintf("Namespace/%s runs workloads but has no ResourceQuota", [ns])
}
