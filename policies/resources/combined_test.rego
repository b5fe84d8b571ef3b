package gitops_audit.resources.combined_test

import data.gitops_audit.lib.fixtures
import data.gitops_audit.resources.combined
import rego.v1

limitrange := {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "l", "namespace": "shop"}}

quota := {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "shop"}}

files(docs) := [{"path": "all.yaml", "contents": d} | some d in docs]

test_namespace_without_limitrange_and_quota if {
	ids := fixtures.ids(combined.warn) with input as files([fixtures.good])
	ids == {"resources.namespace_without_limitrange", "resources.namespace_without_quota"}
}

test_namespace_with_both_passes if {
	count(combined.warn) == 0 with input as files([fixtures.good, limitrange, quota])
}

test_result_points_at_namespace if {
	some r in combined.warn with input as files([fixtures.good, limitrange])
	r.resource == {"kind": "Namespace", "namespace": "", "name": "shop"}
}

# The literal gate must name every kind the rules read: the workload kinds and the two they look for.
test_gate_names_every_kind_read if {
	combined.gitops_audit_kinds == data.gitops_audit.lib.k8s.workload_kinds | {"LimitRange", "ResourceQuota"}
}
