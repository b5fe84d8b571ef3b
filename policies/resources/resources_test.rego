package gitops_audit.resources_test

import data.gitops_audit.lib.fixtures
import data.gitops_audit.resources
import rego.v1

results(doc) := r if {
	r := resources.deny | resources.warn with input as doc with data.gitops_audit.config.enable as ["all"]
}

test_disable_switches_a_rule_off if {
	doc := with_resources({"requests": {"cpu": "1"}, "limits": {"cpu": "1", "memory": "1Gi"}})
	not "resources.memory_request_missing" in fixtures.ids(resources.deny) with input as doc
		with data.gitops_audit.config.disable as ["resources.memory_request_missing"]
	"resources.memory_request_missing" in fixtures.ids(resources.deny) with input as doc
}

with_resources(res) := fixtures.with_container({"resources": res})

test_good_passes if {
	count(results(fixtures.good)) == 0
}

test_each_missing_value_has_its_rule if {
	fixtures.ids(results(with_resources({"requests": {"memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}))) == {"resources.cpu_request_missing"}
	fixtures.ids(results(with_resources({"requests": {"cpu": "1"}, "limits": {"cpu": "1", "memory": "1Gi"}}))) == {"resources.memory_request_missing"}
	fixtures.ids(results(with_resources({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}))) == {"resources.cpu_limit_missing"}
	fixtures.ids(results(with_resources({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1"}}))) == {"resources.memory_limit_missing"}
}

test_empty_string_is_not_a_value if {
	"resources.cpu_request_missing" in fixtures.ids(results(with_resources({"requests": {"cpu": "", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}})))
}

# `limits:` and `requests:` with nothing after them are YAML nulls (issue 14): values, not errors.
test_null_limits_and_requests if {
	ids := fixtures.ids(results(with_resources({"limits": null, "requests": null})))
	ids == {"resources.cpu_request_missing", "resources.memory_request_missing", "resources.cpu_limit_missing", "resources.memory_limit_missing"}
	fixtures.ids(results(fixtures.with_container({"resources": null}))) == ids
}

test_init_container_requests_missing if {
	doc := json.patch(fixtures.good, [{"op": "add", "path": "/spec/template/spec/initContainers", "value": [{"name": "init", "image": "busybox:1.36"}]}])
	some r in results(doc)
	r.rule_id == "resources.cpu_request_missing"
	contains(r.msg, "initContainer")
}

test_limit_below_request if {
	"resources.limit_below_request" in fixtures.ids(results(with_resources({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "512Mi", "cpu": "500m"}})))
}

test_limit_equal_request_passes if {
	count(results(with_resources({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1024Mi", "cpu": 1}}))) == 0
}

test_unparsable_quantity_is_not_an_error if {
	count(results(with_resources({"requests": {"cpu": "lots", "memory": "1Gi"}, "limits": {"memory": "1Gi", "cpu": ["x"]}}))) == 0
}

test_over_default_maximum if {
	"resources.over_maximum" in fixtures.ids(results(with_resources({"requests": {"cpu": "32", "memory": "1Gi"}, "limits": {"cpu": "32", "memory": "1Gi"}})))
}

test_over_configured_maximum if {
	doc := with_resources({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}})
	"resources.over_maximum" in fixtures.ids(results(doc)) with data.gitops_audit.config as {"max_memory": "1Gi"}
}

test_init_container_memory_limit_missing if {
	init := object.union(object.remove(fixtures.good_container, ["resources"]), {"name": "init", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}})
	doc := json.patch(fixtures.good, [{"op": "add", "path": "/spec/template/spec/initContainers", "value": [init]}])
	msgs := {r.msg | some r in results(doc); r.rule_id == "resources.memory_limit_missing"}
	msgs == {`Deployment/shop/web: initContainer "init" has no memory limit`}
}
