package gitops_audit.images_test

import data.gitops_audit.images
import data.gitops_audit.lib.fixtures
import rego.v1

image(ref) := fixtures.with_container({"image": ref})

deny(doc) := r if {
	r := images.deny with input as doc
}

warn(doc) := r if {
	r := images.warn with input as doc with data.gitops_audit.config.enable as ["all"]
}

test_good_passes if {
	count(deny(fixtures.good)) == 0
	count(warn(fixtures.good)) == 0
}

test_latest_tag if {
	"images.latest_tag" in fixtures.ids(deny(image("nginx:latest")))
}

test_no_tag if {
	"images.latest_tag" in fixtures.ids(deny(image("registry.example.com:5000/nginx")))
	"images.latest_tag" in fixtures.ids(deny(image("nginx")))
}

test_no_image_at_all if {
	"images.latest_tag" in fixtures.ids(deny(fixtures.with_container({"image": null})))
}

test_version_tag_and_digest_pass if {
	count(deny(image("registry.example.com:5000/nginx:1.27"))) == 0
	count(deny(image("nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"))) == 0
}

test_registry_not_allowed if {
	"images.registry_not_allowed" in fixtures.ids(deny(image("nginx:1.27"))) with data.gitops_audit.config as {"allowed_registries": ["registry.example.com"]}
}

test_allowed_registry_passes if {
	count(deny(image("registry.example.com/shop/web:1.0"))) == 0 with data.gitops_audit.config as {"allowed_registries": ["registry.example.com"]}
}

test_digest_not_pinned_in_production if {
	"images.digest_not_pinned" in fixtures.ids(warn(image("nginx:1.27"))) with data.gitops_audit.target.env as "production"
}

test_digest_not_required_in_staging if {
	not "images.digest_not_pinned" in fixtures.ids(warn(image("nginx:1.27"))) with data.gitops_audit.target.env as "staging"
}

test_digest_pinned_in_production_passes if {
	count(warn(fixtures.good)) == 0 with data.gitops_audit.target.env as "production"
}

test_pull_policy_not_always if {
	"images.pull_policy_not_always" in fixtures.ids(warn(fixtures.with_container({"imagePullPolicy": "IfNotPresent"})))
	"images.pull_policy_not_always" in fixtures.ids(warn(fixtures.with_container({"imagePullPolicy": null})))
}

init_image(ref) := json.patch(fixtures.good, [{
	"op": "add", "path": "/spec/template/spec/initContainers",
	"value": [object.union(fixtures.good_container, {"name": "init", "image": ref})],
}])

test_init_container_latest_tag if {
	msgs := {r.msg | some r in deny(init_image("busybox:latest")); r.rule_id == "images.latest_tag"}
	msgs == {`Deployment/shop/web: initContainer "init" image "busybox:latest" uses :latest`}
}

test_init_container_registry_not_allowed if {
	results := deny(init_image("docker.io/library/busybox:1.36")) with data.gitops_audit.config as {"allowed_registries": ["registry.example.com"]}
	"images.registry_not_allowed" in fixtures.ids(results)
}

test_init_container_digest_not_pinned if {
	results := warn(init_image("registry.example.com/busybox:1.36")) with data.gitops_audit.target.env as "production"
	"images.digest_not_pinned" in fixtures.ids(results)
}

test_unnamed_container_checked if {
	msgs := {r.msg | some r in deny(fixtures.with_container({"name": null, "image": "nginx:latest"})); r.rule_id == "images.latest_tag"}
	msgs == {`Deployment/shop/web: containers[0] (no name) image "nginx:latest" uses :latest`}
}
