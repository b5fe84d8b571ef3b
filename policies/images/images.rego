# Image references: mutable tags, allowed registries, digests in production, pull policy.
package gitops_audit.images

import data.gitops_audit.lib.k8s
import data.gitops_audit.lib.k8s.input_containers as containers
import data.gitops_audit.lib.k8s.input_subject as subject
import data.gitops_audit.lib.k8s.inactive_rules as inactive
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
	"images.pull_policy_not_always": {
		"severity": "low",
		"title": "Image pull policy is not Always",
		"remediation": "Set imagePullPolicy: Always so every start checks the registry (and its credentials).",
	},
}

registry(image) := r if {
	parts := split(image, "/")
	count(parts) > 1
	first := parts[0]
	regex.match(`[.:]|^localhost$`, first)
	r := first
} else := "docker.io"

# The rule bodies inline the digest and tag tests: a user function call costs more than the builtins it
# runs. Bind a builtin's result before indexing it (`pair := split(..); pair[1]`): regorus evaluates an
# indexed call (`split(..)[1]`) about 100 times more slowly. The part after the last "/" holds the tag;
# a ":" before it is a registry port.

# METADATA
# title: Image uses :latest or no tag
# description: >-
#   An image without a tag means :latest. A mutable tag makes the running version depend on when each
#   node pulled it, so git no longer says what runs. A digest pins the image whatever the tag says.
# custom:
#   rule_id: images.latest_tag
#   severity: high
#   remediation: Use an immutable version tag or a digest (image@sha256:...).
#   kinds: [workloads]
#   controls: {nsa-cisa: [upgrading.app-security], soc2: [CC7.1, CC8.1], iso27001: [A.8.9, A.8.32], pci-dss: [6.5.1], nist-800-53: [CM-2, CM-6, SI-7]}
#   equivalents: {polaris: [tagNotSpecified], kubescape: [C-0075], kube-linter: [latest-tag]}
deny contains k8s.finding(id, rules[id], msg) if {
	id := "images.latest_tag"
	not id in inactive
	some entry in containers
	image := entry.image
	image != ""
	not contains(image, "@")
	parts := split(image, "/")
	not contains(parts[count(parts) - 1], ":")
	msg := sprintf("%s: %s image %q has no tag (means :latest)", [subject, entry.label, image])
}

deny contains k8s.finding(id, rules[id], msg) if {
	id := "images.latest_tag"
	not id in inactive
	some entry in containers
	image := entry.image
	not contains(image, "@")
	parts := split(image, "/")
	pair := split(parts[count(parts) - 1], ":")
	pair[1] == "latest"
	msg := sprintf("%s: %s image %q uses :latest", [subject, entry.label, image])
}

deny contains k8s.finding(id, rules[id], msg) if {
	id := "images.latest_tag"
	not id in inactive
	some entry in containers
	entry.image == ""
	msg := sprintf("%s: %s has no image", [subject, entry.label])
}

allowed_registries := {r | some r in k8s.arr(k8s.setting("allowed_registries", []))}

# METADATA
# title: Image from a registry that is not allowed
# description: Images must come from the registries listed in allowed_registries (off when the list is empty).
# custom:
#   rule_id: images.registry_not_allowed
#   severity: high
#   remediation: Pull from an allowed registry (data.gitops_audit.config.allowed_registries).
#   kinds: [workloads]
#   requires: allowed_registries
#   controls: {cis-k8s: ["5.5.1"], nsa-cisa: [pod-security.secure-images], soc2: [CC6.8], iso27001: [A.8.19], nist-800-53: [CM-7, SI-7]}
#   equivalents: {kubescape: [C-0001, C-0078]}
deny contains k8s.finding(id, rules[id], msg) if {
	id := "images.registry_not_allowed"
	not id in inactive
	count(allowed_registries) > 0
	some entry in containers
	entry.image != ""
	reg := registry(entry.image)
	not reg in allowed_registries
	msg := sprintf("%s: %s image %q comes from %s, not an allowed registry", [
		subject, entry.label, entry.image, reg,
	])
}

# METADATA
# title: Production image not pinned by digest
# description: In production targets every image is referenced by digest, so what runs is exactly what was reviewed.
# custom:
#   rule_id: images.digest_not_pinned
#   severity: medium
#   remediation: Reference the image by digest (name:tag@sha256:...) in production overlays.
#   kinds: [workloads]
#   requires: production
#   controls: {nsa-cisa: [upgrading.app-security], soc2: [CC8.1], iso27001: [A.8.32], pci-dss: [6.5.1], nist-800-53: [CM-2, SI-7]}
#   equivalents: {kubescape: [C-0306]}
warn contains k8s.finding(id, rules[id], msg) if {
	id := "images.digest_not_pinned"
	not id in inactive
	data.gitops_audit.lib.k8s.is_production
	some entry in containers
	image := entry.image
	not contains(image, "@")
	msg := sprintf("%s: %s image %q is not pinned by digest in %s", [
		subject, entry.label, image, data.gitops_audit.lib.k8s.target_env,
	])
}

# METADATA
# title: Image pull policy is not Always
# description: >-
#   With IfNotPresent or Never a node reuses its cached copy: a re-pushed tag runs in different versions on
#   different nodes, and a pod can use an image its pull secret no longer grants.
# custom:
#   rule_id: images.pull_policy_not_always
#   default: off
#   severity: low
#   remediation: "Set imagePullPolicy: Always so every start checks the registry (and its credentials)."
#   kinds: [workloads]
#   controls: {soc2: [CC6.8], iso27001: [A.8.9], nist-800-53: [CM-6, SI-7]}
#   equivalents: {polaris: [pullPolicyNotAlways]}
warn contains k8s.finding(id, rules[id], msg) if {
	id := "images.pull_policy_not_always"
	not id in inactive
	some entry in containers
	policy := object.get(entry.container, "imagePullPolicy", null)
	policy != "Always"
	msg := sprintf("%s: %s imagePullPolicy is %v, not Always", [subject, entry.label, policy_text(policy)])
}

policy_text(null) := "not set"

policy_text(p) := p if p != null
