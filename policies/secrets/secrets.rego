# Credentials written into manifests: container environment variables and ConfigMaps. Messages name the
# variable or key, never the value.
package gitops_audit.secrets

import data.gitops_audit.lib.k8s
import data.gitops_audit.lib.k8s.input_containers as containers
import data.gitops_audit.lib.k8s.input_subject as subject
import data.gitops_audit.lib.k8s.inactive_rules as inactive
import rego.v1

# Rule values of lib/k8s.rego are read through full-path imports, functions through `k8s.` (see lib/k8s.rego).

# Kinds these rules apply to: gitops-audit skips the package for other documents.
gitops_audit_kinds := {
	"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController", "Pod", "CronJob",
	"ConfigMap",
}

rules := {
	"secrets.env_var_sensitive": {
		"severity": "high",
		"title": "Credential in a container environment variable",
		"remediation": "Move the value to a Secret and reference it with valueFrom.secretKeyRef (or mount it as a file).",
	},
	"secrets.configmap_sensitive": {
		"severity": "high",
		"title": "Credential in a ConfigMap",
		"remediation": "Move the value to a Secret (or an external secret store); ConfigMaps are readable by anyone who can read the namespace's configuration.",
	},
}

# Names that hold credentials (case-insensitive regular expressions; settings `sensitive_name_patterns`
# and `sensitive_value_patterns` replace them). The defaults are Polaris' lists.
name_patterns := k8s.arr(k8s.setting("sensitive_name_patterns", [
	`(?i)^AWS_SECRET_ACCESS_KEY$`, `(?i)^GOOGLE_APPLICATION_CREDENTIALS$`, `(?i)^AZURE_.+KEY$`,
	`(?i)^OCI_CLI_KEY_CONTENT$`, `(?i)password`, `(?i)token`, `(?i)bearer`, `(?i)secret`,
]))

value_patterns := k8s.arr(k8s.setting("sensitive_value_patterns", [`(?i)-BEGIN\s+.*PRIVATE KEY-`]))

# One alternation per list, built once per query: one regex.match per name instead of one per pattern.
name_regex := concat("|", [concat("", ["(?:", p, ")"]) | some p in name_patterns; is_string(p)])

value_regex := concat("|", [concat("", ["(?:", p, ")"]) | some p in value_patterns; is_string(p)])

sensitive_name(name) if {
	name_regex != ""
	regex.match(name_regex, name)
}

sensitive_value(value) if {
	value_regex != ""
	regex.match(value_regex, value)
}

# METADATA
# title: Credential in a container environment variable
# description: >-
#   A variable whose name looks like a credential (password, token, secret, cloud keys) has a literal
#   value, or a literal value holds a private key. The value is in git and in every copy of the manifest.
#   Variables that use valueFrom pass.
# custom:
#   rule_id: secrets.env_var_sensitive
#   severity: high
#   remediation: Move the value to a Secret and reference it with valueFrom.secretKeyRef (or mount it as a file).
#   kinds: [workloads]
#   controls: {cis-k8s: ["5.4.1"], nsa-cisa: [network.secrets], soc2: [CC6.1, CC6.7], iso27001: [A.5.17, A.8.24], pci-dss: [8.6.2], nist-800-53: [IA-5, SC-28]}
#   equivalents: {polaris: [sensitiveContainerEnvVar], kubescape: [C-0012], kube-linter: [env-var-secret]}
deny contains k8s.finding(id, rules[id], msg) if {
	id := "secrets.env_var_sensitive"
	not id in inactive
	some entry in containers
	some env in entry.env
	value := object.get(env, "value", null)
	is_string(value)
	value != ""
	name := k8s.str(object.get(env, "name", ""))
	sensitive_name(name)
	msg := sprintf("%s: %s sets %s to a literal value (its name looks like a credential)", [subject, entry.label, name])
}

deny contains k8s.finding(id, rules[id], msg) if {
	id := "secrets.env_var_sensitive"
	not id in inactive
	some entry in containers
	some env in entry.env
	value := object.get(env, "value", null)
	is_string(value)
	sensitive_value(value)
	name := k8s.str(object.get(env, "name", ""))
	not sensitive_name(name)
	msg := sprintf("%s: %s sets %s to a value that holds a private key", [subject, entry.label, name])
}

configmap_entries contains [key, value] if {
	input.kind == "ConfigMap"
	some key, value in k8s.obj(object.get(input, "data", {}))
}

# METADATA
# title: Credential in a ConfigMap
# description: >-
#   A ConfigMap key looks like a credential (password, token, secret, cloud keys) or a value holds a
#   private key. ConfigMaps are not encrypted at rest and are readable with plain configuration rights.
# custom:
#   rule_id: secrets.configmap_sensitive
#   severity: high
#   remediation: Move the value to a Secret (or an external secret store); ConfigMaps are readable by anyone who can read the namespace's configuration.
#   kinds: [ConfigMap]
#   controls: {cis-k8s: ["5.4.2"], nsa-cisa: [network.secrets], soc2: [CC6.1, CC6.7], iso27001: [A.5.17, A.8.24], pci-dss: [8.6.2], nist-800-53: [IA-5, SC-28]}
#   equivalents: {polaris: [sensitiveConfigmapContent], kubescape: [C-0012]}
deny contains k8s.finding(id, rules[id], msg) if {
	id := "secrets.configmap_sensitive"
	not id in inactive
	some [key, _] in configmap_entries
	sensitive_name(key)
	msg := sprintf("%s: key %q looks like a credential", [subject, key])
}

deny contains k8s.finding(id, rules[id], msg) if {
	id := "secrets.configmap_sensitive"
	not id in inactive
	some [key, value] in configmap_entries
	not sensitive_name(key)
	is_string(value)
	sensitive_value(value)
	msg := sprintf("%s: the value of key %q holds a private key", [subject, key])
}
