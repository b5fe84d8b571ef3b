# Readiness and liveness probes of long-running pods: Deployments, StatefulSets, DaemonSets,
# ReplicaSets, ReplicationControllers and bare Pods (not Pods a Job created). Jobs and CronJobs run to
# completion and have no probes to check. Only app containers: initContainers run to completion too.
package gitops_audit.probes

import data.gitops_audit.lib.k8s
import data.gitops_audit.lib.k8s.input_containers as containers
import data.gitops_audit.lib.k8s.input_subject as subject
import data.gitops_audit.lib.k8s.inactive_rules as inactive
import rego.v1

# Rule values of lib/k8s.rego are read through full-path imports, functions through `k8s.` (see lib/k8s.rego).

# Kinds these rules apply to: gitops-audit skips the package for other documents.
gitops_audit_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Pod"}

rules := {
	"probes.readiness_missing": {
		"severity": "medium",
		"title": "Container without a readiness probe",
		"remediation": "Add a readinessProbe so traffic only reaches ready pods and rollouts wait for them.",
	},
	"probes.liveness_missing": {
		"severity": "low",
		"title": "Container without a liveness probe",
		"remediation": "Add a livenessProbe so a hung process is restarted.",
	},
	"probes.undeclared_port": {
		"severity": "medium",
		"title": "Probe on a port the container does not declare",
		"remediation": "Point the probe at a declared containerPort (by number or name) or declare the port.",
	},
}

# App containers of long-running pods (a Pod created by a Job is not long-running).
app_containers contains entry if {
	input.kind in gitops_audit_kinds
	not k8s.owned_by_job(input)
	some entry in containers
	not entry.init
}

# METADATA
# title: Container without a readiness probe
# description: Without a readiness probe a pod gets traffic as soon as it starts, and a rollout does not wait for it.
# custom:
#   rule_id: probes.readiness_missing
#   severity: medium
#   remediation: Add a readinessProbe so traffic only reaches ready pods and rollouts wait for them.
#   kinds: [Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Pod]
#   controls: {soc2: [A1.2], iso27001: [A.8.14, A.8.16]}
#   equivalents: {polaris: [readinessProbeMissing], kubescape: [C-0018], kube-linter: [no-readiness-probe]}
deny contains k8s.finding(id, rules[id], msg) if {
	id := "probes.readiness_missing"
	not id in inactive
	some entry in app_containers
	object.get(entry.container, "readinessProbe", null) == null
	msg := sprintf("%s: %s has no readinessProbe", [subject, entry.label])
}

# METADATA
# title: Container without a liveness probe
# description: Without a liveness probe a hung process keeps its pod and its share of traffic until someone notices.
# custom:
#   rule_id: probes.liveness_missing
#   severity: low
#   remediation: Add a livenessProbe so a hung process is restarted.
#   kinds: [Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Pod]
#   controls: {soc2: [A1.2], iso27001: [A.8.14, A.8.16]}
#   equivalents: {polaris: [livenessProbeMissing], kubescape: [C-0056], kube-linter: [no-liveness-probe]}
warn contains k8s.finding(id, rules[id], msg) if {
	id := "probes.liveness_missing"
	not id in inactive
	some entry in app_containers
	object.get(entry.container, "livenessProbe", null) == null
	msg := sprintf("%s: %s has no livenessProbe", [subject, entry.label])
}

probe_port(probe) := port if {
	port := probe.httpGet.port
} else := port if {
	port := probe.tcpSocket.port
} else := port if {
	port := probe.grpc.port
}

declared(entry, port) if {
	is_number(port)
	some p in entry.ports
	p.containerPort == port
}

declared(entry, port) if {
	is_string(port)
	some p in entry.ports
	p.name == port
}

# A numeric port given as a string ("8080") is a number to the kubelet.
declared(entry, port) if {
	is_string(port)
	regex.match(`^[0-9]+$`, port)
	some p in entry.ports
	p.containerPort == to_number(port)
}

# METADATA
# title: Probe on a port the container does not declare
# description: A probe aimed at a port the container does not declare usually points at the wrong port, so the probe never succeeds.
# custom:
#   rule_id: probes.undeclared_port
#   severity: medium
#   remediation: Point the probe at a declared containerPort (by number or name) or declare the port.
#   kinds: [Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Pod]
#   controls: {soc2: [A1.2], iso27001: [A.8.14]}
#   equivalents: {kube-linter: [liveness-port, readiness-port, startup-port]}
deny contains k8s.finding(id, rules[id], msg) if {
	id := "probes.undeclared_port"
	not id in inactive
	some entry in app_containers
	some kind in ["readinessProbe", "livenessProbe", "startupProbe"]
	probe := object.get(entry.container, kind, null)
	is_object(probe)
	port := probe_port(probe)
	port != null
	not declared(entry, port)
	msg := sprintf("%s: %s %s uses port %v, which the container does not declare", [
		subject, entry.label, kind, port,
	])
}
