package gitops_audit.rbac.combined_test

import data.gitops_audit.lib.fixtures
import data.gitops_audit.rbac.combined
import rego.v1

binding(role_kind, role) := {
	"apiVersion": "rbac.authorization.k8s.io/v1",
	"kind": "RoleBinding",
	"metadata": {"name": "b", "namespace": "shop"},
	"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
	"subjects": [{"kind": "ServiceAccount", "name": "web", "namespace": "shop"}],
}

role(kind, name, ns) := {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": {"name": name, "namespace": ns}}

files(docs) := [{"path": "all.yaml", "contents": d} | some d in docs]

test_binding_to_missing_role if {
	"rbac.binding_missing_role" in fixtures.ids(combined.warn) with input as files([binding("Role", "reader")])
}

test_binding_to_role_in_other_namespace if {
	"rbac.binding_missing_role" in fixtures.ids(combined.warn) with input as files([binding("Role", "reader"), role("Role", "reader", "other")])
}

test_binding_to_existing_role_passes if {
	count(combined.warn) == 0 with input as files([binding("Role", "reader"), role("Role", "reader", "shop")])
}

test_binding_to_builtin_cluster_role_passes if {
	count(combined.warn) == 0 with input as files([binding("ClusterRole", "view")])
}

test_binding_to_configured_cluster_role_passes if {
	count(combined.warn) == 0 with input as files([binding("ClusterRole", "platform-reader")])
		with data.gitops_audit.config as {"known_cluster_roles": ["platform-reader"]}
}

test_gate_names_roles_and_bindings if {
	combined.gitops_audit_kinds == {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
}
