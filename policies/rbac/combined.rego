# Bindings whose role is not part of the same set of objects (combined input).
package gitops_audit.rbac.combined

import data.gitops_audit.lib.combined
import data.gitops_audit.lib.combined.docs
import data.gitops_audit.lib.k8s
import rego.v1

# Keep this package to `rules` and the rule bodies: every rule here is also evaluated for each document
# the parent package `gitops_audit.rbac` checks (the indexes are in lib/combined.rego).
# Rule values of lib packages are read through full-path imports, functions through the package alias
# (a rule reference through a package alias evaluates every rule of that package).

# The kinds these rules read: gitops-audit leaves other documents out of this package's combined input.
gitops_audit_kinds := {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}

rules := {"rbac.binding_missing_role": {
	"severity": "medium",
	"title": "Binding to a role that does not exist",
	"remediation": "Create the role, fix roleRef, or delete the binding (a later role with that name would be granted silently).",
}}

warn contains k8s.result(id, rules[id], msg, obj) if {
	some obj in docs
	obj.kind in {"RoleBinding", "ClusterRoleBinding"}
	ns := object.get(obj.metadata, "namespace", "")
	not combined.role_exists(obj.roleRef.kind, ns, obj.roleRef.name)
	id := "rbac.binding_missing_role"
	msg := sprintf("%s refers to %s %q, which is not defined", [k8s.subject(obj), obj.roleRef.kind, obj.roleRef.name])
}
