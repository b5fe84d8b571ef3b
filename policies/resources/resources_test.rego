package gitops_audit.resources_test

import data.gitops_audit.lib.fixtures
import data.gitops_audit.resources
import rego.v1

container(res) := object.union(object.remove(fixtures.good_container, ["resources"]), {"resources": res})

test_good_passes if {
	count(resources.deny) == 0 with input as fixtures.good
}

test_requests_missing if {
	"resources.requests_missing" in fixtures.ids(resources.deny) with input as fixtures.deployment(container({"limits": {"memory": "1Gi"}}))
}

test_init_container_requests_missing if {
	doc := json.patch(fixtures.good, [{"op": "add", "path": "/spec/template/spec/initContainers", "value": [{"name": "init", "image": "busybox:1.36"}]}])
	some r in resources.deny with input as doc
	r.rule_id == "resources.requests_missing"
	contains(r.msg, "initContainer")
}

test_memory_limit_missing if {
	"resources.memory_limit_missing" in fixtures.ids(resources.deny) with input as fixtures.deployment(container({"requests": {"cpu": "1", "memory": "1Gi"}}))
}

test_limit_below_request if {
	doc := fixtures.deployment(container({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "512Mi", "cpu": "500m"}}))
	"resources.limit_below_request" in fixtures.ids(resources.deny) with input as doc
}

test_limit_equal_request_passes if {
	doc := fixtures.deployment(container({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1024Mi", "cpu": 1}}))
	count(resources.deny) == 0 with input as doc
}

test_over_default_maximum if {
	doc := fixtures.deployment(container({"requests": {"cpu": "32", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}))
	"resources.over_maximum" in fixtures.ids(resources.deny) with input as doc
}

test_over_configured_maximum if {
	doc := fixtures.deployment(container({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}))
	"resources.over_maximum" in fixtures.ids(resources.deny) with input as doc with data.gitops_audit.config as {"max_memory": "1Gi"}
}

test_init_container_memory_limit_missing if {
	# object.union merges recursively: drop the good container's resources first.
	init := object.union(object.remove(fixtures.good_container, ["resources"]), {"name": "init", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}})
	doc := json.patch(fixtures.good, [{"op": "add", "path": "/spec/template/spec/initContainers", "value": [init]}])
	msgs := {r.msg | some r in resources.deny; r.rule_id == "resources.memory_limit_missing"} with input as doc
	msgs == {`Deployment/shop/web: initContainer "init" has no memory limit`}
}
