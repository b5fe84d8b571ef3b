# What bindings grant, following each binding to its role (combined input): cluster-admin equivalents,
# exec/attach, port-forward, Secrets, bind/escalate, impersonation, deletion, event deletion, pod
# creation; bindings to roles that do not exist; workloads whose ServiceAccount holds administrative or
# cluster-takeover rights.
#
# Wildcards resolve as the API server resolves them (lib/rbac.rego): `*` verbs include impersonate,
# escalate, bind and delete; `*` resources include every subresource. A ClusterRole bound by a
# RoleBinding grants its rights in that namespace only, and messages say so. Exempt bindings and
# subjects (lib/rbac.rego, setting `rbac_exemptions`) are left out.
package gitops_audit.rbac_bindings.combined

import data.gitops_audit.lib.combined
import data.gitops_audit.lib.combined.docs
import data.gitops_audit.lib.k8s
import data.gitops_audit.lib.k8s.inactive_rules as inactive
import rego.v1

# The package is not under `gitops_audit.rbac` on purpose: regorus evaluates a package's subpackages with
# it, so every document `gitops_audit.rbac` checks would pay for these rules too. Keep this package to
# `rules` and the rule bodies (the indexes are in lib/combined.rego).
# Rule values of lib packages are read through full-path imports, functions through the package alias
# (a rule reference through a package alias evaluates every rule of that package).

# The kinds these rules read: gitops-audit leaves other documents out of this package's combined input.
gitops_audit_kinds := {
	"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount",
	"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController", "Pod", "CronJob",
}

rules := {
	"rbac.binding_missing_role": {
		"severity": "medium",
		"title": "Binding to a role that does not exist",
		"remediation": "Create the role, fix roleRef, or delete the binding (a later role with that name would be granted silently).",
	},
	"rbac.cluster_admin_binding": {
		"severity": "critical",
		"title": "Binding grants cluster-admin or equivalent rights",
		"remediation": "Bind a narrower role; keep cluster-admin for break-glass accounts managed outside GitOps.",
	},
	"rbac.binding_exec_attach": {
		"severity": "high",
		"title": "Binding allows exec or attach into pods",
		"remediation": "Bind a role without pods/exec and pods/attach (or their wildcards); grant exec to break-glass users only.",
	},
	"rbac.portforward": {
		"severity": "medium",
		"title": "Binding allows port-forwarding to pods",
		"remediation": "Bind a role without pods/portforward (or its wildcards).",
	},
	"rbac.secrets_read": {
		"severity": "high",
		"title": "Binding allows reading Secrets",
		"remediation": "Bind a Role limited to the Secrets needed (resourceNames), or mount the Secrets instead of reading them through the API.",
	},
	"rbac.bind_escalate": {
		"severity": "high",
		"title": "Binding allows bind or escalate on roles",
		"remediation": "Remove bind and escalate (and '*' verbs) on roles and clusterroles; they let the holder grant itself any permission.",
	},
	"rbac.impersonate": {
		"severity": "high",
		"title": "Binding allows impersonating users, groups or ServiceAccounts",
		"remediation": "Remove impersonate (and '*' verbs) on users, groups and serviceaccounts.",
	},
	"rbac.delete_rights": {
		"severity": "medium",
		"title": "Binding allows deleting workloads, Services or Secrets",
		"remediation": "Grant delete only on the resources a controller manages; people delete through GitOps.",
	},
	"rbac.events_delete": {
		"severity": "medium",
		"title": "Binding allows deleting events",
		"remediation": "Remove delete and deletecollection on events; deleting them hides activity from investigators.",
	},
	"rbac.create_pods": {
		"severity": "medium",
		"title": "Binding allows creating pods",
		"remediation": "Let controllers create pods; a subject that creates pods can run them with any ServiceAccount of the namespace.",
	},
	"rbac.workload_admin": {
		"severity": "critical",
		"title": "Workload runs with cluster-admin equivalent rights",
		"remediation": "Give the workload its own ServiceAccount bound to the few verbs and resources it needs, or set automountServiceAccountToken: false.",
	},
	"rbac.workload_takeover": {
		"severity": "high",
		"title": "Workload's ServiceAccount can take over the cluster",
		"remediation": "Remove create/update/patch on pods and read on Secrets from the workload's ServiceAccount, or set automountServiceAccountToken: false.",
	},
}

# METADATA
# title: Binding to a role that does not exist
# description: >-
#   The binding's roleRef names a Role or ClusterRole that is neither in the same set of objects nor
#   built in (nor listed in known_cluster_roles). Nothing is granted today; whoever later creates a role
#   with that name grants it silently.
# custom:
#   rule_id: rbac.binding_missing_role
#   severity: medium
#   remediation: Create the role, fix roleRef, or delete the binding (a later role with that name would be granted silently).
#   kinds: [RoleBinding, ClusterRoleBinding]
#   controls: {soc2: [CC6.2], iso27001: [A.5.18, A.8.9], nist-800-53: [AC-2, CM-6]}
#   equivalents: {polaris: [clusterrolebindingPodExecAttach, rolebindingClusterRolePodExecAttach, rolebindingRolePodExecAttach]}
warn contains k8s.result(id, rules[id], msg, obj) if {
	id := "rbac.binding_missing_role"
	not id in inactive
	some obj in docs
	obj.kind in {"RoleBinding", "ClusterRoleBinding"}
	ns := k8s.namespace_of(obj)
	ref_kind := k8s.str(object.get(obj, ["roleRef", "kind"], ""))
	ref_name := k8s.str(object.get(obj, ["roleRef", "name"], ""))
	not combined.role_exists(ref_kind, ns, ref_name)
	msg := sprintf("%s refers to %s %q, which is not defined", [k8s.subject(obj), ref_kind, ref_name])
}

# "Kind/ns/name grants <what> <scope> (through ClusterRole x) to <subjects>".
grant_message(b, what) := sprintf("%s grants %s %s through %s %q to %s", [
	k8s.subject(b.binding), what, b.scope, b.ref_kind, b.ref_name, combined.subject_list(b),
])

# METADATA
# title: Binding grants cluster-admin or equivalent rights
# description: >-
#   The binding grants the cluster-admin ClusterRole, or a role with every verb on every resource of
#   every API group or of the core group. One finding per binding, listing its subjects: together they
#   are the list of cluster administrators that git grants. Through a RoleBinding the rights stop at the
#   namespace, which the message says.
# custom:
#   rule_id: rbac.cluster_admin_binding
#   severity: critical
#   remediation: Bind a narrower role; keep cluster-admin for break-glass accounts managed outside GitOps.
#   kinds: [RoleBinding, ClusterRoleBinding]
#   controls: {cis-k8s: ["5.1.1", "5.1.3"], nsa-cisa: [authn-authz.rbac], soc2: [CC6.1, CC6.2, CC6.3], iso27001: [A.5.15, A.8.2], pci-dss: [7.2.1, 7.2.2], nist-800-53: [AC-2, AC-6]}
#   equivalents: {polaris: [clusterrolebindingClusterAdmin, rolebindingClusterAdminClusterRole, rolebindingClusterAdminRole], kubescape: [C-0035, C-0185, C-0187], kube-linter: [cluster-admin-role-binding]}
deny contains k8s.result(id, rules[id], grant_message(b, "cluster-admin rights"), b.binding) if {
	id := "rbac.cluster_admin_binding"
	not id in inactive
	some b in combined.granting("admin")
}

# METADATA
# title: Binding allows exec or attach into pods
# description: >-
#   The bound role grants create or get on pods/exec or pods/attach (wildcards included): its subjects
#   can run commands in the pods it covers, with their ServiceAccounts and mounted Secrets.
# custom:
#   rule_id: rbac.binding_exec_attach
#   severity: high
#   remediation: Bind a role without pods/exec and pods/attach (or their wildcards); grant exec to break-glass users only.
#   kinds: [RoleBinding, ClusterRoleBinding]
#   controls: {nsa-cisa: [authn-authz.rbac], soc2: [CC6.1, CC6.3], iso27001: [A.5.15, A.8.2], pci-dss: [7.2.2], nist-800-53: [AC-6]}
#   equivalents: {polaris: [clusterrolebindingPodExecAttach, rolebindingClusterRolePodExecAttach, rolebindingRolePodExecAttach], kubescape: [C-0002]}
deny contains k8s.result(id, rules[id], grant_message(b, "exec/attach into pods"), b.binding) if {
	id := "rbac.binding_exec_attach"
	not id in inactive
	some b in combined.granting("exec_attach")
}

# METADATA
# title: Binding allows port-forwarding to pods
# description: The bound role grants pods/portforward (wildcards included), a tunnel to any port of the pods it covers past network policies.
# custom:
#   rule_id: rbac.portforward
#   severity: medium
#   remediation: Bind a role without pods/portforward (or its wildcards).
#   kinds: [RoleBinding, ClusterRoleBinding]
#   controls: {nsa-cisa: [authn-authz.rbac], soc2: [CC6.1, CC6.6], iso27001: [A.5.15, A.8.20], pci-dss: [7.2.2], nist-800-53: [AC-6, SC-7]}
#   equivalents: {kubescape: [C-0063]}
deny contains k8s.result(id, rules[id], grant_message(b, "port-forwarding to pods"), b.binding) if {
	id := "rbac.portforward"
	not id in inactive
	some b in combined.granting("portforward")
}

# METADATA
# title: Binding allows reading Secrets
# description: >-
#   The bound role grants get, list or watch on Secrets (wildcards included) without naming them
#   (resourceNames). Through a ClusterRoleBinding that is every Secret of the cluster, ServiceAccount
#   tokens included; through a RoleBinding, every Secret of the namespace.
# custom:
#   rule_id: rbac.secrets_read
#   severity: high
#   remediation: Bind a Role limited to the Secrets needed (resourceNames), or mount the Secrets instead of reading them through the API.
#   kinds: [RoleBinding, ClusterRoleBinding]
#   controls: {cis-k8s: ["5.1.2"], nsa-cisa: [network.secrets], soc2: [CC6.1, CC6.6, CC6.7], iso27001: [A.5.15, A.5.17], pci-dss: [7.2.2], nist-800-53: [AC-3, AC-6]}
#   equivalents: {kubescape: [C-0015, C-0186], kube-linter: [access-to-secrets]}
deny contains k8s.result(id, rules[id], grant_message(b, "read access to Secrets"), b.binding) if {
	id := "rbac.secrets_read"
	not id in inactive
	some b in combined.granting("secrets_read")
}

# METADATA
# title: Binding allows bind or escalate on roles
# description: bind lets the holder bind any role, escalate lets it edit a role beyond its own rights; both are a path to cluster-admin.
# custom:
#   rule_id: rbac.bind_escalate
#   severity: high
#   remediation: Remove bind and escalate (and '*' verbs) on roles and clusterroles; they let the holder grant itself any permission.
#   kinds: [RoleBinding, ClusterRoleBinding]
#   controls: {cis-k8s: ["5.1.8"], nsa-cisa: [authn-authz.rbac], soc2: [CC6.1, CC6.3], iso27001: [A.8.2], pci-dss: [7.2.2], nist-800-53: [AC-6]}
#   equivalents: {kubescape: [C-0191]}
deny contains k8s.result(id, rules[id], grant_message(b, verb), b.binding) if {
	id := "rbac.bind_escalate"
	not id in inactive
	some verb in ["bind", "escalate"]
	some b in combined.granting(verb)
}

# METADATA
# title: Binding allows impersonating users, groups or ServiceAccounts
# description: Impersonation lets the holder act as another user, group or ServiceAccount, with all of its rights.
# custom:
#   rule_id: rbac.impersonate
#   severity: high
#   remediation: Remove impersonate (and '*' verbs) on users, groups and serviceaccounts.
#   kinds: [RoleBinding, ClusterRoleBinding]
#   controls: {cis-k8s: ["5.1.8"], nsa-cisa: [authn-authz.rbac], soc2: [CC6.1, CC6.3], iso27001: [A.8.2], pci-dss: [7.2.2], nist-800-53: [AC-6]}
#   equivalents: {kubescape: [C-0065, C-0191]}
deny contains k8s.result(id, rules[id], grant_message(b, "impersonation"), b.binding) if {
	id := "rbac.impersonate"
	not id in inactive
	some b in combined.granting("impersonate")
}

# METADATA
# title: Binding allows deleting workloads, Services or Secrets
# description: delete or deletecollection on pods, Secrets, Services and the workload controllers lets the holder take the application down or destroy data.
# custom:
#   rule_id: rbac.delete_rights
#   severity: medium
#   remediation: Grant delete only on the resources a controller manages; people delete through GitOps.
#   kinds: [RoleBinding, ClusterRoleBinding]
#   controls: {nsa-cisa: [authn-authz.rbac], soc2: [CC6.1, CC8.1], iso27001: [A.8.2, A.8.32], pci-dss: [7.2.2], nist-800-53: [AC-6, CM-5]}
#   equivalents: {kubescape: [C-0007]}
deny contains k8s.result(id, rules[id], grant_message(b, "deletion of workloads, Services or Secrets"), b.binding) if {
	id := "rbac.delete_rights"
	not id in inactive
	some b in combined.granting("delete")
}

# METADATA
# title: Binding allows deleting events
# description: Deleting events removes the cluster's record of what happened, which hides an intrusion.
# custom:
#   rule_id: rbac.events_delete
#   severity: medium
#   remediation: Remove delete and deletecollection on events; deleting them hides activity from investigators.
#   kinds: [RoleBinding, ClusterRoleBinding]
#   controls: {nsa-cisa: [audit-logging], soc2: [CC7.2], iso27001: [A.8.15], nist-800-53: [AU-9]}
#   equivalents: {kubescape: [C-0031]}
deny contains k8s.result(id, rules[id], grant_message(b, "deletion of events"), b.binding) if {
	id := "rbac.events_delete"
	not id in inactive
	some b in combined.granting("events_delete")
}

# METADATA
# title: Binding allows creating pods
# description: A subject that can create pods can run one with any ServiceAccount of the namespace and read every Secret it can mount.
# custom:
#   rule_id: rbac.create_pods
#   severity: medium
#   remediation: Let controllers create pods; a subject that creates pods can run them with any ServiceAccount of the namespace.
#   kinds: [RoleBinding, ClusterRoleBinding]
#   controls: {cis-k8s: ["5.1.4"], nsa-cisa: [authn-authz.rbac], soc2: [CC6.3], iso27001: [A.8.2], pci-dss: [7.2.2], nist-800-53: [AC-6]}
#   equivalents: {kubescape: [C-0188], kube-linter: [access-to-create-pods]}
deny contains k8s.result(id, rules[id], grant_message(b, "pod creation"), b.binding) if {
	id := "rbac.create_pods"
	not id in inactive
	some b in combined.granting("create_pods")
}

# Workloads whose pods get a token for a ServiceAccount that holds `capability` (lib/combined.rego entries).
token_holders(capability) := [info |
	some info in combined.workloads
	info.token
	[info.ns, info.account, capability] in combined.service_account_grants
]

holder_message(info, what, capability) := sprintf("%s runs as ServiceAccount %s/%s, which %s (through %s)", [
	k8s.subject(info.w), info.ns, info.account, what,
	concat(", ", combined.service_account_grant_sources([info.ns, info.account], capability)),
])

# METADATA
# title: Workload runs with cluster-admin equivalent rights
# description: >-
#   The workload's pods mount a token for a ServiceAccount bound to cluster-admin or a role with every
#   verb on every resource. Whoever compromises the workload controls the cluster (or the namespace,
#   when bound by a RoleBinding). Pods that do not mount the token pass.
# custom:
#   rule_id: rbac.workload_admin
#   severity: critical
#   remediation: "Give the workload its own ServiceAccount bound to the few verbs and resources it needs, or set automountServiceAccountToken: false."
#   kinds: [workloads]
#   controls: {cis-k8s: ["5.1.1"], nsa-cisa: [pod-security.sa-tokens, authn-authz.rbac], soc2: [CC6.1, CC6.3], iso27001: [A.8.2], pci-dss: [7.2.2, 7.2.5], nist-800-53: [AC-6]}
#   equivalents: {kubescape: [C-0272, C-0267]}
deny contains k8s.result(id, rules[id], holder_message(info, "has cluster-admin rights", "admin"), info.w) if {
	id := "rbac.workload_admin"
	not id in inactive
	some info in token_holders("admin")
}

# METADATA
# title: Workload's ServiceAccount can take over the cluster
# description: >-
#   The workload's pods mount a token for a ServiceAccount that can create or change pods, or read
#   Secrets: enough to start a pod with a more powerful account or to steal its token. (A workload with
#   full admin rights is reported by rbac.workload_admin instead.)
# custom:
#   rule_id: rbac.workload_takeover
#   severity: high
#   remediation: "Remove create/update/patch on pods and read on Secrets from the workload's ServiceAccount, or set automountServiceAccountToken: false."
#   kinds: [workloads]
#   controls: {nsa-cisa: [pod-security.sa-tokens, authn-authz.rbac], soc2: [CC6.1, CC6.3], iso27001: [A.8.2], pci-dss: [7.2.2, 7.2.5], nist-800-53: [AC-6]}
#   equivalents: {kubescape: [C-0267]}
deny contains k8s.result(id, rules[id], holder_message(info, "can create pods or read Secrets", "takeover"), info.w) if {
	id := "rbac.workload_takeover"
	not id in inactive
	some info in token_holders("takeover")
	not [info.ns, info.account, "admin"] in combined.service_account_grants
}
