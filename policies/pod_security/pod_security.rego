# Pod security: the Pod Security Standards "baseline" and "restricted" controls that a manifest shows,
# with Polaris' and Kubescape's workload security checks. Containers and initContainers are checked.
package gitops_audit.pod_security

import data.gitops_audit.lib.k8s
import data.gitops_audit.lib.k8s.input_containers as containers
import data.gitops_audit.lib.k8s.input_pod_security as pod_security_context
import data.gitops_audit.lib.k8s.input_pod_spec as pod_spec
import data.gitops_audit.lib.k8s.input_subject as subject
import data.gitops_audit.lib.k8s.inactive_rules as inactive
import rego.v1

# Rule values of lib/k8s.rego are read through full-path imports, functions through `k8s.` (see lib/k8s.rego).

# Kinds these rules apply to: gitops-audit skips the package for other documents.
gitops_audit_kinds := data.gitops_audit.lib.k8s.workload_kinds

# Severity, title and remediation of each result; the METADATA block above each rule carries the same
# three (a test keeps them equal) plus its description, kinds, controls and equivalent checks.
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
		"remediation": "Set securityContext.runAsNonRoot: true (or runAsUser above 0) on the pod or the container; no container may set runAsNonRoot: false or runAsUser: 0.",
	},
	"pod_security.host_network": {
		"severity": "high",
		"title": "Pod uses the host network",
		"remediation": "Remove hostNetwork: true; expose the pod through a Service instead.",
	},
	"pod_security.host_pid": {
		"severity": "high",
		"title": "Pod shares the host PID namespace",
		"remediation": "Remove hostPID: true.",
	},
	"pod_security.host_ipc": {
		"severity": "high",
		"title": "Pod shares the host IPC namespace",
		"remediation": "Remove hostIPC: true.",
	},
	"pod_security.host_path": {
		"severity": "high",
		"title": "Pod mounts a hostPath volume",
		"remediation": "Use a PersistentVolumeClaim, emptyDir, ConfigMap or Secret instead of hostPath.",
	},
	"pod_security.host_port": {
		"severity": "medium",
		"title": "Container binds a host port",
		"remediation": "Remove ports[].hostPort; expose the container through a Service.",
	},
	"pod_security.host_process": {
		"severity": "high",
		"title": "Windows HostProcess container",
		"remediation": "Remove securityContext.windowsOptions.hostProcess from the pod and its containers.",
	},
	"pod_security.proc_mount": {
		"severity": "medium",
		"title": "Container unmasks /proc",
		"remediation": "Remove securityContext.procMount or set it to Default.",
	},
	"pod_security.dangerous_capabilities": {
		"severity": "high",
		"title": "Container adds a dangerous capability",
		"remediation": "Remove ALL, SYS_ADMIN and NET_ADMIN from securityContext.capabilities.add.",
	},
	"pod_security.insecure_capabilities": {
		"severity": "low",
		"title": "Container keeps default Linux capabilities",
		"remediation": "Set securityContext.capabilities.drop: [ALL] and add back only what the process needs.",
	},
	"pod_security.read_only_root_filesystem": {
		"severity": "low",
		"title": "Root filesystem is writable",
		"remediation": "Set securityContext.readOnlyRootFilesystem: true; mount an emptyDir where the process must write.",
	},
	"pod_security.linux_hardening": {
		"severity": "low",
		"title": "No Linux hardening (seccomp, AppArmor, SELinux or dropped capabilities)",
		"remediation": "Set seccompProfile.type: RuntimeDefault on the pod, or an AppArmor/SELinux profile, or drop capabilities.",
	},
}

# METADATA
# title: Privileged container
# description: A privileged container has every capability and all host devices; it can take over the node.
# custom:
#   rule_id: pod_security.privileged
#   severity: critical
#   remediation: Remove securityContext.privileged; grant only the capabilities needed.
#   kinds: [workloads]
#   controls: {cis-k8s: ["5.2.2"], nsa-cisa: [pod-security.enforcement], pss: [baseline], soc2: [CC6.1, CC6.8], iso27001: [A.8.2, A.8.9], pci-dss: [2.2.6, 7.2.2], nist-800-53: [AC-6, CM-6, CM-7]}
#   equivalents: {polaris: [runAsPrivileged], kubescape: [C-0057, C-0193], kube-linter: [privileged-container]}
deny contains k8s.finding(id, rules[id], msg) if {
	id := "pod_security.privileged"
	not id in inactive
	some entry in containers
	entry.security.privileged == true
	msg := sprintf("%s: %s is privileged", [subject, entry.label])
}

# METADATA
# title: Privilege escalation not disabled
# description: >-
#   Without allowPrivilegeEscalation false, a process can gain more privileges than its parent (setuid
#   binaries, file capabilities). The field is per container; Kubernetes has no pod-wide setting.
# custom:
#   rule_id: pod_security.allow_privilege_escalation
#   severity: medium
#   remediation: "Set securityContext.allowPrivilegeEscalation: false on every container."
#   kinds: [workloads]
#   controls: {cis-k8s: ["5.2.6"], nsa-cisa: [pod-security.enforcement], pss: [restricted], soc2: [CC6.1, CC6.8], iso27001: [A.8.2, A.8.9], pci-dss: [2.2.6, 7.2.2], nist-800-53: [AC-6, CM-6]}
#   equivalents: {polaris: [privilegeEscalationAllowed], kubescape: [C-0016, C-0197], kube-linter: [privilege-escalation-container]}
deny contains k8s.finding(id, rules[id], msg) if {
	id := "pod_security.allow_privilege_escalation"
	not id in inactive
	some entry in containers
	not entry.security.allowPrivilegeEscalation == false
	msg := sprintf("%s: %s does not set allowPrivilegeEscalation: false", [subject, entry.label])
}

# Kubernetes resolves runAsNonRoot and runAsUser per container: a field set in the container's
# securityContext overrides the pod's, so a container's runAsNonRoot: false (or runAsUser: 0) undoes a
# pod-wide runAsNonRoot: true. null stands for "not set on the pod".
pod_run_as_non_root := object.get(pod_security_context, "runAsNonRoot", null)

pod_run_as_user := object.get(pod_security_context, "runAsUser", null)

# One message per container, worst first. runAsUser: 0 is reported even with runAsNonRoot: true:
# such a container never runs as root, but only because it never runs at all (the kubelet refuses to
# start it, CreateContainerConfigError, and Pod Security "restricted" rejects runAsUser: 0 at
# admission); the manifest still asks for root, and the rollout would fail. A non-zero runAsUser
# without runAsNonRoot is a non-root user (Polaris and Kubescape accept it too).
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
	not non_root_user(user)
}

non_root_user(user) if {
	is_number(user)
	user > 0
}

# METADATA
# title: Container may run as root
# description: >-
#   A container runs as root unless runAsNonRoot is true or runAsUser is a non-zero user, resolved per
#   container (the container's securityContext overrides the pod's). runAsUser 0 is reported even with
#   runAsNonRoot true: the kubelet would refuse to start that container.
# custom:
#   rule_id: pod_security.run_as_non_root
#   severity: medium
#   remediation: "Set securityContext.runAsNonRoot: true (or runAsUser above 0) on the pod or the container; no container may set runAsNonRoot: false or runAsUser: 0."
#   kinds: [workloads]
#   controls: {cis-k8s: ["5.2.7"], nsa-cisa: [pod-security.non-root], pss: [restricted], soc2: [CC6.1, CC6.8], iso27001: [A.8.2, A.8.9], pci-dss: [2.2.6, 7.2.2], nist-800-53: [AC-6, CM-6]}
#   equivalents: {polaris: [runAsRootAllowed], kubescape: [C-0013, C-0198], kube-linter: [run-as-non-root]}
deny contains k8s.finding(id, rules[id], msg) if {
	id := "pod_security.run_as_non_root"
	not id in inactive
	some entry in containers
	ctx := entry.security
	problem := root_problem(
		ctx,
		object.get(ctx, "runAsNonRoot", pod_run_as_non_root),
		object.get(ctx, "runAsUser", pod_run_as_user),
	)
	msg := sprintf("%s: %s %s", [subject, entry.label, problem])
}

# METADATA
# title: Pod uses the host network
# description: A pod on the host network sees every interface and local service of the node and can sniff its traffic.
# custom:
#   rule_id: pod_security.host_network
#   severity: high
#   remediation: "Remove hostNetwork: true; expose the pod through a Service instead."
#   kinds: [workloads]
#   controls: {cis-k8s: ["5.2.5"], nsa-cisa: [pod-security.enforcement], pss: [baseline], soc2: [CC6.1, CC6.6], iso27001: [A.8.9, A.8.22], pci-dss: [1.3.1, 2.2.6], nist-800-53: [AC-6, SC-7, CM-7]}
#   equivalents: {polaris: [hostNetworkSet], kubescape: [C-0041], kube-linter: [host-network]}
deny contains k8s.finding(id, rules[id], msg) if {
	id := "pod_security.host_network"
	not id in inactive
	pod_spec.hostNetwork == true
	msg := sprintf("%s: hostNetwork is true", [subject])
}

# METADATA
# title: Pod shares the host PID namespace
# description: With hostPID the pod sees and can signal every process of the node.
# custom:
#   rule_id: pod_security.host_pid
#   severity: high
#   remediation: "Remove hostPID: true."
#   kinds: [workloads]
#   controls: {cis-k8s: ["5.2.3"], nsa-cisa: [pod-security.enforcement], pss: [baseline], soc2: [CC6.1, CC6.8], iso27001: [A.8.9], pci-dss: [2.2.6], nist-800-53: [AC-6, SC-39, CM-7]}
#   equivalents: {polaris: [hostPIDSet], kubescape: [C-0038, C-0275], kube-linter: [host-pid]}
deny contains k8s.finding(id, rules[id], msg) if {
	id := "pod_security.host_pid"
	not id in inactive
	pod_spec.hostPID == true
	msg := sprintf("%s: hostPID is true", [subject])
}

# METADATA
# title: Pod shares the host IPC namespace
# description: With hostIPC the pod can read and write the shared memory of every process on the node.
# custom:
#   rule_id: pod_security.host_ipc
#   severity: high
#   remediation: "Remove hostIPC: true."
#   kinds: [workloads]
#   controls: {cis-k8s: ["5.2.4"], nsa-cisa: [pod-security.enforcement], pss: [baseline], soc2: [CC6.1, CC6.8], iso27001: [A.8.9], pci-dss: [2.2.6], nist-800-53: [AC-6, SC-39, CM-7]}
#   equivalents: {polaris: [hostIPCSet], kubescape: [C-0038, C-0276], kube-linter: [host-ipc]}
deny contains k8s.finding(id, rules[id], msg) if {
	id := "pod_security.host_ipc"
	not id in inactive
	pod_spec.hostIPC == true
	msg := sprintf("%s: hostIPC is true", [subject])
}

# METADATA
# title: Pod mounts a hostPath volume
# description: A hostPath volume exposes the node's filesystem (container runtime socket, kubelet credentials) to the pod.
# custom:
#   rule_id: pod_security.host_path
#   severity: high
#   remediation: Use a PersistentVolumeClaim, emptyDir, ConfigMap or Secret instead of hostPath.
#   kinds: [workloads]
#   controls: {cis-k8s: ["5.2.12"], nsa-cisa: [pod-security.enforcement], pss: [baseline], soc2: [CC6.1, CC6.8], iso27001: [A.8.9], pci-dss: [2.2.6], nist-800-53: [AC-6, CM-7]}
#   equivalents: {polaris: [hostPathSet], kubescape: [C-0048, C-0203], kube-linter: [sensitive-host-mounts]}
deny contains k8s.finding(id, rules[id], msg) if {
	id := "pod_security.host_path"
	not id in inactive
	some v in k8s.arr(object.get(pod_spec, "volumes", []))
	host_path := object.get(v, "hostPath", null)
	host_path != null
	msg := sprintf("%s: volume %q mounts hostPath %v", [
		subject, k8s.str(object.get(v, "name", "")), object.get(k8s.obj(host_path), "path", ""),
	])
}

# METADATA
# title: Container binds a host port
# description: A hostPort opens the port on the node itself, bypassing network policies, and limits where the pod can be scheduled.
# custom:
#   rule_id: pod_security.host_port
#   severity: medium
#   remediation: Remove ports[].hostPort; expose the container through a Service.
#   kinds: [workloads]
#   controls: {cis-k8s: ["5.2.13"], nsa-cisa: [pod-security.enforcement], pss: [baseline], soc2: [CC6.1, CC6.6], iso27001: [A.8.9, A.8.20], pci-dss: [1.3.1, 2.2.6], nist-800-53: [SC-7, CM-7]}
#   equivalents: {polaris: [hostPortSet], kubescape: [C-0044, C-0204]}
warn contains k8s.finding(id, rules[id], msg) if {
	id := "pod_security.host_port"
	not id in inactive
	some entry in containers
	some port in entry.ports
	host_port := object.get(port, "hostPort", 0)
	not host_port in {0, null}
	msg := sprintf("%s: %s binds host port %v", [subject, entry.label, host_port])
}

# METADATA
# title: Windows HostProcess container
# description: A HostProcess container runs directly on the Windows node with the node's privileges.
# custom:
#   rule_id: pod_security.host_process
#   severity: high
#   remediation: Remove securityContext.windowsOptions.hostProcess from the pod and its containers.
#   kinds: [workloads]
#   controls: {cis-k8s: ["5.2.11"], nsa-cisa: [pod-security.enforcement], pss: [baseline], soc2: [CC6.1, CC6.8], iso27001: [A.8.2, A.8.9], pci-dss: [2.2.6], nist-800-53: [AC-6, CM-7]}
#   equivalents: {polaris: [hostProcess], kubescape: [C-0202]}
warn contains k8s.finding(id, rules[id], msg) if {
	id := "pod_security.host_process"
	not id in inactive
	object.get(pod_security_context, ["windowsOptions", "hostProcess"], false) == true
	msg := sprintf("%s: the pod sets windowsOptions.hostProcess: true", [subject])
}

warn contains k8s.finding(id, rules[id], msg) if {
	id := "pod_security.host_process"
	not id in inactive
	some entry in containers
	object.get(entry.security, ["windowsOptions", "hostProcess"], false) == true
	msg := sprintf("%s: %s sets windowsOptions.hostProcess: true", [subject, entry.label])
}

# METADATA
# title: Container unmasks /proc
# description: procMount Unmasked exposes kernel interfaces that the container runtime normally hides.
# custom:
#   rule_id: pod_security.proc_mount
#   severity: medium
#   remediation: Remove securityContext.procMount or set it to Default.
#   kinds: [workloads]
#   controls: {nsa-cisa: [pod-security.hardening], pss: [baseline], soc2: [CC6.8], iso27001: [A.8.9], pci-dss: [2.2.6], nist-800-53: [CM-6, CM-7]}
#   equivalents: {polaris: [procMount], kube-linter: [unsafe-proc-mount]}
warn contains k8s.finding(id, rules[id], msg) if {
	id := "pod_security.proc_mount"
	not id in inactive
	some entry in containers
	mount := object.get(entry.security, "procMount", "Default")
	not mount in {"Default", null}
	msg := sprintf("%s: %s sets procMount: %v", [subject, entry.label, mount])
}

# Capability names as written (case-insensitive, with or without the CAP_ prefix).
capability_name(c) := upper(trim_prefix(upper(c), "CAP_")) if is_string(c)

dangerous_capabilities := {"ALL", "SYS_ADMIN", "NET_ADMIN"}

# METADATA
# title: Container adds a dangerous capability
# description: ALL, SYS_ADMIN or NET_ADMIN in capabilities.add give near-root power over the node's kernel or network.
# custom:
#   rule_id: pod_security.dangerous_capabilities
#   severity: high
#   remediation: Remove ALL, SYS_ADMIN and NET_ADMIN from securityContext.capabilities.add.
#   kinds: [workloads]
#   controls: {cis-k8s: ["5.2.9"], nsa-cisa: [pod-security.enforcement], pss: [baseline], soc2: [CC6.1, CC6.8], iso27001: [A.8.2, A.8.9], pci-dss: [2.2.6, 7.2.2], nist-800-53: [AC-6, CM-7]}
#   equivalents: {polaris: [dangerousCapabilities], kubescape: [C-0046, C-0200]}
deny contains k8s.finding(id, rules[id], msg) if {
	id := "pod_security.dangerous_capabilities"
	not id in inactive
	some entry in containers
	some cap in k8s.arr(object.get(entry.security, ["capabilities", "add"], []))
	name := capability_name(cap)
	name in dangerous_capabilities
	msg := sprintf("%s: %s adds capability %s", [subject, entry.label, name])
}

# The capabilities a container keeps unless it drops them (Polaris' list: the runtime defaults and NET_ADMIN).
insecure_capabilities := {
	"NET_ADMIN", "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
	"SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
}

dropped(entry) := {capability_name(c) | some c in k8s.arr(object.get(entry.security, ["capabilities", "drop"], []))}

# METADATA
# title: Container keeps default Linux capabilities
# description: >-
#   A container keeps the runtime's default capabilities (NET_RAW, SETUID, CHOWN...) unless it drops
#   them: drop ALL, or every one of them.
# custom:
#   rule_id: pod_security.insecure_capabilities
#   severity: low
#   remediation: "Set securityContext.capabilities.drop: [ALL] and add back only what the process needs."
#   kinds: [workloads]
#   controls: {cis-k8s: ["5.2.8", "5.2.10"], nsa-cisa: [pod-security.enforcement], pss: [restricted], soc2: [CC6.8], iso27001: [A.8.9], pci-dss: [2.2.6], nist-800-53: [AC-6, CM-7]}
#   equivalents: {polaris: [insecureCapabilities], kubescape: [C-0046, C-0199, C-0201], kube-linter: [drop-net-raw-capability]}
warn contains k8s.finding(id, rules[id], msg) if {
	id := "pod_security.insecure_capabilities"
	not id in inactive
	some entry in containers
	drops := dropped(entry)
	not "ALL" in drops
	missing := insecure_capabilities - drops
	count(missing) > 0
	msg := sprintf("%s: %s does not drop ALL capabilities (keeps %s)", [subject, entry.label, concat(", ", sort(missing))])
}

# METADATA
# title: Root filesystem is writable
# description: A writable root filesystem lets an intruder change binaries and drop tools inside the container.
# custom:
#   rule_id: pod_security.read_only_root_filesystem
#   severity: low
#   remediation: "Set securityContext.readOnlyRootFilesystem: true; mount an emptyDir where the process must write."
#   kinds: [workloads]
#   controls: {nsa-cisa: [pod-security.immutable-fs], soc2: [CC6.8], iso27001: [A.8.9], pci-dss: [2.2.6], nist-800-53: [CM-6, CM-7, SI-7]}
#   equivalents: {polaris: [notReadOnlyRootFilesystem], kubescape: [C-0017], kube-linter: [no-read-only-root-fs]}
warn contains k8s.finding(id, rules[id], msg) if {
	id := "pod_security.read_only_root_filesystem"
	not id in inactive
	some entry in containers
	not entry.security.readOnlyRootFilesystem == true
	msg := sprintf("%s: %s does not set readOnlyRootFilesystem: true", [subject, entry.label])
}

# Linux hardening: a seccomp profile that is not Unconfined (the container's, else the pod's), SELinux
# options (container or pod), an AppArmor profile (field or annotation) or dropped capabilities (without
# adding ALL back).
pod_seccomp := object.get(pod_security_context, ["seccompProfile", "type"], "")

pod_selinux := k8s.obj(object.get(pod_security_context, "seLinuxOptions", {}))

pod_apparmor := object.get(pod_security_context, ["appArmorProfile", "type"], "")

pod_annotations := k8s.obj(object.get(data.gitops_audit.lib.k8s.input_pod_metadata, "annotations", {}))

hardened(entry) if {
	t := object.get(entry.security, ["seccompProfile", "type"], pod_seccomp)
	is_string(t)
	not t in {"", "Unconfined"}
}

hardened(entry) if count(k8s.obj(object.get(entry.security, "seLinuxOptions", {}))) > 0

hardened(_) if count(pod_selinux) > 0

hardened(entry) if {
	t := object.get(entry.security, ["appArmorProfile", "type"], pod_apparmor)
	is_string(t)
	not t in {"", "Unconfined"}
}

hardened(entry) if pod_annotations[concat("", ["container.apparmor.security.beta.kubernetes.io/", entry.name])]

hardened(entry) if {
	count(k8s.arr(object.get(entry.security, ["capabilities", "drop"], []))) > 0
	not "ALL" in {capability_name(c) | some c in k8s.arr(object.get(entry.security, ["capabilities", "add"], []))}
}

# METADATA
# title: No Linux hardening (seccomp, AppArmor, SELinux or dropped capabilities)
# description: >-
#   The container runs with none of the kernel's confinement mechanisms: no seccomp profile (or
#   Unconfined), no AppArmor or SELinux profile, and no dropped capabilities.
# custom:
#   rule_id: pod_security.linux_hardening
#   severity: low
#   remediation: "Set seccompProfile.type: RuntimeDefault on the pod, or an AppArmor/SELinux profile, or drop capabilities."
#   kinds: [workloads]
#   controls: {cis-k8s: ["5.7.2", "5.7.3"], nsa-cisa: [pod-security.hardening], pss: [restricted], soc2: [CC6.8], iso27001: [A.8.9], pci-dss: [2.2.6], nist-800-53: [CM-6, CM-7, SC-39]}
#   equivalents: {polaris: [linuxHardening], kubescape: [C-0055, C-0210]}
warn contains k8s.finding(id, rules[id], msg) if {
	id := "pod_security.linux_hardening"
	not id in inactive
	some entry in containers
	not hardened(entry)
	msg := sprintf("%s: %s has no seccomp, AppArmor or SELinux profile and drops no capabilities", [subject, entry.label])
}
