# Pod security basics (a subset of the Pod Security Standards "baseline" and "restricted").
package gitops_audit.pod_security

import data.gitops_audit.lib.k8s
import data.gitops_audit.lib.k8s.input_containers as containers
import data.gitops_audit.lib.k8s.input_subject as subject
import data.gitops_audit.lib.k8s.input_pod_spec as pod_spec
import rego.v1

# Rule values of lib/k8s.rego are read through full-path imports, functions through `k8s.` (see lib/k8s.rego).

# Kinds these rules apply to: gitops-audit skips the package for other documents.
gitops_audit_kinds := data.gitops_audit.lib.k8s.workload_kinds

rules := {
	"pod_security.privileged": {
		"severity": "critical",
		"title": "Privileged container",
		"remediation": "Remove securityContext.privileged; grant only the capabilities needed.",
	},
	"pod_security.allow_privilege_escalation": {
		"severity": "medium",
		"title": "Privilege escalation not disabled",
		"remediation": "Set securityContext.allowPrivilegeEscalation: false on every container.",
	},
	"pod_security.run_as_non_root": {
		"severity": "medium",
		"title": "Container may run as root",
		"remediation": "Set securityContext.runAsNonRoot: true on the pod or the container.",
	},
	"pod_security.host_namespaces": {
		"severity": "high",
		"title": "Pod shares host namespaces",
		"remediation": "Remove hostNetwork, hostPID and hostIPC.",
	},
	"pod_security.host_path": {
		"severity": "high",
		"title": "Pod mounts a hostPath volume",
		"remediation": "Use a PersistentVolumeClaim, emptyDir, ConfigMap or Secret instead of hostPath.",
	},
}

deny contains k8s.finding(id, rules[id], msg) if {
	id := "pod_security.privileged"
	some entry in containers
	entry.container.securityContext.privileged == true
	msg := sprintf("%s: %s is privileged", [subject, entry.label])
}

deny contains k8s.finding(id, rules[id], msg) if {
	id := "pod_security.allow_privilege_escalation"
	some entry in containers
	not entry.container.securityContext.allowPrivilegeEscalation == false
	msg := sprintf("%s: %s does not set allowPrivilegeEscalation: false", [subject, entry.label])
}

pod_non_root if pod_spec.securityContext.runAsNonRoot == true

deny contains k8s.finding(id, rules[id], msg) if {
	id := "pod_security.run_as_non_root"
	some entry in containers
	not entry.container.securityContext.runAsNonRoot == true
	not pod_non_root
	msg := sprintf("%s: %s does not set runAsNonRoot: true", [subject, entry.label])
}

deny contains k8s.finding(id, rules[id], msg) if {
	id := "pod_security.host_namespaces"
	some field in ["hostNetwork", "hostPID", "hostIPC"]
	pod_spec[field] == true
	msg := sprintf("%s: %s is true", [subject, field])
}

deny contains k8s.finding(id, rules[id], msg) if {
	id := "pod_security.host_path"
	some v in pod_spec.volumes
	v.hostPath
	msg := sprintf("%s: volume %q mounts hostPath %s", [subject, v.name, v.hostPath.path])
}
