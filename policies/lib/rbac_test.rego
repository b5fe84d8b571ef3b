package gitops_audit.lib.rbac_test

import data.gitops_audit.lib.combined
import data.gitops_audit.lib.rbac
import rego.v1

rule(groups, resources, verbs) := {"apiGroups": groups, "resources": resources, "verbs": verbs}

test_api_server_matching if {
	rbac.has_capability(rule([""], ["pods/exec"], ["create"]), "exec_attach")
	rbac.has_capability(rule(["*"], ["pods/exec"], ["create"]), "exec_attach")
	rbac.has_capability(rule([""], ["*"], ["get"]), "exec_attach")
	rbac.has_capability(rule([""], ["*/attach"], ["create"]), "exec_attach")
	rbac.has_capability(rule([""], ["pods/exec"], ["*"]), "exec_attach")
	not rbac.has_capability(rule(["apps"], ["pods/exec"], ["create"]), "exec_attach")
	not rbac.has_capability(rule([""], ["pods"], ["create"]), "exec_attach")
	not rbac.has_capability(rule([""], ["pods/log"], ["get"]), "exec_attach")
	not rbac.has_capability(rule([""], ["*/log"], ["get"]), "exec_attach")
}

test_subresource_glob_is_read_as_every_subresource if {
	rbac.has_capability(rule([""], ["pods/*"], ["create"]), "exec_attach")
	rbac.has_capability(rule([""], ["pods/*"], ["create"]), "portforward")
	not rbac.has_capability(rule([""], ["services/*"], ["create"]), "exec_attach")
}

test_star_verb_implies_special_verbs if {
	rbac.has_capability(rule([""], ["users"], ["*"]), "impersonate")
	rbac.has_capability(rule(["rbac.authorization.k8s.io"], ["roles"], ["*"]), "bind")
	rbac.has_capability(rule(["rbac.authorization.k8s.io"], ["clusterroles"], ["*"]), "escalate")
	rbac.has_capability(rule([""], ["secrets"], ["*"]), "delete")
	# ...but only on the resources they apply to.
	not rbac.has_capability(rule(["apps"], ["deployments"], ["*"]), "impersonate")
	not rbac.has_capability(rule([""], ["roles"], ["*"]), "bind")
}

test_admin_rules if {
	rbac.is_admin_rule(rule(["*"], ["*"], ["*"]))
	rbac.is_admin_rule(rule([""], ["*"], ["*"]))
	rbac.is_admin_rule(rule(["*"], ["*"], ["get", "list", "watch", "create", "update", "patch", "delete"]))
	not rbac.is_admin_rule(rule(["*"], ["*"], ["get", "list"]))
	not rbac.is_admin_rule(rule(["apps"], ["*"], ["*"]))
}

test_null_and_missing_lists if {
	count(rbac.capabilities_of([{"apiGroups": null, "resources": null, "verbs": null}, null, "x", {}])) == 0
	count(rbac.capabilities_of([])) == 0
}

test_exemptions_configurable if {
	rbac.exempt_name("system:kube-dns")
	rbac.exempt_subject({"kind": "Group", "name": "system:masters"})
	not rbac.exempt_subject({"kind": "Group", "name": "system:authenticated"})
	not rbac.exempt_name("system:kube-dns") with data.gitops_audit.config as {"rbac_exemptions": {"name_prefixes": ["eks:"]}}
	rbac.exempt_name("platform-admin") with data.gitops_audit.config as {"rbac_exemptions": {"names": ["platform-admin"]}}
}

# lib/combined.rego keeps the built-in roles' capabilities as a constant.
test_builtin_capabilities_constant_is_current if {
	{name: rbac.capabilities_of(rules) | some name, rules in rbac.builtin_cluster_roles} == combined.builtin_capabilities
}
