# RBAC risks visible in one Role, ClusterRole or binding. What a binding grants through its role (exec,
# Secrets, escalation, cluster-admin...) needs the role too and is in rbac/bindings.rego (package rbac_bindings.combined).
#
# Roles and bindings that Kubernetes or the cloud provider creates (names starting with `system:`,
# `eks:`, `gce:`, and a few names) are exempt: see lib/rbac.rego, setting `rbac_exemptions`.
package gitops_audit.rbac

import data.gitops_audit.lib.k8s
import data.gitops_audit.lib.k8s.input_subject as subject
import data.gitops_audit.lib.rbac
import data.gitops_audit.lib.k8s.inactive_rules as inactive
import rego.v1

# Rule values of lib/k8s.rego are read through full-path imports, functions through `k8s.` (see lib/k8s.rego).

# Kinds these rules apply to: gitops-audit skips the package for other documents.
gitops_audit_kinds := {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}

rules := {
	"rbac.wildcard": {
		"severity": "high",
		"title": "Role grants wildcard verbs, resources or apiGroups",
		"remediation": "List the verbs, resources and apiGroups the workload needs instead of '*'.",
	},
	"rbac.pod_exec_attach": {
		"severity": "high",
		"title": "Role allows exec or attach into pods",
		"remediation": "Remove pods/exec and pods/attach (and wildcards that include them), or keep the role for break-glass users.",
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

exempt if rbac.exempt_name(k8s.name_of(input))

role_rules := [r | some r in k8s.arr(object.get(input, "rules", [])); is_object(r)]

subjects := [s | some s in k8s.arr(object.get(input, "subjects", [])); is_object(s)]

role_ref_name := k8s.str(object.get(input, ["roleRef", "name"], ""))

# METADATA
# title: Role grants wildcard verbs, resources or apiGroups
# description: >-
#   '*' in verbs, resources or apiGroups grants everything that exists now and every resource or verb
#   added later (custom resources included).
# custom:
#   rule_id: rbac.wildcard
#   severity: high
#   remediation: List the verbs, resources and apiGroups the workload needs instead of '*'.
#   kinds: [Role, ClusterRole]
#   controls: {cis-k8s: ["5.1.3"], nsa-cisa: [authn-authz.rbac], soc2: [CC6.1, CC6.3], iso27001: [A.5.15, A.8.2], pci-dss: [7.2.1, 7.2.2], nist-800-53: [AC-3, AC-6]}
#   equivalents: {kubescape: [C-0187], kube-linter: [wildcard-in-rules]}
deny contains k8s.finding(id, rules[id], msg) if {
	id := "rbac.wildcard"
	not id in inactive
	is_role
	not exempt
	some i, rule in role_rules
	some field in ["verbs", "resources", "apiGroups"]
	"*" in k8s.arr(object.get(rule, field, []))
	msg := sprintf("%s rule %d grants '*' %s", [subject, i, field])
}

# METADATA
# title: Role allows exec or attach into pods
# description: >-
#   A rule granting create or get on pods/exec or pods/attach (directly, through '*' verbs, resources or
#   apiGroups, '*/exec', or 'pods/*') lets its holder run commands in any pod it covers, with that pod's
#   service account and secrets.
# custom:
#   rule_id: rbac.pod_exec_attach
#   severity: high
#   remediation: Remove pods/exec and pods/attach (and wildcards that include them), or keep the role for break-glass users.
#   kinds: [Role, ClusterRole]
#   controls: {nsa-cisa: [authn-authz.rbac], soc2: [CC6.1, CC6.3], iso27001: [A.5.15, A.8.2], pci-dss: [7.2.2], nist-800-53: [AC-6]}
#   equivalents: {polaris: [clusterrolePodExecAttach, rolePodExecAttach], kubescape: [C-0002]}
deny contains k8s.finding(id, rules[id], msg) if {
	id := "rbac.pod_exec_attach"
	not id in inactive
	is_role
	not exempt
	some i, rule in role_rules
	rbac.has_capability(rule, "exec_attach")
	msg := sprintf("%s rule %d allows exec or attach into pods", [subject, i])
}

# METADATA
# title: Binding to anonymous or all authenticated users
# description: A binding to system:anonymous, system:unauthenticated or system:authenticated grants its role to anyone who can reach the API server (or holds any account).
# custom:
#   rule_id: rbac.anonymous_subject
#   severity: critical
#   remediation: Bind to named users, groups or service accounts, never system:anonymous/unauthenticated/authenticated.
#   kinds: [RoleBinding, ClusterRoleBinding]
#   controls: {nsa-cisa: [authn-authz.rbac], soc2: [CC6.1, CC6.2], iso27001: [A.5.15, A.5.18], pci-dss: [7.2.1], nist-800-53: [AC-3, AC-14]}
#   equivalents: {kubescape: [C-0262, C-0265]}
deny contains k8s.finding(id, rules[id], msg) if {
	id := "rbac.anonymous_subject"
	not id in inactive
	is_binding
	not exempt
	some s in subjects
	object.get(s, "name", "") in {"system:anonymous", "system:unauthenticated", "system:authenticated"}
	msg := sprintf("%s binds %s to %s", [subject, role_ref_name, rbac.subject_label(s, k8s.namespace_of(input))])
}

# METADATA
# title: Role bound to a default ServiceAccount
# description: Every pod without serviceAccountName runs as its namespace's default account, so rights bound to it reach all of them.
# custom:
#   rule_id: rbac.default_service_account
#   severity: medium
#   remediation: Create a dedicated ServiceAccount for the workload and bind the role to it.
#   kinds: [RoleBinding, ClusterRoleBinding]
#   controls: {cis-k8s: ["5.1.5"], nsa-cisa: [authn-authz.rbac], soc2: [CC6.3], iso27001: [A.5.15, A.8.2], pci-dss: [7.2.5], nist-800-53: [AC-6, AC-2]}
#   equivalents: {kubescape: [C-0189], kube-linter: [default-service-account]}
deny contains k8s.finding(id, rules[id], msg) if {
	id := "rbac.default_service_account"
	not id in inactive
	is_binding
	not exempt
	some s in subjects
	object.get(s, "kind", "") == "ServiceAccount"
	object.get(s, "name", "") == "default"
	msg := sprintf("%s binds %s to ServiceAccount %s/default", [
		subject, role_ref_name, rbac.sa_namespace(s, k8s.namespace_of(input)),
	])
}

# METADATA
# title: Binding grants the built-in admin or edit ClusterRole
# description: The built-in admin and edit ClusterRoles include Secrets, exec into pods and every workload; they are meant for people, not for applications.
# custom:
#   rule_id: rbac.broad_role_binding
#   severity: medium
#   remediation: Bind a Role listing only the resources and verbs needed; admin/edit include Secrets and workloads.
#   kinds: [RoleBinding, ClusterRoleBinding]
#   controls: {nsa-cisa: [authn-authz.rbac], soc2: [CC6.3], iso27001: [A.5.15, A.8.2], pci-dss: [7.2.2], nist-800-53: [AC-6]}
#   equivalents: {}
deny contains k8s.finding(id, rules[id], msg) if {
	id := "rbac.broad_role_binding"
	not id in inactive
	is_binding
	not exempt
	object.get(input, ["roleRef", "kind"], "") == "ClusterRole"
	role_ref_name in {"admin", "edit"}
	some s in subjects
	not rbac.exempt_subject(s)
	msg := sprintf("%s grants ClusterRole %s to %s", [subject, role_ref_name, rbac.subject_label(s, k8s.namespace_of(input))])
}
