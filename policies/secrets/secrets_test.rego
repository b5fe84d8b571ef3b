package gitops_audit.secrets_test

import data.gitops_audit.lib.fixtures
import data.gitops_audit.secrets
import rego.v1

ids(doc) := r if {
	r := fixtures.ids(secrets.deny) with input as doc
}

env(vars) := fixtures.with_container({"env": vars})

private_key := "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"

test_good_passes if {
	count(ids(fixtures.good)) == 0
}

test_sensitive_names if {
	every name in ["DB_PASSWORD", "api_token", "AWS_SECRET_ACCESS_KEY", "AZURE_STORAGE_KEY", "OCI_CLI_KEY_CONTENT", "GOOGLE_APPLICATION_CREDENTIALS", "Bearer", "client_secret"] {
		"secrets.env_var_sensitive" in ids(env([{"name": name, "value": "x"}]))
	}
}

test_private_key_value if {
	"secrets.env_var_sensitive" in ids(env([{"name": "the_good_stuff", "value": private_key}]))
}

test_value_from_and_plain_values_pass if {
	count(ids(env([{"name": "token", "valueFrom": {"secretKeyRef": {"name": "s", "key": "token"}}}]))) == 0
	count(ids(env([{"name": "greeting", "value": "hello"}, {"name": "PASSWORD_FILE_PATH_EMPTY", "value": ""}]))) == 0
	count(ids(json.patch(fixtures.good, [{"op": "add", "path": "/spec/template/spec/containers/0/env", "value": null}]))) == 0
}

test_messages_never_hold_the_value if {
	results := secrets.deny with input as env([{"name": "DB_PASSWORD", "value": "hunter2-canary"}, {"name": "k", "value": private_key}])
	count(results) == 2
	every r in results {
		not contains(r.msg, "hunter2-canary")
		not contains(r.msg, "MIIB")
	}
}

configmap(values) := {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "shop"}, "data": values}

test_configmap_keys_and_values if {
	"secrets.configmap_sensitive" in ids(configmap({"db_password": "abc"}))
	"secrets.configmap_sensitive" in ids(configmap({"AZURE_BATCH_KEY": "abc"}))
	"secrets.configmap_sensitive" in ids(configmap({"ssh": private_key}))
	count(ids(configmap({"message": "hi", "db_user": "postgres"}))) == 0
	count(ids(configmap(null))) == 0
	count(ids({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})) == 0
}

test_patterns_configurable if {
	count(ids(env([{"name": "DB_PASSWORD", "value": "x"}]))) == 0 with data.gitops_audit.config as {"sensitive_name_patterns": ["^NEVER$"]}
	"secrets.env_var_sensitive" in ids(env([{"name": "API_KEY", "value": "x"}])) with data.gitops_audit.config as {"sensitive_name_patterns": ["(?i)key"]}
}
