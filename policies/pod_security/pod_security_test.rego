package gitops_audit.pod_security_test

import data.gitops_audit.lib.fixtures
import data.gitops_audit.pod_security
import rego.v1

security(ctx) := fixtures.deployment(object.union(object.remove(fixtures.good_container, ["securityContext"]), {"securityContext": ctx}))

test_good_passes if {
	count(pod_security.deny) == 0 with input as fixtures.good
}

test_privileged if {
	"pod_security.privileged" in fixtures.ids(pod_security.deny) with input as security({"privileged": true, "allowPrivilegeEscalation": false, "runAsNonRoot": true})
}

test_allow_privilege_escalation if {
	"pod_security.allow_privilege_escalation" in fixtures.ids(pod_security.deny) with input as security({"runAsNonRoot": true})
}

test_run_as_non_root if {
	"pod_security.run_as_non_root" in fixtures.ids(pod_security.deny) with input as security({"allowPrivilegeEscalation": false})
}

test_run_as_non_root_on_pod_passes if {
	doc := fixtures.with_pod({"securityContext": {"runAsNonRoot": true}, "containers": [object.union(fixtures.good_container, {"securityContext": {"allowPrivilegeEscalation": false}})]})
	count(pod_security.deny) == 0 with input as doc
}

test_host_namespaces if {
	every field in ["hostNetwork", "hostPID", "hostIPC"] {
		"pod_security.host_namespaces" in fixtures.ids(pod_security.deny) with input as fixtures.with_pod({field: true})
	}
}

test_host_path if {
	"pod_security.host_path" in fixtures.ids(pod_security.deny) with input as fixtures.with_pod({"volumes": [{"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}]})
}

# A container's securityContext overrides the pod's (item 9 of the issue 5 review).
pod_and_container(pod_ctx, container_ctx) := fixtures.with_pod({
	"securityContext": pod_ctx,
	"containers": [object.union(object.remove(fixtures.good_container, ["securityContext"]), {"securityContext": container_ctx})],
})

run_as_non_root_messages(doc) := msgs if {
	results := pod_security.deny with input as doc
	msgs := {r.msg | some r in results; r.rule_id == "pod_security.run_as_non_root"}
}

test_container_run_as_non_root_false_overrides_pod if {
	doc := pod_and_container({"runAsNonRoot": true}, {"allowPrivilegeEscalation": false, "runAsNonRoot": false})
	run_as_non_root_messages(doc) == {`Deployment/shop/web: container "app" sets runAsNonRoot: false, which overrides the pod's runAsNonRoot: true`}
}

test_container_run_as_user_zero_under_non_root_pod if {
	doc := pod_and_container({"runAsNonRoot": true}, {"allowPrivilegeEscalation": false, "runAsUser": 0})
	run_as_non_root_messages(doc) == {`Deployment/shop/web: container "app" sets runAsUser: 0 with runAsNonRoot: true, so the kubelet will not start it`}
}

test_container_root_with_run_as_non_root_false if {
	doc := pod_and_container({"runAsNonRoot": true}, {"allowPrivilegeEscalation": false, "runAsNonRoot": false, "runAsUser": 0})
	run_as_non_root_messages(doc) == {`Deployment/shop/web: container "app" runs as root (runAsUser: 0)`}
}

test_pod_run_as_user_zero if {
	doc := pod_and_container({"runAsNonRoot": true, "runAsUser": 0}, {"allowPrivilegeEscalation": false})
	count(run_as_non_root_messages(doc)) == 1
}

test_container_user_overrides_pod_root_user if {
	doc := pod_and_container({"runAsNonRoot": true, "runAsUser": 0}, {"allowPrivilegeEscalation": false, "runAsUser": 1000})
	count(pod_security.deny) == 0 with input as doc
}

test_container_non_root_overrides_pod_false if {
	doc := pod_and_container({"runAsNonRoot": false}, {"allowPrivilegeEscalation": false, "runAsNonRoot": true})
	count(pod_security.deny) == 0 with input as doc
}

test_init_container_overrides_pod if {
	init := object.union(fixtures.good_container, {"name": "init", "securityContext": {"allowPrivilegeEscalation": false, "runAsNonRoot": false}})
	doc := fixtures.with_pod({"securityContext": {"runAsNonRoot": true}, "initContainers": [init]})
	run_as_non_root_messages(doc) == {`Deployment/shop/web: initContainer "init" sets runAsNonRoot: false, which overrides the pod's runAsNonRoot: true`}
}
