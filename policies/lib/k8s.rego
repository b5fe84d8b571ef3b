# Helpers shared by the built-in pack: pod specs, containers, results, configuration and audit context.
package gitops_audit.lib.k8s

import rego.v1

pod_controllers := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController"}

workload_kinds := pod_controllers | {"Pod", "CronJob"}

# The pod spec of any workload kind (undefined for other kinds).
pod_spec(obj) := obj.spec if obj.kind == "Pod"

pod_spec(obj) := obj.spec.template.spec if obj.kind in pod_controllers

pod_spec(obj) := obj.spec.jobTemplate.spec.template.spec if obj.kind == "CronJob"

is_workload(obj) if pod_spec(obj)

# Long-running controllers, the kinds that serve traffic and need probes.
is_service_workload(obj) if obj.kind in {"Deployment", "StatefulSet", "DaemonSet"}

# [{"container": c, "init": bool}] for containers and initContainers of a workload.
containers(obj) := array.concat(
	[{"container": c, "init": false} | some c in object.get(pod_spec(obj), "containers", [])],
	[{"container": c, "init": true} | some c in object.get(pod_spec(obj), "initContainers", [])],
)

container_label(entry) := sprintf("initContainer %q", [entry.container.name]) if entry.init

container_label(entry) := sprintf("container %q", [entry.container.name]) if not entry.init

subject(obj) := sprintf("%s/%s/%s", [obj.kind, obj.metadata.namespace, obj.metadata.name]) if {
	obj.metadata.namespace
} else := sprintf("%s/%s", [obj.kind, obj.metadata.name])

resource(obj) := {
	"kind": object.get(obj, "kind", ""),
	"namespace": object.get(object.get(obj, "metadata", {}), "namespace", ""),
	"name": object.get(object.get(obj, "metadata", {}), "name", ""),
}

# The result object every built-in rule returns: msg plus rule metadata, and the object it is about
# (`resource` lets combined rules point at one object).
result(rule_id, info, msg, obj) := {
	"msg": msg,
	"rule_id": rule_id,
	"severity": info.severity,
	"title": info.title,
	"remediation": info.remediation,
	"resource": resource(obj),
}

# Configuration from data files: data.gitops_audit.config.<key>, with defaults.
config := c if {
	c := data.gitops_audit.config
} else := {}

setting(key, default_value) := object.get(config, key, default_value)

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

# Kubernetes quantities ("500m", "1Gi", 2) as numbers.
quantity(q) := units.parse(sprintf("%v", [q]))

is_system_subject(s) if startswith(s.name, "system:")

# Per-document values as rules. regorus caches rule values within a query but not function calls, and
# each call is costly, so the per-document packages read these rules instead of calling helpers.
#
# Read them by their full path (`import data.gitops_audit.lib.k8s.input_containers as ...`), never as
# `k8s.input_containers` through `import data.gitops_audit.lib.k8s`: regorus evaluates every rule of
# this package for a rule reference through a package alias (about 0.2 ms per document); calling a
# function through the alias (`k8s.setting(...)`) is fine.

# One else-chain (the common kinds first): cheaper than a definition per kind, each evaluated.
input_pod_spec := input.spec.template.spec if {
	input.kind in pod_controllers
} else := input.spec if {
	input.kind == "Pod"
} else := input.spec.jobTemplate.spec.template.spec if {
	input.kind == "CronJob"
}

# [{"container", "init", "label"}] for containers and initContainers of the document.
input_containers := array.concat(
	[{"container": c, "init": false, "label": sprintf("container %q", [c.name])} |
		some c in object.get(input_pod_spec, "containers", [])],
	[{"container": c, "init": true, "label": sprintf("initContainer %q", [c.name])} |
		some c in object.get(input_pod_spec, "initContainers", [])],
)

input_subject := sprintf("%s/%s/%s", [input.kind, input.metadata.namespace, input.metadata.name]) if {
	input.metadata.namespace
} else := sprintf("%s/%s", [input.kind, input.metadata.name])

input_resource := {
	"kind": object.get(input, "kind", ""),
	"namespace": object.get(object.get(input, "metadata", {}), "namespace", ""),
	"name": object.get(object.get(input, "metadata", {}), "name", ""),
}

# result() for the document under evaluation.
finding(rule_id, info, msg) := {
	"msg": msg,
	"rule_id": rule_id,
	"severity": info.severity,
	"title": info.title,
	"remediation": info.remediation,
	"resource": input_resource,
}
