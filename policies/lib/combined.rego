# Indexes over the combined input (`[{path, contents}]`, all documents of one side) for the `*.combined`
# packages.
#
# They live here rather than in the combined packages: the per-document query reads
# `data.gitops_audit.resources[rule]` and `data.gitops_audit.rbac[rule]`, and regorus then evaluates
# every rule of those packages and of their subpackages (`resources.combined`, `rbac.combined`) for
# each document. A rule here is only evaluated when a combined rule body reads it.
package gitops_audit.lib.combined

import data.gitops_audit.lib.k8s
import rego.v1

docs := [doc.contents | some doc in input]

# Namespaces running workloads, outside the exempt ones (resources.combined).
exempt_namespaces := {ns |
	some ns in k8s.setting("exempt_namespaces", ["kube-system", "kube-public", "kube-node-lease"])
}

workload_namespaces contains ns if {
	some obj in docs
	k8s.is_workload(obj)
	ns := obj.metadata.namespace
	not ns in exempt_namespaces
}

# Index once: namespaces holding each kind of interest.
kinds_by_namespace := {[obj.kind, obj.metadata.namespace] |
	some obj in docs
	obj.kind in {"LimitRange", "ResourceQuota"}
}

has_kind(kind, ns) if [kind, ns] in kinds_by_namespace

# Roles defined in the input (rbac.combined). Index once: a lookup per binding stays cheap with
# thousands of documents.
defined_roles := {[obj.kind, object.get(obj.metadata, "namespace", ""), obj.metadata.name] |
	some obj in docs
	obj.kind == "Role"
} | {["ClusterRole", "", obj.metadata.name] |
	some obj in docs
	obj.kind == "ClusterRole"
}

# ClusterRoles every cluster has; bindings to them are fine without a definition in git.
builtin_cluster_roles := {"cluster-admin", "admin", "edit", "view"}

extra_cluster_roles := {name | some name in k8s.setting("known_cluster_roles", [])}

role_exists("Role", ns, name) if ["Role", ns, name] in defined_roles

role_exists("ClusterRole", _, name) if ["ClusterRole", "", name] in defined_roles

role_exists("ClusterRole", _, name) if name in builtin_cluster_roles

role_exists("ClusterRole", _, name) if startswith(name, "system:")

role_exists("ClusterRole", _, name) if name in extra_cluster_roles
