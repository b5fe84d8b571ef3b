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
