# RBAC risks in Roles, ClusterRoles and their bindings.
package gitops_audit.rbac

import data.gitops_audit.lib.k8s
import data.gitops_audit.lib.k8s.input_subject as subject
import rego.v1

# Rule values of lib/k8s.rego are read through full-path imports, functions through `k8s.` (see lib/k8s.rego).

# Kinds these rules apply to: gitops-audit skips the package for other documents.
gitops_audit_kinds := {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}

rules := {
	"rbac.cluster_admin_binding": {
		"severity": "critical",
		"title": "cluster-admin bound to a non-system subject",
		"remediation": "Bind a narrower role; keep cluster-admin for break-glass accounts managed outside GitOps.",
	},
	"rbac.wildcard": {
		"severity": "high",
		"title": "Role grants wildcard verbs, resources or apiGroups",
		"remediation": "List the verbs, resources and apiGroups the workload needs instead of '*'.",
	},
	"rbac.escalation_verbs": {
		"severity": "high",
		"title": "Role grants escalate, bind or impersonate",
		"remediation": "Remove escalate/bind/impersonate; they let the holder gain any permission.",
	},
	"rbac.secrets_cluster_read": {
		"severity": "high",
		"title": "ClusterRole reads Secrets in every namespace",
		"remediation": "Use a namespaced Role limited to the Secrets (resourceNames) that are needed.",
	},
	"rbac.pod_exec_attach": {
		"severity": "medium",
		"title": "Role allows pods/exec or pods/attach",
		"remediation": "Remove pods/exec and pods/attach, or restrict the role to break-glass users.",
	},
	"rbac.anonymous_subject": {
		"severity": "critical",
		"title": "Binding to anonymous or all authenticated users",
		"remediation": "Bind to named users, groups or service accounts, never system:anonymous/unauthenticated/authenticated.",
	},
	"rbac.broad_role_binding": {
		"severity": "medium",
		"title": "Binding grants the built-in admin or edit ClusterRole",
		"remediation": "Bind a Role listing only the resources and verbs needed; admin/edit include Secrets and workloads.",
	},
	"rbac.default_service_account": {
		"severity": "medium",
		"title": "Role bound to a default ServiceAccount",
		"remediation": "Create a dedicated ServiceAccount for the workload and bind the role to it.",
	},
}

is_binding if input.kind in {"ClusterRoleBinding", "RoleBinding"}

is_role if input.kind in {"ClusterRole", "Role"}

deny contains k8s.finding(id, rules[id], msg) if {
	id := "rbac.cluster_admin_binding"
	is_binding
	input.roleRef.kind == "ClusterRole"
	input.roleRef.name == "cluster-admin"
	some s in input.subjects
	not startswith(s.name, "system:")
	msg := sprintf("%s binds cluster-admin to %s %q", [subject, s.kind, s.name])
}

deny contains k8s.finding(id, rules[id], msg) if {
	id := "rbac.wildcard"
	is_role
	some i, rule in input.rules
	some field in ["verbs", "resources", "apiGroups"]
	"*" in object.get(rule, field, [])
	msg := sprintf("%s rule %d grants '*' %s", [subject, i, field])
}

deny contains k8s.finding(id, rules[id], msg) if {
	id := "rbac.escalation_verbs"
	is_role
	some i, rule in input.rules
	some verb in rule.verbs
	verb in {"escalate", "bind", "impersonate"}
	msg := sprintf("%s rule %d grants %q", [subject, i, verb])
}

deny contains k8s.finding(id, rules[id], msg) if {
	id := "rbac.secrets_cluster_read"
	input.kind == "ClusterRole"
	some rule in input.rules
	some res in rule.resources
	res in {"secrets", "*"}
	some group in object.get(rule, "apiGroups", [""])
	group in {"", "*"}
	some verb in rule.verbs
	verb in {"get", "list", "watch", "*"}
	msg := sprintf("%s can %s secrets in every namespace", [subject, verb])
}

deny contains k8s.finding(id, rules[id], msg) if {
	id := "rbac.pod_exec_attach"
	is_role
	some rule in input.rules
	some res in rule.resources
	res in {"pods/exec", "pods/attach"}
	msg := sprintf("%s grants %s", [subject, res])
}

deny contains k8s.finding(id, rules[id], msg) if {
	id := "rbac.anonymous_subject"
	is_binding
	some s in input.subjects
	s.name in {"system:anonymous", "system:unauthenticated", "system:authenticated"}
	msg := sprintf("%s binds %s to %s %q", [subject, input.roleRef.name, s.kind, s.name])
}

deny contains k8s.finding(id, rules[id], msg) if {
	id := "rbac.default_service_account"
	is_binding
	some s in input.subjects
	s.kind == "ServiceAccount"
	s.name == "default"
	msg := sprintf("%s binds %s to ServiceAccount %s/default", [
		subject, input.roleRef.name,
		object.get(s, "namespace", object.get(input.metadata, "namespace", "")),
	])
}

deny contains k8s.finding(id, rules[id], msg) if {
	id := "rbac.broad_role_binding"
	is_binding
	input.roleRef.kind == "ClusterRole"
	input.roleRef.name in {"admin", "edit"}
	some s in input.subjects
	msg := sprintf("%s grants ClusterRole %s to %s %q", [subject, input.roleRef.name, s.kind, s.name])
}
