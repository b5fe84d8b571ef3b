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
		"remediation": "Set securityContext.runAsNonRoot: true on the pod or the container; no container may set runAsNonRoot: false or runAsUser: 0.",
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

# Kubernetes resolves runAsNonRoot and runAsUser per container: a field set in the container's
# securityContext overrides the pod's, so a container's runAsNonRoot: false (or runAsUser: 0) undoes a
# pod-wide runAsNonRoot: true. null stands for "not set on the pod".
pod_security_context := object.get(pod_spec, "securityContext", {})

pod_run_as_non_root := object.get(pod_security_context, "runAsNonRoot", null)

pod_run_as_user := object.get(pod_security_context, "runAsUser", null)

# One message per container, worst first. runAsUser: 0 is reported even with runAsNonRoot: true:
# such a container never runs as root, but only because it never runs at all (the kubelet refuses to
# start it, CreateContainerConfigError, and Pod Security "restricted" rejects runAsUser: 0 at
# admission); the manifest still asks for root, and the rollout would fail.
root_problem(ctx, non_root, user) := "sets runAsUser: 0 with runAsNonRoot: true, so the kubelet will not start it" if {
	user == 0
	non_root == true
} else := "runs as root (runAsUser: 0)" if {
	user == 0
} else := "sets runAsNonRoot: false, which overrides the pod's runAsNonRoot: true" if {
	ctx.runAsNonRoot == false
	pod_run_as_non_root == true
} else := "does not set runAsNonRoot: true" if {
	non_root != true
}

deny contains k8s.finding(id, rules[id], msg) if {
	id := "pod_security.run_as_non_root"
	some entry in containers
	ctx := object.get(entry.container, "securityContext", {})
	problem := root_problem(
		ctx,
		object.get(ctx, "runAsNonRoot", pod_run_as_non_root),
		object.get(ctx, "runAsUser", pod_run_as_user),
	)
	msg := sprintf("%s: %s %s", [subject, entry.label, problem])
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
