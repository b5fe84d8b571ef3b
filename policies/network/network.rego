# Network exposure of one object: Ingresses without TLS. NetworkPolicy coverage needs the workloads and
# the policies together and is in workloads/combined.rego.
package gitops_audit.network

import data.gitops_audit.lib.k8s
import data.gitops_audit.lib.k8s.input_subject as subject
import data.gitops_audit.lib.k8s.inactive_rules as inactive
import rego.v1

# Rule values of lib/k8s.rego are read through full-path imports, functions through `k8s.` (see lib/k8s.rego).

# Kinds these rules apply to: gitops-audit skips the package for other documents.
gitops_audit_kinds := {"Ingress"}

rules := {"network.ingress_tls_missing": {
	"severity": "medium",
	"title": "Ingress without TLS",
	"remediation": "Add spec.tls with a certificate for the Ingress hosts (cert-manager can issue one).",
}}

# METADATA
# title: Ingress without TLS
# description: An Ingress without spec.tls serves its hosts over plain HTTP.
# custom:
#   rule_id: network.ingress_tls_missing
#   severity: medium
#   remediation: Add spec.tls with a certificate for the Ingress hosts (cert-manager can issue one).
#   kinds: [Ingress]
#   controls: {nsa-cisa: [network.encryption], soc2: [CC6.1, CC6.7], iso27001: [A.8.20, A.8.24], pci-dss: [4.2.1], nist-800-53: [SC-8]}
#   equivalents: {polaris: [tlsSettingsMissing], kubescape: [C-0263]}
warn contains k8s.finding(id, rules[id], msg) if {
	id := "network.ingress_tls_missing"
	not id in inactive
	input.kind == "Ingress"
	count(k8s.arr(object.get(input, ["spec", "tls"], []))) == 0
	msg := sprintf("%s: no spec.tls", [subject])
}
