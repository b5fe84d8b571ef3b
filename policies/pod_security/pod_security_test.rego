package gitops_audit.pod_security_test

import data.gitops_audit.lib.fixtures
import data.gitops_audit.pod_security
import rego.v1

results(doc) := r if {
	r := pod_security.deny | pod_security.warn with input as doc
}

security(ctx) := fixtures.with_container({"securityContext": ctx})

hardened := fixtures.good_container.securityContext

test_good_passes if {
	count(results(fixtures.good)) == 0
}

test_good_passes_as_every_workload_kind if {
	every kind in ["Pod", "CronJob", "Job", "StatefulSet", "DaemonSet", "ReplicaSet"] {
		count(results(fixtures.as_kind(kind))) == 0
	}
}

test_privileged if {
	"pod_security.privileged" in fixtures.ids(results(security(object.union(hardened, {"privileged": true}))))
}

test_privileged_in_pod_without_container_name if {
	doc := fixtures.with_container({"name": null, "securityContext": object.union(hardened, {"privileged": true})})
	msgs := {r.msg | some r in results(doc); r.rule_id == "pod_security.privileged"}
	msgs == {"Deployment/shop/web: containers[0] (no name) is privileged"}
}

test_allow_privilege_escalation if {
	"pod_security.allow_privilege_escalation" in fixtures.ids(results(security(object.remove(hardened, ["allowPrivilegeEscalation"]))))
	"pod_security.allow_privilege_escalation" in fixtures.ids(results(security(object.union(hardened, {"allowPrivilegeEscalation": true}))))
}

test_run_as_non_root if {
	"pod_security.run_as_non_root" in fixtures.ids(results(fixtures.with_pod({
		"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
		"containers": [object.union(object.remove(fixtures.good_container, ["securityContext"]), {"securityContext": object.remove(hardened, ["runAsNonRoot"])})],
	})))
}

test_run_as_non_zero_user_passes if {
	doc := fixtures.with_pod({
		"securityContext": {"runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
		"containers": [object.union(object.remove(fixtures.good_container, ["securityContext"]), {"securityContext": object.remove(hardened, ["runAsNonRoot"])})],
	})
	not "pod_security.run_as_non_root" in fixtures.ids(results(doc))
}

# A container's securityContext overrides the pod's (item 9 of the issue 5 review).
pod_and_container(pod_ctx, container_ctx) := json.patch(fixtures.good, [
	{"op": "replace", "path": "/spec/template/spec/securityContext", "value": pod_ctx},
	{"op": "replace", "path": "/spec/template/spec/containers/0/securityContext", "value": container_ctx},
])

run_as_non_root_messages(doc) := {r.msg | some r in results(doc); r.rule_id == "pod_security.run_as_non_root"}

test_container_run_as_non_root_false_overrides_pod if {
	doc := pod_and_container({"runAsNonRoot": true}, {"allowPrivilegeEscalation": false, "runAsNonRoot": false})
	run_as_non_root_messages(doc) == {`Deployment/shop/web: container "app" sets runAsNonRoot: false, which overrides the pod's runAsNonRoot: true`}
}

test_container_run_as_user_zero_under_non_root_pod if {
	doc := pod_and_container({"runAsNonRoot": true}, {"allowPrivilegeEscalation": false, "runAsUser": 0})
	run_as_non_root_messages(doc) == {`Deployment/shop/web: container "app" sets runAsUser: 0 with runAsNonRoot: true, so the kubelet will not start it`}
}

test_host_namespaces_one_rule_each if {
	fixtures.ids(results(fixtures.with_pod({"hostNetwork": true}))) == {"pod_security.host_network"}
	fixtures.ids(results(fixtures.with_pod({"hostPID": true}))) == {"pod_security.host_pid"}
	fixtures.ids(results(fixtures.with_pod({"hostIPC": true}))) == {"pod_security.host_ipc"}
	count(results(fixtures.with_pod({"hostNetwork": false, "hostPID": false, "hostIPC": false}))) == 0
}

test_host_path if {
	"pod_security.host_path" in fixtures.ids(results(fixtures.with_pod({"volumes": [{"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}]})))
	count(results(fixtures.with_pod({"volumes": [{"name": "tmp", "emptyDir": {}}]}))) == 0
}

test_host_port if {
	"pod_security.host_port" in fixtures.ids(results(fixtures.with_container({"ports": [{"containerPort": 8080, "hostPort": 80}]})))
	count(results(fixtures.with_container({"ports": [{"containerPort": 8080, "hostPort": 0}]}))) == 0
}

test_host_process_pod_and_container if {
	"pod_security.host_process" in fixtures.ids(results(fixtures.with_pod({"securityContext": {"windowsOptions": {"hostProcess": true}}})))
	"pod_security.host_process" in fixtures.ids(results(security(object.union(hardened, {"windowsOptions": {"hostProcess": true}}))))
}

test_proc_mount if {
	"pod_security.proc_mount" in fixtures.ids(results(security(object.union(hardened, {"procMount": "Unmasked"}))))
	count(results(security(object.union(hardened, {"procMount": "Default"})))) == 0
}

test_dangerous_capabilities_any_case if {
	every cap in ["SYS_ADMIN", "net_admin", "All", "CAP_SYS_ADMIN"] {
		"pod_security.dangerous_capabilities" in fixtures.ids(results(security(object.union(hardened, {"capabilities": {"drop": ["ALL"], "add": [cap]}}))))
	}
	count(results(security(object.union(hardened, {"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}})))) == 0
}

insecure_list := [
	"NET_ADMIN", "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
	"SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
]

test_insecure_capabilities if {
	"pod_security.insecure_capabilities" in fixtures.ids(results(security(object.remove(hardened, ["capabilities"]))))
	"pod_security.insecure_capabilities" in fixtures.ids(results(security(object.union(hardened, {"capabilities": {"drop": ["NET_RAW"]}}))))
	not "pod_security.insecure_capabilities" in fixtures.ids(results(security(object.union(hardened, {"capabilities": {"drop": insecure_list}}))))
	not "pod_security.insecure_capabilities" in fixtures.ids(results(security(object.union(hardened, {"capabilities": {"drop": ["all"]}}))))
}

test_read_only_root_filesystem if {
	"pod_security.read_only_root_filesystem" in fixtures.ids(results(security(object.remove(hardened, ["readOnlyRootFilesystem"]))))
}

# No seccomp on the pod: what the container sets decides.
bare_pod(container_ctx) := json.patch(fixtures.good, [
	{"op": "replace", "path": "/spec/template/spec/securityContext", "value": {"runAsNonRoot": true}},
	{"op": "replace", "path": "/spec/template/spec/containers/0/securityContext", "value": container_ctx},
])

base_ctx := {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true}

test_linux_hardening if {
	"pod_security.linux_hardening" in fixtures.ids(results(bare_pod(base_ctx)))
	not "pod_security.linux_hardening" in fixtures.ids(results(bare_pod(object.union(base_ctx, {"seccompProfile": {"type": "RuntimeDefault"}}))))
	not "pod_security.linux_hardening" in fixtures.ids(results(bare_pod(object.union(base_ctx, {"seLinuxOptions": {"level": "s0:c1,c2"}}))))
	not "pod_security.linux_hardening" in fixtures.ids(results(bare_pod(object.union(base_ctx, {"capabilities": {"drop": ["NET_RAW"]}}))))
	"pod_security.linux_hardening" in fixtures.ids(results(bare_pod(object.union(base_ctx, {"capabilities": {"drop": ["ALL"], "add": ["ALL"]}}))))
	"pod_security.linux_hardening" in fixtures.ids(results(bare_pod(object.union(base_ctx, {"seccompProfile": {"type": "Unconfined"}}))))
}

test_linux_hardening_container_unconfined_overrides_pod if {
	doc := pod_and_container({"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}}, object.union(base_ctx, {"seccompProfile": {"type": "Unconfined"}}))
	"pod_security.linux_hardening" in fixtures.ids(results(doc))
}

test_linux_hardening_apparmor_annotation if {
	doc := json.patch(bare_pod(base_ctx), [{"op": "add", "path": "/spec/template/metadata/annotations", "value": {"container.apparmor.security.beta.kubernetes.io/app": "runtime/default"}}])
	not "pod_security.linux_hardening" in fixtures.ids(results(doc))
}

init_container(ctx) := json.patch(fixtures.good, [{
	"op": "add", "path": "/spec/template/spec/initContainers",
	"value": [object.union(fixtures.good_container, {"name": "init", "securityContext": ctx})],
}])

test_init_containers_checked if {
	msgs := {r.msg | some r in results(init_container(object.union(hardened, {"privileged": true}))); r.rule_id == "pod_security.privileged"}
	msgs == {`Deployment/shop/web: initContainer "init" is privileged`}
}

# Empty and null fields are values, never errors.
test_null_security_contexts if {
	doc := json.patch(fixtures.good, [
		{"op": "replace", "path": "/spec/template/spec/securityContext", "value": null},
		{"op": "replace", "path": "/spec/template/spec/containers/0/securityContext", "value": null},
		{"op": "add", "path": "/spec/template/spec/volumes", "value": null},
		{"op": "replace", "path": "/spec/template/spec/containers/0/ports", "value": null},
	])
	ids := fixtures.ids(results(doc))
	"pod_security.allow_privilege_escalation" in ids
	"pod_security.run_as_non_root" in ids
}

test_gate_is_the_workload_kinds if {
	pod_security.gitops_audit_kinds == data.gitops_audit.lib.k8s.workload_kinds
}
