# Bindings whose role is not part of the same set of objects (combined input).
package gitops_audit.rbac.combined

import data.gitops_audit.lib.k8s
import rego.v1

rules := {"rbac.binding_missing_role": {
	"severity": "medium",
	"title": "Binding to a role that does not exist",
	"remediation": "Create the role, fix roleRef, or delete the binding (a later role with that name would be granted silently).",
}}

# ClusterRoles every cluster has; bindings to them are fine without a definition in git.
builtin_cluster_roles := {"cluster-admin", "admin", "edit", "view"}

docs := [doc.contents | some doc in input]

# Index once: a lookup per binding stays cheap with thousands of documents.
defined_roles := {[obj.kind, object.get(obj.metadata, "namespace", ""), obj.metadata.name] |
	some obj in docs
	obj.kind == "Role"
} | {["ClusterRole", "", obj.metadata.name] |
	some obj in docs
	obj.kind == "ClusterRole"
}

role_exists("Role", ns, name) if ["Role", ns, name] in defined_roles

role_exists("ClusterRole", _, name) if ["ClusterRole", "", name] in defined_roles

role_exists("ClusterRole", _, name) if name in builtin_cluster_roles

role_exists("ClusterRole", _, name) if startswith(name, "system:")

extra_roles := {name | some name in k8s.setting("known_cluster_roles", [])}

role_exists("ClusterRole", _, name) if name in extra_roles

warn contains k8s.result(id, rules[id], msg, obj) if {
	id := "rbac.binding_missing_role"
	some obj in docs
	obj.kind in {"RoleBinding", "ClusterRoleBinding"}
	ns := object.get(obj.metadata, "namespace", "")
	not role_exists(obj.roleRef.kind, ns, obj.roleRef.name)
	msg := sprintf("%s refers to %s %q, which is not defined", [k8s.subject(obj), obj.roleRef.kind, obj.roleRef.name])
}
