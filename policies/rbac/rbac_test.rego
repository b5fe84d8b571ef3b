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

named(doc, name) := object.union(doc, {"metadata": {"name": name}})

alice := {"kind": "User", "name": "alice@example.com", "apiGroup": "rbac.authorization.k8s.io"}

sa := {"kind": "ServiceAccount", "name": "web", "namespace": "shop"}

ids(doc) := r if {
	r := fixtures.ids(rbac.deny) with input as doc
}

test_view_to_user_passes if {
	count(ids(binding("RoleBinding", "view", [alice]))) == 0
}

test_wildcard if {
	every field in ["verbs", "resources", "apiGroups"] {
		r := object.union({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}, {field: ["*"]})
		"rbac.wildcard" in ids(role("Role", [r]))
	}
}

test_narrow_role_passes if {
	count(ids(role("Role", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]))) == 0
}

# Kubernetes' and the cloud providers' own roles are exempt by name; the list is configurable.
test_system_and_provider_roles_exempt if {
	r := role("ClusterRole", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
	every name in ["system:controller:foo", "eks:addon-manager", "gce:podsecuritypolicy:calico-sa", "cluster-admin", "admin", "edit"] {
		count(ids(named(r, name))) == 0
	}
	"rbac.wildcard" in ids(named(r, "system:controller:foo")) with data.gitops_audit.config as {"rbac_exemptions": {"name_prefixes": []}}
}

exec_rule(verbs, resources, groups) := {"apiGroups": groups, "resources": resources, "verbs": verbs}

test_pod_exec_attach if {
	every r in [
		exec_rule(["create"], ["pods/exec"], [""]),
		exec_rule(["get"], ["pods/attach"], [""]),
		exec_rule(["*"], ["pods/exec"], [""]),
		exec_rule(["create"], ["*"], [""]),
		exec_rule(["create"], ["pods/exec"], ["*"]),
		exec_rule(["create"], ["pods/*"], [""]),
		exec_rule(["create"], ["*/exec"], [""]),
	] {
		"rbac.pod_exec_attach" in ids(role("ClusterRole", [r]))
	}
}

test_pod_exec_attach_wrong_verb_or_group_passes if {
	every r in [
		exec_rule(["list"], ["pods/exec"], [""]),
		exec_rule(["create"], ["pods/exec"], ["apps"]),
		exec_rule(["create", "get"], ["pods", "pods/log"], [""]),
	] {
		not "rbac.pod_exec_attach" in ids(role("Role", [r]))
	}
}

test_anonymous_subjects if {
	every name in ["system:anonymous", "system:unauthenticated", "system:authenticated"] {
		"rbac.anonymous_subject" in ids(binding("ClusterRoleBinding", "view", [{"kind": "Group", "name": name}]))
	}
}

test_default_service_account if {
	"rbac.default_service_account" in ids(binding("RoleBinding", "view", [object.union(sa, {"name": "default"})]))
	not "rbac.default_service_account" in ids(binding("RoleBinding", "view", [sa]))
}

test_broad_role_binding if {
	"rbac.broad_role_binding" in ids(binding("RoleBinding", "edit", [sa]))
	"rbac.broad_role_binding" in ids(binding("RoleBinding", "admin", [alice]))
}

test_null_rules_and_subjects if {
	count(ids(object.union(role("Role", null), {"rules": null}))) == 0
	count(ids(object.union(binding("RoleBinding", "edit", null), {"subjects": null}))) == 0
	count(ids({"kind": "RoleBinding", "metadata": null, "roleRef": null})) == 0
}
