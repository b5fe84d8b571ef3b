# Readiness and liveness probes of long-running workloads.
package gitops_audit.probes

import data.gitops_audit.lib.k8s
import data.gitops_audit.lib.k8s.input_subject as subject
import data.gitops_audit.lib.k8s.input_pod_spec as pod_spec
import rego.v1

# Rule values of lib/k8s.rego are read through full-path imports, functions through `k8s.` (see lib/k8s.rego).

# Kinds these rules apply to: gitops-audit skips the package for other documents.
gitops_audit_kinds := {"Deployment", "StatefulSet", "DaemonSet"}

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

app_containers contains c if {
	input.kind in {"Deployment", "StatefulSet", "DaemonSet"}
	some c in object.get(pod_spec, "containers", [])
}

deny contains k8s.finding(id, rules[id], msg) if {
	id := "probes.readiness_missing"
	some c in app_containers
	not c.readinessProbe
	msg := sprintf("%s: container %q has no readinessProbe", [subject, c.name])
}

warn contains k8s.finding(id, rules[id], msg) if {
	id := "probes.liveness_missing"
	some c in app_containers
	not c.livenessProbe
	msg := sprintf("%s: container %q has no livenessProbe", [subject, c.name])
}

probe_port(probe) := probe.httpGet.port

probe_port(probe) := probe.tcpSocket.port

probe_port(probe) := probe.grpc.port

declared(c, port) if {
	is_number(port)
	some p in c.ports
	p.containerPort == port
}

declared(c, port) if {
	is_string(port)
	some p in c.ports
	p.name == port
}

deny contains k8s.finding(id, rules[id], msg) if {
	id := "probes.undeclared_port"
	some c in app_containers
	some kind in ["readinessProbe", "livenessProbe", "startupProbe"]
	port := probe_port(c[kind])
	not declared(c, port)
	msg := sprintf("%s: container %q %s uses port %v, which the container does not declare", [
		subject, c.name, kind, port,
	])
}
