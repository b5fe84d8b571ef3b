"""Credential rules name the variable or key, never the value: no report format carries the canary."""

from __future__ import annotations

from test_builtin import manifest

from auditor.model import AuditReport, Target, TargetResult
from auditor.policy.audit import evaluate_target, load_policies
from auditor.policy.options import PolicyOptions
from auditor.report import csv_report, html_report, json_report, sarif

CANARY = "canary-Pa55w0rd-7f3e"
KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIcanary7f3e\n-----END RSA PRIVATE KEY-----\n"


def test_credentials_never_reach_findings_or_reports() -> None:
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"template": {"spec": {"containers": [{
            "name": "app", "image": "nginx:1.27",
            "env": [{"name": "DB_PASSWORD", "value": CANARY}, {"name": "TLS", "value": KEY}],
        }]}}},
    }
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "shop"},
                 "data": {"api_token": CANARY, "id_rsa": KEY}}
    policies = load_policies(PolicyOptions(namespaces=(), workers=0))
    target = Target("t", env="production")
    findings = evaluate_target(policies, target, [manifest(deployment), manifest(configmap)], [])
    ids = {f.rule_id for f in findings}
    assert {"secrets.env_var_sensitive", "secrets.configmap_sensitive"} <= ids
    report = AuditReport("run", "0", "", "", "", "", "", (TargetResult(target, True, findings=findings),))
    for render in (json_report.render, csv_report.render, sarif.render, html_report.render):
        text = render(report)
        assert CANARY not in text and "MIIcanary7f3e" not in text
