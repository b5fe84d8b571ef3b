# Indexes over the combined input (`[{path, contents}]`, all documents of one side) for the `*.combined`
# packages.
#
# They live here rather than in the combined packages: the per-document query reads
# `data.gitops_audit.resources[rule]` and `data.gitops_audit.rbac[rule]`, and regorus then evaluates
# every rule of those packages and of their subpackages (`resources.combined`) for
# each document. A rule here is only evaluated when a combined rule body reads it.
package gitops_audit.lib.combined

import data.gitops_audit.lib.k8s
import data.gitops_audit.lib.rbac
import rego.v1

# The documents, each an object with a string kind (anything else in the input is not a manifest).
docs := [c |
	some doc in k8s.arr(input)
	c := object.get(k8s.obj(doc), "contents", null)
	is_object(c)
	is_string(object.get(c, "kind", null))
]

# Namespaces running workloads, outside the exempt ones (resources.combined).
exempt_namespaces := {ns |
	some ns in k8s.setting("exempt_namespaces", ["kube-system", "kube-public", "kube-node-lease"])
}

workload_namespaces contains ns if {
	some obj in docs
	k8s.is_workload(obj)
	ns := k8s.namespace_of(obj)
	not ns in exempt_namespaces
}

# Index once: namespaces holding each kind of interest.
kinds_by_namespace := {[obj.kind, k8s.namespace_of(obj)] |
	some obj in docs
	obj.kind in {"LimitRange", "ResourceQuota"}
}

has_kind(kind, ns) if [kind, ns] in kinds_by_namespace

# ------------------------------------------------------------------ RBAC (rbac_bindings.combined)

# Roles defined in the input, by [kind, namespace, name] (ClusterRoles with namespace ""), with their
# rules (two documents for one role, possible in a `--combine` run over files, pool their rules). Index
# once: a lookup per binding stays cheap with thousands of documents.
role_docs := [[[obj.kind, namespace_for_role(obj), k8s.name_of(obj)], obj] |
	some obj in docs
	obj.kind in {"Role", "ClusterRole"}
]

role_keys := {key | some [key, _] in role_docs}

# One document per role (the usual case): a direct index. Otherwise group (quadratic, but rare).
role_rules := {key: k8s.arr(object.get(obj, "rules", [])) | some [key, obj] in role_docs} if {
	count(role_keys) == count(role_docs)
} else := {key: rules |
	some key in role_keys
	rules := [r | some [key2, obj] in role_docs; key2 == key; some r in k8s.arr(object.get(obj, "rules", []))]
}

namespace_for_role(obj) := k8s.namespace_of(obj) if obj.kind == "Role"

namespace_for_role(obj) := "" if obj.kind == "ClusterRole"

defined_roles := role_keys

# ClusterRoles every cluster has; bindings to them are fine without a definition in git.
builtin_cluster_roles := {name | some name, _ in rbac.builtin_cluster_roles}

extra_cluster_roles := {name | some name in k8s.setting("known_cluster_roles", [])}

role_exists("Role", ns, name) if ["Role", ns, name] in defined_roles

role_exists("ClusterRole", _, name) if ["ClusterRole", "", name] in defined_roles

role_exists("ClusterRole", _, name) if name in builtin_cluster_roles

role_exists("ClusterRole", _, name) if startswith(name, "system:")

role_exists("ClusterRole", _, name) if name in extra_cluster_roles

# Capabilities per role, computed once per role.
role_capabilities := {key: rbac.capabilities_of(rules) | some key, rules in role_rules}

# rbac.capabilities_of(rbac.builtin_cluster_roles[name]) for each built-in ClusterRole, as a constant: it
# never changes, and computing it costs ~20 ms per evaluation (lib/rbac_test.rego keeps them equal).
builtin_capabilities := {
	"cluster-admin": {
		"admin", "bind", "create_pods", "delete", "escalate", "events_delete", "exec_attach", "impersonate",
		"pod_write", "portforward", "secrets_read", "takeover",
	},
	"admin": {"create_pods", "delete", "exec_attach", "impersonate", "pod_write", "portforward", "secrets_read", "takeover"},
	"edit": {"create_pods", "delete", "exec_attach", "impersonate", "pod_write", "portforward", "secrets_read", "takeover"},
	"view": set(),
}

capabilities_of_ref("Role", ns, name) := role_capabilities[["Role", ns, name]]

# A built-in ClusterRole keeps its rights even when git defines one with the same name: the API server
# reconciles the defaults back at start-up (and adds rules, never removes them).
capabilities_of_ref("ClusterRole", _, name) := caps if {
	known_cluster_role(name)
	caps := {c | some c in role_capabilities[["ClusterRole", "", name]]} | {c | some c in builtin_capabilities[name]}
}

known_cluster_role(name) if ["ClusterRole", "", name] in defined_roles

known_cluster_role(name) if name in builtin_cluster_roles

# One entry per binding whose role is known:
# {binding, namespace, kind, ref_kind, ref_name, scope, capabilities, subjects (not exempt), all_subjects}.
# `scope` says where the rights apply: a ClusterRole bound by a RoleBinding is limited to the
# RoleBinding's namespace.
bindings := [info |
	some obj in docs
	obj.kind in {"RoleBinding", "ClusterRoleBinding"}
	ref := k8s.obj(object.get(obj, "roleRef", {}))
	ref_kind := k8s.str(object.get(ref, "kind", ""))
	ref_name := k8s.str(object.get(ref, "name", ""))
	ns := k8s.namespace_of(obj)
	caps := capabilities_of_ref(ref_kind, ns, ref_name)
	all_subjects := [s | some s in k8s.arr(object.get(obj, "subjects", [])); is_object(s)]
	info := {
		"binding": obj,
		"namespace": ns,
		"ref_kind": ref_kind,
		"ref_name": ref_name,
		"scope": scope_of(obj.kind, ns),
		"capabilities": caps,
		"exempt": binding_exempt(obj),
		"subjects": [s | some s in all_subjects; not rbac.exempt_subject(s)],
		"all_subjects": all_subjects,
	}
]

scope_of("ClusterRoleBinding", _) := "cluster-wide"

scope_of("RoleBinding", ns) := sprintf("in namespace %s", [ns])

binding_exempt(obj) := true if {
	rbac.exempt_name(k8s.name_of(obj))
} else := false

# Bindings that are not exempt and grant `capability` to at least one subject that is not exempt.
granting(capability) := [b |
	some b in bindings
	not b.exempt
	capability in b.capabilities
	count(b.subjects) > 0
]

subject_list(b) := concat(", ", sorted_labels) if {
	sorted_labels := sort([rbac.subject_label(s, b.namespace) | some s in b.subjects])
}

# [namespace, account, capability] for every capability a binding grants a ServiceAccount (exempt
# bindings included: a workload runs with whatever its account holds). A set: lookups are O(1).
service_account_grants := {[rbac.sa_namespace(s, b.namespace), rbac.subject_name(s), c] |
	some b in bindings
	some s in b.all_subjects
	object.get(s, "kind", "") == "ServiceAccount"
	some c in b.capabilities
}

# The bindings that grant a ServiceAccount a capability, for messages ("Kind/ns/name").
service_account_grant_sources(key, capability) := sort([k8s.subject(b.binding) |
	some b in bindings
	capability in b.capabilities
	some s in b.all_subjects
	object.get(s, "kind", "") == "ServiceAccount"
	[rbac.sa_namespace(s, b.namespace), rbac.subject_name(s)] == key
])

# ------------------------------------------------------------------ workloads (workloads.combined)

# One entry per workload, computed once: {w, kind, ns, name, labels (of its pods), account, token}.
workloads := [{
	"w": w,
	"kind": w.kind,
	"ns": ns,
	"name": k8s.name_of(w),
	"labels": k8s.pod_labels(w),
	"account": account,
	"token": mounts_token(spec, ns, account),
} |
	some w in docs
	spec := k8s.pod_spec(w)
	ns := k8s.namespace_of(w)
	account := service_account_of(spec)
]

# ServiceAccounts by [namespace, name] whose automountServiceAccountToken is false, and those where it is not
# (two copies of one account, possible in a `--combine` run over files, must agree to turn mounting off).
accounts_without_token := {[k8s.namespace_of(sa), k8s.name_of(sa)] |
	some sa in docs
	sa.kind == "ServiceAccount"
	object.get(sa, "automountServiceAccountToken", null) == false
}

accounts_with_token := {[k8s.namespace_of(sa), k8s.name_of(sa)] |
	some sa in docs
	sa.kind == "ServiceAccount"
	object.get(sa, "automountServiceAccountToken", null) != false
}

account_disables_token(ns, name) if {
	[ns, name] in accounts_without_token
	not [ns, name] in accounts_with_token
}

# The account a pod spec runs as: serviceAccountName, the deprecated serviceAccount, or "default".
service_account_of(spec) := name if {
	name := k8s.str(object.get(spec, "serviceAccountName", ""))
	name != ""
} else := name if {
	name := k8s.str(object.get(spec, "serviceAccount", ""))
	name != ""
} else := "default"

# Does the pod get an API token? The pod's automountServiceAccountToken wins; unset, the ServiceAccount's;
# unset there too (or the account is not in the input), Kubernetes mounts one.
mounts_token(spec, ns, account) := true if {
	object.get(spec, "automountServiceAccountToken", null) == true
} else := false if {
	object.get(spec, "automountServiceAccountToken", null) != null
} else := false if {
	account_disables_token(ns, account)
} else := true

pdbs := [p | some p in docs; p.kind == "PodDisruptionBudget"]

hpas := [h | some h in docs; h.kind == "HorizontalPodAutoscaler"]

network_policies := [n | some n in docs; n.kind == "NetworkPolicy"]

# HPAs scaling a workload (scaleTargetRef kind and name, same namespace).
hpas_for(info) := [h |
	some h in hpas
	k8s.namespace_of(h) == info.ns
	object.get(h, ["spec", "scaleTargetRef", "kind"], "") == info.kind
	object.get(h, ["spec", "scaleTargetRef", "name"], "") == info.name
]

# PDBs whose selector selects the workload's pods (same namespace).
pdbs_for(info) := [p |
	some p in pdbs
	k8s.namespace_of(p) == info.ns
	selector := object.get(p, ["spec", "selector"], null)
	is_object(selector)
	count(selector) > 0
	k8s.selects(selector, info.labels)
]
