# RBAC semantics shared by the rbac packages: what a PolicyRule grants, the built-in ClusterRoles, and the
# configurable exemptions (provider and Kubernetes defaults).
#
# A rule grants (verb, apiGroup, resource) the way the API server authorizes a request
# (k8s.io/kubernetes pkg/apis/rbac/v1 evaluation helpers): the verb is listed or `*`, the group is listed
# or `*`, and the resource is listed, `*`, or, for a subresource, `*/<subresource>`. One extension: a
# `<resource>/*` entry is read as every subresource of that resource. The API server does not expand it
# (such a rule grants nothing today), but it states the intent to grant pods/exec and pods/attach, and
# Kubescape reads it that way; the pack reports it rather than trust that it stays inert.
package gitops_audit.lib.rbac

import data.gitops_audit.lib.k8s
import rego.v1

rbac_group := "rbac.authorization.k8s.io"

# The typed lists of a PolicyRule.
verbs(r) := {v | some v in k8s.arr(object.get(r, "verbs", [])); is_string(v)}

groups(r) := {g | some g in k8s.arr(object.get(r, "apiGroups", [])); is_string(g)}

resources(r) := {x | some x in k8s.arr(object.get(r, "resources", [])); is_string(x)}

names(r) := k8s.arr(object.get(r, "resourceNames", []))

# A (group, resource) request with the two globs that also match it: `*/<subresource>` (API server) and
# `<resource>/*` (see the package comment).
request(group, resource) := {"group": group, "resource": resource, "globs": globs} if {
	parts := split(resource, "/")
	count(parts) == 2
	globs := {concat("/", ["*", parts[1]]), concat("/", [parts[0], "*"])}
} else := {"group": group, "resource": resource, "globs": set()}

# Does a rule (as its verb, group and resource sets) grant one of `wanted` verbs on one of the requests?
grants_sets(v, g, res, wanted, requests) if {
	verb_ok(v, wanted)
	some req in requests
	group_ok(g, req.group)
	resource_ok(res, req)
}

verb_ok(v, _) if "*" in v

verb_ok(v, wanted) if count(v & wanted) > 0

group_ok(g, _) if "*" in g

group_ok(g, group) if group in g

resource_ok(res, _) if "*" in res

resource_ok(res, req) if req.resource in res

resource_ok(res, req) if count(res & req.globs) > 0

# What each capability means, as (verbs, requests). `get` on pods/exec, attach and portforward counts:
# the API server authorizes the WebSocket form of these calls as `get`.
capabilities := {
	"exec_attach": {"verbs": {"create", "get"}, "requests": [request("", "pods/exec"), request("", "pods/attach")]},
	"portforward": {"verbs": {"create", "get"}, "requests": [request("", "pods/portforward")]},
	"secrets_read": {"verbs": {"get", "list", "watch"}, "requests": [request("", "secrets")]},
	"delete": {"verbs": {"delete", "deletecollection"}, "requests": [
		request("", "secrets"), request("", "pods"), request("", "services"),
		request("apps", "deployments"), request("apps", "replicasets"), request("apps", "daemonsets"),
		request("apps", "statefulsets"), request("batch", "jobs"), request("batch", "cronjobs"),
	]},
	"events_delete": {"verbs": {"delete", "deletecollection"}, "requests": [request("", "events"), request("events.k8s.io", "events")]},
	"impersonate": {"verbs": {"impersonate"}, "requests": [
		request("", "users"), request("", "groups"), request("", "serviceaccounts"),
		request("authentication.k8s.io", "uids"), request("authentication.k8s.io", "userextras/scopes"),
	]},
	"bind": {"verbs": {"bind"}, "requests": [request(rbac_group, "roles"), request(rbac_group, "clusterroles")]},
	"escalate": {"verbs": {"escalate"}, "requests": [request(rbac_group, "roles"), request(rbac_group, "clusterroles")]},
	"create_pods": {"verbs": {"create"}, "requests": [request("", "pods")]},
	"pod_write": {"verbs": {"create", "update", "patch"}, "requests": [request("", "pods")]},
}

# Secrets read through a rule narrowed by resourceNames reaches only the named Secrets: CIS 5.1.2's own
# remediation. Other capabilities stay risky with resourceNames (exec into one pod is still exec).
narrowed(r) if count(names(r)) > 0

# The capability names one rule grants.
rule_capabilities(r) := {name |
	v := verbs(r)
	g := groups(r)
	res := resources(r)
	some name, cap in capabilities
	grants_sets(v, g, res, cap.verbs, cap.requests)
	not narrowed_away(r, name)
}

narrowed_away(r, "secrets_read") if narrowed(r)

has_capability(r, name) if {
	cap := capabilities[name]
	grants_sets(verbs(r), groups(r), resources(r), cap.verbs, cap.requests)
	not narrowed_away(r, name)
}

# Full control: every verb (`*`, or all seven standard ones as Polaris counts them) on every resource of
# every group or of the core group (Kubescape's reading: `*` on core resources includes Secrets, Pods and
# ServiceAccount tokens, enough to become anyone).
standard_verbs := {"get", "list", "watch", "create", "update", "patch", "delete"}

is_admin_rule(r) if {
	"*" in resources(r)
	some g in groups(r)
	g in {"*", ""}
	all_verbs(r)
}

all_verbs(r) if "*" in verbs(r)

all_verbs(r) if count(standard_verbs - verbs(r)) == 0

# Capability names granted by a list of PolicyRules ("admin" for full control, "takeover" for
# Kubescape's cluster-takeover set: create/update pods or read Secrets).
capabilities_of(rules) := {name |
	some r in rules
	is_object(r)
	may_grant(r)
	some name in rule_capabilities_extended(r)
}

# Every verb and resource some capability names: a rule with none of them (and no wildcard or subresource
# glob) grants no capability, which most rules of most roles are; skipping them keeps combined runs cheap.
capability_verbs := {v | some cap in capabilities; some v in cap.verbs} | standard_verbs

capability_resources := {req.resource | some cap in capabilities; some req in cap.requests}

may_grant(r) if {
	v := verbs(r)
	any_verb(v)
	res := resources(r)
	any_resource(res)
}

any_verb(v) if "*" in v

any_verb(v) if count(v & capability_verbs) > 0

any_resource(res) if "*" in res

any_resource(res) if count(res & capability_resources) > 0

any_resource(res) if {
	some x in res
	contains(x, "/")
}

rule_capabilities_extended(r) := caps | {"admin" | is_admin_rule(r)} | {"takeover" | count(caps & {"pod_write", "secrets_read"}) > 0} if {
	caps := rule_capabilities(r)
}

# The ClusterRoles every cluster has (Kubernetes bootstrap policy), reduced to the rules that matter to
# the capabilities above. A binding to one of them needs no definition in git.
builtin_cluster_roles := {
	"cluster-admin": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
	"admin": edit_rules,
	"edit": edit_rules,
	"view": [{"apiGroups": [""], "resources": ["pods", "services", "configmaps", "events"], "verbs": ["get", "list", "watch"]}],
}

edit_rules := [
	{"apiGroups": [""], "resources": ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy"], "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]},
	{"apiGroups": [""], "resources": ["pods", "secrets", "services", "configmaps", "persistentvolumeclaims"], "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]},
	{"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]},
	{"apiGroups": ["apps"], "resources": ["deployments", "replicasets", "daemonsets", "statefulsets"], "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]},
	{"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]},
]

# Exemptions (data.gitops_audit.config.rbac_exemptions; each field replaces its default):
# - name_prefixes / names: Roles, ClusterRoles and bindings that Kubernetes or the cloud provider creates
#   (role checks skip such roles; binding checks skip such bindings, not user bindings that refer to them);
# - subjects / subject_prefixes: users and groups that hold these rights by design.
default_exemptions := {
	"name_prefixes": ["system:", "eks:", "gce:"],
	"names": ["cluster-admin", "admin", "edit", "view", "gce:podsecuritypolicy:calico-sa", "aks-service"],
	"subjects": [
		"system:masters", "system:kube-controller-manager", "system:kube-scheduler", "system:kube-proxy",
		"system:nodes",
	],
	"subject_prefixes": ["system:node:", "eks:"],
}

exemptions := {key: value |
	some key, default_value in default_exemptions
	value := k8s.arr(object.get(k8s.obj(k8s.setting("rbac_exemptions", {})), key, default_value))
}

exempt_name(name) if name in exemptions.names

exempt_name(name) if {
	some prefix in exemptions.name_prefixes
	startswith(name, prefix)
}

exempt_subject(s) if object.get(s, "name", "") in exemptions.subjects

exempt_subject(s) if {
	name := k8s.str(object.get(s, "name", ""))
	some prefix in exemptions.subject_prefixes
	startswith(name, prefix)
}

# "User alice", "ServiceAccount shop/web" (a ServiceAccount without a namespace is in the binding's).
subject_label(s, binding_namespace) := sprintf("ServiceAccount %s/%s", [sa_namespace(s, binding_namespace), subject_name(s)]) if {
	object.get(s, "kind", "") == "ServiceAccount"
} else := sprintf("%s %s", [k8s.str(object.get(s, "kind", "")), subject_name(s)])

subject_name(s) := k8s.str(object.get(s, "name", ""))

sa_namespace(s, binding_namespace) := ns if {
	ns := k8s.str(object.get(s, "namespace", ""))
	ns != ""
} else := binding_namespace
