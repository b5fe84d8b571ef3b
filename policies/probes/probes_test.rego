package gitops_audit.probes_test

import data.gitops_audit.lib.fixtures
import data.gitops_audit.probes
import rego.v1

without(field) := fixtures.deployment(object.remove(fixtures.good_container, [field]))

test_good_passes if {
	count(probes.deny) == 0 with input as fixtures.good
	count(probes.warn) == 0 with input as fixtures.good
}

test_readiness_missing if {
	"probes.readiness_missing" in fixtures.ids(probes.deny) with input as without("readinessProbe")
}

test_liveness_missing if {
	"probes.liveness_missing" in fixtures.ids(probes.warn) with input as without("livenessProbe")
}

test_statefulset_and_daemonset_checked if {
	every kind in ["StatefulSet", "DaemonSet"] {
		"probes.readiness_missing" in fixtures.ids(probes.deny) with input as object.union(without("readinessProbe"), {"kind": kind})
	}
}

test_job_not_checked if {
	count(probes.deny) == 0 with input as object.union(without("readinessProbe"), {"kind": "Job"})
}

test_probe_on_undeclared_named_port if {
	c := object.union(fixtures.good_container, {"readinessProbe": {"httpGet": {"path": "/", "port": "metrics"}}})
	"probes.undeclared_port" in fixtures.ids(probes.deny) with input as fixtures.deployment(c)
}

test_probe_on_undeclared_numbered_port if {
	c := object.union(fixtures.good_container, {"livenessProbe": {"tcpSocket": {"port": 9090}}})
	"probes.undeclared_port" in fixtures.ids(probes.deny) with input as fixtures.deployment(c)
}

test_pod_and_cronjob_not_checked if {
	bare := object.remove(fixtures.good_container, ["readinessProbe", "livenessProbe"])
	pod := {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop"}, "spec": {"containers": [bare]}}
	cron := {
		"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "web", "namespace": "shop"},
		"spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": [bare]}}}}},
	}
	every doc in [pod, cron] {
		count(probes.deny) == 0 with input as doc
		count(probes.warn) == 0 with input as doc
	}
}
