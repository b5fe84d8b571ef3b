package gitops_audit.images_test

import data.gitops_audit.lib.fixtures
import data.gitops_audit.images
import rego.v1

image(ref) := fixtures.deployment(object.union(fixtures.good_container, {"image": ref}))

test_good_passes if {
	count(images.deny) == 0 with input as fixtures.good
}

test_latest_tag if {
	"images.latest_tag" in fixtures.ids(images.deny) with input as image("nginx:latest")
}

test_no_tag if {
	"images.latest_tag" in fixtures.ids(images.deny) with input as image("registry.example.com:5000/nginx")
}

test_version_tag_passes if {
	count(images.deny) == 0 with input as image("registry.example.com:5000/nginx:1.27")
}

test_registry_not_allowed if {
	"images.registry_not_allowed" in fixtures.ids(images.deny) with input as image("nginx:1.27")
		with data.gitops_audit.config as {"allowed_registries": ["registry.example.com"]}
}

test_allowed_registry_passes if {
	count(images.deny) == 0 with input as image("registry.example.com/shop/web:1.0")
		with data.gitops_audit.config as {"allowed_registries": ["registry.example.com"]}
}

test_digest_not_pinned_in_production if {
	"images.digest_not_pinned" in fixtures.ids(images.warn) with input as image("nginx:1.27")
		with data.gitops_audit.target.env as "production"
}

test_digest_not_required_in_staging if {
	count(images.warn) == 0 with input as image("nginx:1.27")
		with data.gitops_audit.target.env as "staging"
}

test_digest_pinned_in_production_passes if {
	count(images.warn) == 0 with input as fixtures.good
		with data.gitops_audit.target.env as "production"
}

init_image(ref) := json.patch(fixtures.good, [{
	"op": "add", "path": "/spec/template/spec/initContainers",
	"value": [object.union(fixtures.good_container, {"name": "init", "image": ref})],
}])

test_init_container_latest_tag if {
	msgs := {r.msg | some r in images.deny; r.rule_id == "images.latest_tag"} with input as init_image("busybox:latest")
	msgs == {`Deployment/shop/web: initContainer "init" image "busybox:latest" uses :latest`}
}

test_init_container_registry_not_allowed if {
	results := images.deny with input as init_image("docker.io/library/busybox:1.36")
		with data.gitops_audit.config as {"allowed_registries": ["registry.example.com"]}
	"images.registry_not_allowed" in fixtures.ids(results)
}

test_init_container_digest_not_pinned if {
	results := images.warn with input as init_image("registry.example.com/busybox:1.36")
		with data.gitops_audit.target.env as "production"
	"images.digest_not_pinned" in fixtures.ids(results)
}
