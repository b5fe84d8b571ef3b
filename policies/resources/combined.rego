# Namespaces that run workloads but have no LimitRange or ResourceQuota (combined input).
package gitops_audit.resources.combined

import data.gitops_audit.lib.k8s
import rego.v1

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

exempt := {ns | some ns in k8s.setting("exempt_namespaces", ["kube-system", "kube-public", "kube-node-lease"])}

docs := [doc.contents | some doc in input]

workload_namespaces contains ns if {
	some obj in docs
	k8s.is_workload(obj)
	ns := obj.metadata.namespace
	not ns in exempt
}

# Index once: namespaces holding each kind of interest.
kinds_by_namespace := {[obj.kind, obj.metadata.namespace] |
	some obj in docs
	obj.kind in {"LimitRange", "ResourceQuota"}
}

has_kind(kind, ns) if [kind, ns] in kinds_by_namespace

warn contains k8s.result(id, rules[id], msg, {"kind": "Namespace", "metadata": {"name": ns}}) if {
	id := "resources.namespace_without_limitrange"
	some ns in workload_namespaces
	not has_kind("LimitRange", ns)
	msg := sprintf("Namespace/%s runs workloads but has no LimitRange", [ns])
}

warn contains k8s.result(id, rules[id], msg, {"kind": "Namespace", "metadata": {"name": ns}}) if {
	id := "resources.namespace_without_quota"
	some ns in workload_namespaces
	not has_kind("ResourceQuota", ns)
	msg := sprintf("Namespace/%s runs workloads but has no ResourceQuota", [ns])
}
