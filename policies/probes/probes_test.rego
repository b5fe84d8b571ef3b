package gitops_audit.probes_test

import data.gitops_audit.lib.fixtures
import data.gitops_audit.probes
import rego.v1

results(doc) := r if {
	r := probes.deny | probes.warn with input as doc
}

without(field) := fixtures.with_container({field: null})

test_good_passes if {
	count(results(fixtures.good)) == 0
}

test_readiness_missing if {
	"probes.readiness_missing" in fixtures.ids(results(without("readinessProbe")))
}

test_liveness_missing if {
	"probes.liveness_missing" in fixtures.ids(results(without("livenessProbe")))
}

test_null_probe_is_missing if {
	"probes.readiness_missing" in fixtures.ids(results(fixtures.with_container({"readinessProbe": null})))
}

# Every long-running pod: controllers and bare Pods.
test_long_running_kinds_checked if {
	every kind in ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController"] {
		"probes.readiness_missing" in fixtures.ids(results(object.union(without("readinessProbe"), {"kind": kind})))
	}
	pod := json.patch(fixtures.as_kind("Pod"), [{"op": "remove", "path": "/spec/containers/0/readinessProbe"}])
	"probes.readiness_missing" in fixtures.ids(results(pod))
}

# Jobs and CronJobs run to completion; a Pod a Job created too.
test_jobs_not_checked if {
	count(results(object.union(without("readinessProbe"), {"kind": "Job"}))) == 0
	cron := json.patch(fixtures.as_kind("CronJob"), [{"op": "remove", "path": "/spec/jobTemplate/spec/template/spec/containers/0/readinessProbe"}])
	count(results(cron)) == 0
	job_pod := json.patch(fixtures.as_kind("Pod"), [
		{"op": "remove", "path": "/spec/containers/0/readinessProbe"},
		{"op": "add", "path": "/metadata/ownerReferences", "value": [{"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "1"}]},
	])
	count(results(job_pod)) == 0
}

test_init_containers_need_no_probes if {
	doc := json.patch(fixtures.good, [{"op": "add", "path": "/spec/template/spec/initContainers", "value": [{"name": "init", "image": "busybox:1.36"}]}])
	count(results(doc)) == 0
}

test_undeclared_port if {
	"probes.undeclared_port" in fixtures.ids(results(fixtures.with_container({"readinessProbe": {"httpGet": {"path": "/", "port": 9090}}})))
	"probes.undeclared_port" in fixtures.ids(results(fixtures.with_container({"livenessProbe": {"tcpSocket": {"port": "admin"}}})))
	"probes.undeclared_port" in fixtures.ids(results(fixtures.with_container({"startupProbe": {"grpc": {"port": 9000}}})))
}

test_declared_ports_pass if {
	count(results(fixtures.with_container({"readinessProbe": {"httpGet": {"path": "/", "port": 8080}}}))) == 0
	count(results(fixtures.with_container({"readinessProbe": {"httpGet": {"path": "/", "port": "8080"}}}))) == 0
	count(results(fixtures.with_container({"readinessProbe": {"exec": {"command": ["true"]}}}))) == 0
}

test_gate_names_long_running_kinds if {
	probes.gitops_audit_kinds == data.gitops_audit.lib.k8s.long_running_kinds
}
