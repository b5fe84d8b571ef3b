# Inputs shared by the pack's tests. `good` passes every per-document rule; the combined rules need its
# companions too (`good_companions`: a PDB and a NetworkPolicy selecting it, its ServiceAccount).
package gitops_audit.lib.fixtures

import rego.v1

good_container := {
	"name": "app",
	"image": "registry.example.com/shop/web:1.4.2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	"imagePullPolicy": "Always",
	"ports": [{"name": "http", "containerPort": 8080}],
	"resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
	"readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
	"livenessProbe": {"tcpSocket": {"port": 8080}},
	"securityContext": {
		"allowPrivilegeEscalation": false,
		"runAsNonRoot": true,
		"readOnlyRootFilesystem": true,
		"capabilities": {"drop": ["ALL"]},
	},
}

good_pod := {
	"serviceAccountName": "web",
	"automountServiceAccountToken": false,
	"priorityClassName": "shop-standard",
	"securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
	"topologySpreadConstraints": [{
		"maxSkew": 1,
		"topologyKey": "topology.kubernetes.io/zone",
		"whenUnsatisfiable": "ScheduleAnyway",
		"labelSelector": {"matchLabels": {"app": "web"}},
	}],
}

deployment(container) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "web", "namespace": "shop", "labels": {"app.kubernetes.io/instance": "web"}},
	"spec": {
		"replicas": 3,
		"selector": {"matchLabels": {"app": "web"}},
		"template": {
			"metadata": {"labels": {"app": "web"}},
			"spec": object.union(good_pod, {"containers": [container]}),
		},
	},
}

good := deployment(good_container)

# `good` with pod spec fields replaced whole (`null` removes a field).
with_pod(fields) := json.patch(good, [pod_op(k, v) | some k, v in fields])

pod_op(k, null) := {"op": "remove", "path": concat("/", ["/spec/template/spec", k])}

pod_op(k, v) := {"op": "add", "path": concat("/", ["/spec/template/spec", k]), "value": v} if v != null

# `good` with the first container's fields replaced whole (`null` removes a field).
with_container(fields) := json.patch(good, [container_op(k, v) | some k, v in fields])

container_op(k, null) := {"op": "remove", "path": concat("/", ["/spec/template/spec/containers/0", k])}

container_op(k, v) := {"op": "add", "path": concat("/", ["/spec/template/spec/containers/0", k]), "value": v} if v != null

# `good` under another workload kind (its pod spec where that kind keeps it).
as_kind("Pod") := {
	"apiVersion": "v1",
	"kind": "Pod",
	"metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web", "app.kubernetes.io/instance": "web"}},
	"spec": good.spec.template.spec,
}

as_kind("CronJob") := {
	"apiVersion": "batch/v1",
	"kind": "CronJob",
	"metadata": good.metadata,
	"spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": good.spec.template}}},
}

as_kind(kind) := object.union(good, {"kind": kind}) if not kind in {"Pod", "CronJob"}

pdb := {
	"apiVersion": "policy/v1",
	"kind": "PodDisruptionBudget",
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}},
}

network_policy := {
	"apiVersion": "networking.k8s.io/v1",
	"kind": "NetworkPolicy",
	"metadata": {"name": "default-deny", "namespace": "shop"},
	"spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
}

service_account := {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web", "namespace": "shop"}}

good_companions := [pdb, network_policy, service_account]

# The conftest --combine input for a list of documents.
files(docs) := [{"path": "all.yaml", "contents": d} | some d in docs]

ids(results) := {r.rule_id | some r in results}

# Rule ids of the results about one object ({kind, name}).
ids_for(results, kind, name) := {r.rule_id | some r in results; r.resource.kind == kind; r.resource.name == name}
