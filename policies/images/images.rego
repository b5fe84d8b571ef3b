# Image references: mutable tags, allowed registries, digests in production.
package gitops_audit.images

import data.gitops_audit.lib.k8s
import data.gitops_audit.lib.k8s.input_containers as containers
import data.gitops_audit.lib.k8s.input_subject as subject
import rego.v1

# Rule values of lib/k8s.rego are read through full-path imports, functions through `k8s.` (see lib/k8s.rego).

# Kinds these rules apply to: gitops-audit skips the package for other documents.
gitops_audit_kinds := data.gitops_audit.lib.k8s.workload_kinds

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
	pair := split(last, ":")
	t := pair[1]
}

registry(image) := r if {
	parts := split(image, "/")
	count(parts) > 1
	first := parts[0]
	regex.match(`[.:]|^localhost$`, first)
	r := first
} else := "docker.io"

# The rule bodies inline has_digest and tag: a user function call costs more than the builtins it runs.
# Bind a builtin's result before indexing it (`pair := split(..); pair[1]`): regorus evaluates an
# indexed call (`split(..)[1]`) about 100 times more slowly.

deny contains k8s.finding(id, rules[id], msg) if {
	some entry in containers
	image := entry.container.image
	not contains(image, "@")
	parts := split(image, "/")
	not contains(parts[count(parts) - 1], ":")
	id := "images.latest_tag"
	msg := sprintf("%s: %s image %q has no tag (means :latest)", [subject, entry.label, image])
}

deny contains k8s.finding(id, rules[id], msg) if {
	some entry in containers
	image := entry.container.image
	not contains(image, "@")
	parts := split(image, "/")
	pair := split(parts[count(parts) - 1], ":")
	pair[1] == "latest"
	id := "images.latest_tag"
	msg := sprintf("%s: %s image %q uses :latest", [subject, entry.label, image])
}

allowed_registries := {r | some r in k8s.setting("allowed_registries", [])}

deny contains k8s.finding(id, rules[id], msg) if {
	count(allowed_registries) > 0
	some entry in containers
	reg := registry(entry.container.image)
	not reg in allowed_registries
	id := "images.registry_not_allowed"
	msg := sprintf("%s: %s image %q comes from %s, not an allowed registry", [
		subject, entry.label, entry.container.image, reg,
	])
}

warn contains k8s.finding(id, rules[id], msg) if {
	data.gitops_audit.lib.k8s.is_production
	some entry in containers
	image := entry.container.image
	not contains(image, "@")
	id := "images.digest_not_pinned"
	msg := sprintf("%s: %s image %q is not pinned by digest in %s", [
		subject, entry.label, image, data.gitops_audit.lib.k8s.target_env,
	])
}
