package gitops_audit.rbac_test

import data.gitops_audit.lib.fixtures
import data.gitops_audit.rbac
import rego.v1

binding(kind, role, subjects) := {
	"apiVersion": "rbac.authorization.k8s.io/v1",
	"kind": kind,
	"metadata": {"name": "b", "namespace": "shop"},
	"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
	"subjects": subjects,
}

role(kind, rules) := {
	"apiVersion": "rbac.authorization.k8s.io/v1",
	"kind": kind,
	"metadata": {"name": "r", "namespace": "shop"},
	"rules": rules,
}

alice := {"kind": "User", "name": "alice@example.com", "apiGroup": "rbac.authorization.k8s.io"}

sa := {"kind": "ServiceAccount", "name": "web", "namespace": "shop"}

test_cluster_admin_to_user if {
	"rbac.cluster_admin_binding" in fixtures.ids(rbac.deny) with input as binding("ClusterRoleBinding", "cluster-admin", [alice])
}

test_cluster_admin_in_rolebinding if {
	"rbac.cluster_admin_binding" in fixtures.ids(rbac.deny) with input as binding("RoleBinding", "cluster-admin", [sa])
}

test_cluster_admin_to_system_group_passes if {
	count(rbac.deny) == 0 with input as binding("ClusterRoleBinding", "cluster-admin", [{"kind": "Group", "name": "system:masters"}])
}

test_view_to_user_passes if {
	count(rbac.deny) == 0 with input as binding("RoleBinding", "view", [alice])
}

test_wildcard if {
	"rbac.wildcard" in fixtures.ids(rbac.deny) with input as role("Role", [{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}])
}

test_narrow_role_passes if {
	count(rbac.deny) == 0 with input as role("Role", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}])
}

test_escalation_verbs if {
	every verb in ["escalate", "bind", "impersonate"] {
		"rbac.escalation_verbs" in fixtures.ids(rbac.deny) with input as role("ClusterRole", [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": [verb]}])
	}
}

test_secrets_cluster_read if {
	"rbac.secrets_cluster_read" in fixtures.ids(rbac.deny) with input as role("ClusterRole", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}])
}

test_secrets_in_namespaced_role_passes if {
	count(rbac.deny) == 0 with input as role("Role", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["tls"]}])
}

test_pod_exec if {
	"rbac.pod_exec_attach" in fixtures.ids(rbac.deny) with input as role("Role", [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}])
}

test_pod_attach if {
	"rbac.pod_exec_attach" in fixtures.ids(rbac.deny) with input as role("Role", [{"apiGroups": [""], "resources": ["pods/attach"], "verbs": ["create"]}])
}

test_anonymous_subjects if {
	every name in ["system:anonymous", "system:unauthenticated", "system:authenticated"] {
		"rbac.anonymous_subject" in fixtures.ids(rbac.deny) with input as binding("ClusterRoleBinding", "view", [{"kind": "Group", "name": name}])
	}
}

test_default_service_account if {
	"rbac.default_service_account" in fixtures.ids(rbac.deny) with input as binding("RoleBinding", "view", [{"kind": "ServiceAccount", "name": "default", "namespace": "shop"}])
}

test_dedicated_service_account_passes if {
	count(rbac.deny) == 0 with input as binding("RoleBinding", "view", [sa])
}

test_broad_role_binding if {
	"rbac.broad_role_binding" in fixtures.ids(rbac.deny) with input as binding("RoleBinding", "edit", [sa])
	"rbac.broad_role_binding" in fixtures.ids(rbac.deny) with input as binding("ClusterRoleBinding", "admin", [alice])
}
