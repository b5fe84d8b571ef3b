package gitops_audit.network_test

import data.gitops_audit.lib.fixtures
import data.gitops_audit.network
import rego.v1

ingress(spec) := {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i", "namespace": "shop"}, "spec": spec}

test_ingress_tls if {
	"network.ingress_tls_missing" in fixtures.ids(network.warn) with input as ingress({"rules": [{"host": "shop.example.com"}]})
	"network.ingress_tls_missing" in fixtures.ids(network.warn) with input as ingress({"tls": null})
	count(network.warn) == 0 with input as ingress({"tls": [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}]})
}
