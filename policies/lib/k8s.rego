# Helpers shared by the built-in pack: pod specs, containers, results, configuration and audit context.
#
# Every value read from a manifest goes through a typed view first (obj/arr/str, or the normalised
# `input_*` rules below): a valid manifest may hold `null` where a map or list is expected
# (`resources.limits:` with nothing after it, an empty `securityContext:`), and a built-in called on the
# wrong type is an evaluation error in regorus (undefined in OPA). The pack never errors on a document.
package gitops_audit.lib.k8s

import rego.v1

pod_controllers := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController"}

workload_kinds := pod_controllers | {"Pod", "CronJob"}

# Pods of these kinds run until stopped: probes make sense for them (not for Jobs and CronJobs).
long_running_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Pod"}

# Kinds that keep several identical replicas (replica count, spread, disruption budgets).
replicated_kinds := {"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"}

# Typed views: the value when it has the type, else the empty value of that type.
obj(x) := x if {
	is_object(x)
} else := {}

arr(x) := x if {
	is_array(x)
} else := []

str(x) := x if {
	is_string(x)
} else := ""

# The pod spec of any workload kind as an object (undefined for other kinds).
pod_spec(o) := obj(object.get(o, ["spec", "template", "spec"], {})) if o.kind in pod_controllers

pod_spec(o) := obj(object.get(o, "spec", {})) if o.kind == "Pod"

pod_spec(o) := obj(object.get(o, ["spec", "jobTemplate", "spec", "template", "spec"], {})) if o.kind == "CronJob"

# Labels of the pods a workload creates (a Pod's own labels).
pod_labels(o) := obj(object.get(o, ["metadata", "labels"], {})) if o.kind == "Pod"

pod_labels(o) := obj(object.get(o, ["spec", "template", "metadata", "labels"], {})) if o.kind in pod_controllers

pod_labels(o) := obj(object.get(o, ["spec", "jobTemplate", "spec", "template", "metadata", "labels"], {})) if {
	o.kind == "CronJob"
}

is_workload(o) if pod_spec(o)

# Long-running controllers, the kinds that serve traffic and need probes.
is_service_workload(o) if o.kind in {"Deployment", "StatefulSet", "DaemonSet"}

# A pod created by a Job (live state): it ends by design, like its Job.
owned_by_job(o) if {
	some ref in arr(object.get(o, ["metadata", "ownerReferences"], []))
	object.get(ref, "kind", "") == "Job"
}

name_of(o) := str(object.get(o, ["metadata", "name"], ""))

namespace_of(o) := str(object.get(o, ["metadata", "namespace"], ""))

subject(o) := sprintf("%s/%s/%s", [str(object.get(o, "kind", "")), ns, name_of(o)]) if {
	ns := namespace_of(o)
	ns != ""
} else := sprintf("%s/%s", [str(object.get(o, "kind", "")), name_of(o)])

resource(o) := {
	"kind": str(object.get(o, "kind", "")),
	"namespace": namespace_of(o),
	"name": name_of(o),
}

# The result object every built-in rule returns: msg plus rule metadata, and the object it is about
# (`resource` lets combined rules point at one object).
result(rule_id, info, msg, o) := {
	"msg": msg,
	"rule_id": rule_id,
	"severity": info.severity,
	"title": info.title,
	"remediation": info.remediation,
	"resource": resource(o),
}

# Configuration from data files: data.gitops_audit.config.<key>, with defaults.
config := c if {
	c := data.gitops_audit.config
	is_object(c)
} else := {}

setting(key, default_value) := object.get(config, key, default_value)

# Which rules run. Every rule runs unless `disable` names it, except the opt-in rules below, which run
# only when `enable` names them (or holds "all"): Polaris' reliability and best-practice warnings, which fire
# on most workloads of most fleets and are about operations rather than security or compliance. Every rule
# body starts with `not id in inactive` (this set, read through a full-path import: one lookup per rule).
# tests/catalog/test_catalog.py keeps this set equal to the rules whose METADATA says `custom.default: off`.
opt_in_rules := {
	"images.pull_policy_not_always",
	"metadata.instance_label_mismatch",
	"reliability.pdb_missing",
	"reliability.priority_class_missing",
	"reliability.replicas_missing",
	"reliability.topology_spread_missing",
	"resources.cpu_limit_missing",
}

enabled_rules := {r | some r in arr(setting("enable", []))}

inactive_rules := (opt_in_rules - enabled_rules) | {r | some r in arr(setting("disable", []))} if {
	not "all" in enabled_rules
} else := {r | some r in arr(setting("disable", []))}

# Audit context: data.gitops_audit.target/side are set by `gitops-audit` (absent under `policy test`).
# Read one literal field path at a time, never the whole target object nor data.gitops_audit: the run's
# result cache shares results between targets that agree on every target field the loaded policies
# mention, so the pack mentions only `env`. (A rule needing the name reads data.gitops_audit.target.name
# itself, and makes results per target.)
target_env := v if {
	v := data.gitops_audit.target.env
} else := ""

side := s if {
	s := data.gitops_audit.side
} else := ""

# The literal path rather than target_env: without a target, no env is production (even "").
is_production if {
	data.gitops_audit.target.env in setting("production_envs", ["production", "prod"])
}

# Kubernetes quantities ("500m", "1Gi", 2) as numbers; undefined for anything else (never an error).
quantity(q) := units.parse(q) if {
	is_string(q)
	regex.match(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$`, q)
} else := q if {
	is_number(q)
}

# Percentages ("50%") and integers of an IntOrString field: {"percent": bool, "value": number}.
int_or_percent(v) := {"percent": false, "value": v} if is_number(v)

int_or_percent(v) := {"percent": true, "value": to_number(trim_suffix(v, "%"))} if {
	is_string(v)
	regex.match(`^[0-9]+%$`, v)
}

int_or_percent(v) := {"percent": false, "value": to_number(v)} if {
	is_string(v)
	regex.match(`^[0-9]+$`, v)
}

# Does a label selector ({matchLabels, matchExpressions}) select these labels? An empty selector selects
# every pod (NetworkPolicy podSelector semantics); a selector that is not an object selects nothing.
selects(selector, labels) if {
	is_object(selector)
	every k, v in obj(object.get(selector, "matchLabels", {})) {
		labels[k] == v
	}
	every e in arr(object.get(selector, "matchExpressions", [])) {
		expression_matches(e, labels)
	}
}

expression_matches(e, labels) if {
	e.operator == "In"
	labels[e.key] in arr(object.get(e, "values", []))
}

expression_matches(e, labels) if {
	e.operator == "NotIn"
	not labels[e.key] in arr(object.get(e, "values", []))
}

expression_matches(e, labels) if {
	e.operator == "Exists"
	labels[e.key]
}

expression_matches(e, labels) if {
	e.operator == "DoesNotExist"
	not labels[e.key]
}

# Per-document values as rules. regorus caches rule values within a query but not function calls, and
# each call is costly, so the per-document packages read these rules instead of calling helpers.
#
# Read them by their full path (`import data.gitops_audit.lib.k8s.input_containers as ...`), never as
# `k8s.input_containers` through `import data.gitops_audit.lib.k8s`: regorus evaluates every rule of
# this package for a rule reference through a package alias (about 0.2 ms per document); calling a
# function through the alias (`k8s.setting(...)`) is fine.

# One else-chain (the common kinds first): cheaper than a definition per kind, each evaluated.
raw_pod_spec := input.spec.template.spec if {
	input.kind in pod_controllers
} else := input.spec if {
	input.kind == "Pod"
} else := input.spec.jobTemplate.spec.template.spec if {
	input.kind == "CronJob"
}

# The pod spec as an object ({} when absent or null) for workloads; undefined for other kinds.
input_pod_spec := obj(raw_pod_spec) if input.kind in workload_kinds

# The pod's securityContext as an object.
input_pod_security := obj(object.get(input_pod_spec, "securityContext", {}))

# The pod template's metadata (a Pod's own metadata).
input_pod_metadata := obj(input.metadata) if {
	input.kind == "Pod"
} else := obj(object.get(input, ["spec", "template", "metadata"], {})) if {
	input.kind in pod_controllers
} else := obj(object.get(input, ["spec", "jobTemplate", "spec", "template", "metadata"], {})) if {
	input.kind == "CronJob"
}

# One entry per container and initContainer, with typed views of the fields rules read:
# {"container", "init", "index", "name", "label", "image", "security", "requests", "limits", "ports", "env"}.
# A container without a name is still checked (labelled by its position).
input_containers := array.concat(
	[entry(c, i, false) | some i, c in arr(object.get(input_pod_spec, "containers", [])); is_object(c)],
	[entry(c, i, true) | some i, c in arr(object.get(input_pod_spec, "initContainers", [])); is_object(c)],
)

entry(c, i, init) := {
	"container": c,
	"init": init,
	"index": i,
	"name": name,
	"label": label(name, i, init),
	"image": str(object.get(c, "image", "")),
	"security": obj(object.get(c, "securityContext", {})),
	"requests": obj(object.get(c, ["resources", "requests"], {})),
	"limits": obj(object.get(c, ["resources", "limits"], {})),
	"ports": [p | some p in arr(object.get(c, "ports", [])); is_object(p)],
	"env": [e | some e in arr(object.get(c, "env", [])); is_object(e)],
} if {
	name := str(object.get(c, "name", ""))
}

label(name, _, init) := sprintf("initContainer %q", [name]) if {
	init
	name != ""
} else := sprintf("container %q", [name]) if {
	name != ""
}

label(name, i, init) := sprintf("initContainers[%d] (no name)", [i]) if {
	init
	name == ""
}

label(name, i, init) := sprintf("containers[%d] (no name)", [i]) if {
	not init
	name == ""
}

input_subject := subject(input)

input_resource := resource(input)

# result() for the document under evaluation.
finding(rule_id, info, msg) := {
	"msg": msg,
	"rule_id": rule_id,
	"severity": info.severity,
	"title": info.title,
	"remediation": info.remediation,
	"resource": input_resource,
}
