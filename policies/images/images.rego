# Image references: mutable tags, allowed registries, digests in production.
package gitops_audit.images

import data.gitops_audit.lib.k8s
import rego.v1

# Kinds these rules apply to: gitops-audit skips the package for other documents.
gitops_audit_kinds := k8s.workload_kinds

rules := {
	"images.latest_tag": {
		"severity": "high",
		"title": "Image uses :latest or no tag",
		"remediation": "Use an immutable version tag or a digest (image@sha256:...).",
	},
	"images.registry_not_allowed": {
		"severity": "high",
		"title": "Image from a registry that is not allowed",
		"remediation": "Pull from an allowed registry (data.gitops_audit.config.allowed_registries).",
	},
	"images.digest_not_pinned": {
		"severity": "medium",
		"title": "Production image not pinned by digest",
		"remediation": "Reference the image by digest (name:tag@sha256:...) in production overlays.",
	},
}

has_digest(image) if contains(image, "@")

# The part after the last "/" holds the tag; a ":" before it is a registry port.
tag(image) := t if {
	not has_digest(image)
	parts := split(image, "/")
	last := parts[count(parts) - 1]
	contains(last, ":")
	t := split(last, ":")[1]
}

registry(image) := r if {
	parts := split(image, "/")
	count(parts) > 1
	first := parts[0]
	regex.match(`[.:]|^localhost$`, first)
	r := first
} else := "docker.io"

deny contains k8s.finding(id, rules[id], msg) if {
	id := "images.latest_tag"
	some entry in k8s.input_containers
	image := entry.container.image
	not has_digest(image)
	not tag(image)
	msg := sprintf("%s: %s image %q has no tag (means :latest)", [k8s.input_subject, entry.label, image])
}

deny contains k8s.finding(id, rules[id], msg) if {
	id := "images.latest_tag"
	some entry in k8s.input_containers
	image := entry.container.image
	tag(image) == "latest"
	msg := sprintf("%s: %s image %q uses :latest", [k8s.input_subject, entry.label, image])
}

allowed_registries := {r | some r in k8s.setting("allowed_registries", [])}

deny contains k8s.finding(id, rules[id], msg) if {
	id := "images.registry_not_allowed"
	count(allowed_registries) > 0
	some entry in k8s.input_containers
	reg := registry(entry.container.image)
	not reg in allowed_registries
	msg := sprintf("%s: %s image %q comes from %s, not an allowed registry", [
		k8s.input_subject, entry.label, entry.container.image, reg,
	])
}

warn contains k8s.finding(id, rules[id], msg) if {
	id := "images.digest_not_pinned"
	k8s.is_production
	some entry in k8s.input_containers
	not has_digest(entry.container.image)
	msg := sprintf("%s: %s image %q is not pinned by digest in %s", [
		k8s.input_subject, entry.label, entry.container.image, k8s.target_env,
	])
}
