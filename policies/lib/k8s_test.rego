package gitops_audit.lib.k8s_test

import data.gitops_audit.lib.k8s
import rego.v1

test_context_defaults_without_target if {
	k8s.target_env == ""
	k8s.side == ""
	not k8s.is_production
}

test_context_fields if {
	k8s.target_env == "production" with data.gitops_audit.target.env as "production"
	k8s.target_env == "" with data.gitops_audit.target.name as "prod-us"
	k8s.side == "live" with data.gitops_audit.side as "live"
}

test_is_production if {
	k8s.is_production with data.gitops_audit.target.env as "prod"
	not k8s.is_production with data.gitops_audit.target.env as "staging"
	k8s.is_production with data.gitops_audit.target.env as "qa"
		with data.gitops_audit.config as {"production_envs": ["qa"]}
}

test_no_target_is_not_production_even_for_empty_env if {
	not k8s.is_production with data.gitops_audit.config as {"production_envs": [""]}
}
