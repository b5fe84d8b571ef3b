# Inputs shared by the pack's tests.
package gitops_audit.lib.fixtures

import rego.v1

good_container := {
	"name": "app",
	"image": "registry.example.com/shop/web:1.4.2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	"ports": [{"name": "http", "containerPort": 8080}],
	"resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
	"readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
	"livenessProbe": {"tcpSocket": {"port": 8080}},
	"securityContext": {"allowPrivilegeEscalation": false, "runAsNonRoot": true},
}

deployment(container) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": {"template": {"spec": {"containers": [container]}}},
}

good := deployment(good_container)

with_pod(pod) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": {"template": {"spec": object.union({"containers": [good_container]}, pod)}},
}

ids(results) := {r.rule_id | some r in results}
