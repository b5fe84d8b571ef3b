package gitops_audit.rbac_bindings.combined_test

import data.gitops_audit.lib.fixtures
import data.gitops_audit.rbac_bindings.combined
import rego.v1

rbac_group := "rbac.authorization.k8s.io"

binding(kind, role_kind, role, subjects) := {
	"apiVersion": "rbac.authorization.k8s.io/v1",
	"kind": kind,
	"metadata": {"name": "b", "namespace": "shop"},
	"roleRef": {"apiGroup": rbac_group, "kind": role_kind, "name": role},
	"subjects": subjects,
}

role(kind, name, rules) := {
	"apiVersion": "rbac.authorization.k8s.io/v1",
	"kind": kind,
	"metadata": {"name": name, "namespace": "shop"},
	"rules": rules,
}

sa := {"kind": "ServiceAccount", "name": "web", "namespace": "shop"}

alice := {"kind": "User", "name": "alice", "apiGroup": rbac_group}

results(docs) := r if {
	r := combined.deny | combined.warn with input as fixtures.files(docs)
}

ids(docs) := fixtures.ids(results(docs))

# A role with one rule, bound to alice by a RoleBinding.
granted(rule) := ids([role("Role", "r", [rule]), binding("RoleBinding", "Role", "r", [alice])])

test_binding_to_missing_role if {
	"rbac.binding_missing_role" in ids([binding("RoleBinding", "Role", "reader", [sa])])
}

test_binding_to_role_in_other_namespace if {
	"rbac.binding_missing_role" in ids([binding("RoleBinding", "Role", "reader", [sa]), object.union(role("Role", "reader", []), {"metadata": {"namespace": "other"}})])
}

test_binding_to_existing_role_passes if {
	count(ids([binding("RoleBinding", "Role", "reader", [sa]), role("Role", "reader", [])])) == 0
}

test_binding_to_builtin_cluster_role_view_passes if {
	count(ids([binding("RoleBinding", "ClusterRole", "view", [sa])])) == 0
}

test_binding_to_configured_cluster_role_passes if {
	count(ids([binding("RoleBinding", "ClusterRole", "platform-reader", [sa])])) == 0 with data.gitops_audit.config as {"known_cluster_roles": ["platform-reader"]}
}

test_cluster_admin_by_name_and_by_rules if {
	"rbac.cluster_admin_binding" in ids([binding("ClusterRoleBinding", "ClusterRole", "cluster-admin", [alice])])
	"rbac.cluster_admin_binding" in granted({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]})
	"rbac.cluster_admin_binding" in granted({"apiGroups": [""], "resources": ["*"], "verbs": ["*"]})
	"rbac.cluster_admin_binding" in granted({"apiGroups": ["*"], "resources": ["*"], "verbs": ["delete", "patch", "get", "list", "watch", "create", "update"]})
	not "rbac.cluster_admin_binding" in granted({"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list"]})
	not "rbac.cluster_admin_binding" in granted({"apiGroups": ["*"], "resources": ["pods"], "verbs": ["*"]})
}

# A git ClusterRole named cluster-admin does not make the real one narrower.
test_cluster_admin_redefined_in_git_still_admin if {
	docs := [binding("ClusterRoleBinding", "ClusterRole", "cluster-admin", [alice]), role("ClusterRole", "cluster-admin", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}])]
	"rbac.cluster_admin_binding" in ids(docs)
}

test_scope_in_message if {
	msgs := {r.msg | some r in results([binding("RoleBinding", "ClusterRole", "cluster-admin", [alice])]); r.rule_id == "rbac.cluster_admin_binding"}
	msgs == {`RoleBinding/shop/b grants cluster-admin rights in namespace shop through ClusterRole "cluster-admin" to User alice`}
}

test_exempt_binding_and_subjects if {
	admin := [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
	count(results([role("ClusterRole", "r", admin), object.union(binding("ClusterRoleBinding", "ClusterRole", "r", [alice]), {"metadata": {"name": "system:r"}})])) == 0
	count(results([binding("ClusterRoleBinding", "ClusterRole", "cluster-admin", [{"kind": "Group", "name": "system:masters"}])])) == 0
	# A user binding to a system: role is not exempt.
	"rbac.cluster_admin_binding" in ids([role("ClusterRole", "system:r", admin), binding("ClusterRoleBinding", "ClusterRole", "system:r", [alice])])
}

test_wildcard_verbs_imply_every_verb if {
	got := granted({"apiGroups": ["*"], "resources": ["users", "groups", "roles", "secrets", "pods", "events", "pods/exec", "pods/portforward"], "verbs": ["*"]})
	every id in ["rbac.impersonate", "rbac.bind_escalate", "rbac.secrets_read", "rbac.delete_rights", "rbac.events_delete", "rbac.binding_exec_attach", "rbac.portforward", "rbac.create_pods"] {
		id in got
	}
}

test_capabilities_one_by_one if {
	"rbac.binding_exec_attach" in granted({"apiGroups": [""], "resources": ["pods/*"], "verbs": ["create"]})
	"rbac.portforward" in granted({"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["create"]})
	"rbac.secrets_read" in granted({"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]})
	not "rbac.secrets_read" in granted({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["tls"]})
	"rbac.bind_escalate" in granted({"apiGroups": [rbac_group], "resources": ["clusterroles"], "verbs": ["escalate"]})
	"rbac.impersonate" in granted({"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]})
	"rbac.delete_rights" in granted({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["deletecollection"]})
	not "rbac.delete_rights" in granted({"apiGroups": ["apps"], "resources": ["secrets"], "verbs": ["delete"]})
	"rbac.events_delete" in granted({"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["delete"]})
	"rbac.create_pods" in granted({"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]})
	count(granted({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]})) == 0
}

test_builtin_edit_grants if {
	got := ids([binding("RoleBinding", "ClusterRole", "edit", [sa])])
	got == {"rbac.binding_exec_attach", "rbac.portforward", "rbac.secrets_read", "rbac.impersonate", "rbac.delete_rights", "rbac.create_pods"}
}

workload(sa_name, automount) := json.patch(fixtures.good, [
	{"op": "replace", "path": "/spec/template/spec/serviceAccountName", "value": sa_name},
	{"op": "replace", "path": "/spec/template/spec/automountServiceAccountToken", "value": automount},
])

sa_binding(role_kind, role_name) := binding("ClusterRoleBinding", role_kind, role_name, [sa])

test_workload_admin if {
	got := fixtures.ids_for(results([workload("web", null), sa_binding("ClusterRole", "cluster-admin")]), "Deployment", "web")
	got == {"rbac.workload_admin"}
}

test_workload_takeover if {
	docs := [workload("web", true), role("ClusterRole", "r", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]), sa_binding("ClusterRole", "r")]
	fixtures.ids_for(results(docs), "Deployment", "web") == {"rbac.workload_takeover"}
	docs2 := [workload("web", null), role("ClusterRole", "r", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["patch"]}]), sa_binding("ClusterRole", "r")]
	fixtures.ids_for(results(docs2), "Deployment", "web") == {"rbac.workload_takeover"}
}

test_workload_without_token_passes if {
	count(fixtures.ids_for(results([workload("web", false), sa_binding("ClusterRole", "cluster-admin")]), "Deployment", "web")) == 0
	account := {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web", "namespace": "shop"}, "automountServiceAccountToken": false}
	count(fixtures.ids_for(results([workload("web", null), account, sa_binding("ClusterRole", "cluster-admin")]), "Deployment", "web")) == 0
}

test_workload_default_account if {
	docs := [workload(null, null), binding("RoleBinding", "ClusterRole", "cluster-admin", [object.union(sa, {"name": "default"})])]
	"rbac.workload_admin" in fixtures.ids_for(results(docs), "Deployment", "web")
}

test_gate_names_every_kind_read if {
	combined.gitops_audit_kinds == {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount"} | data.gitops_audit.lib.k8s.workload_kinds
}

# Two documents for one role (a `--combine` run over overlapping files): their rules are pooled.
test_duplicate_role_documents_pool_their_rules if {
	docs := [
		role("Role", "r", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]),
		role("Role", "r", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]),
		binding("RoleBinding", "Role", "r", [alice]),
	]
	"rbac.secrets_read" in ids(docs)
}
