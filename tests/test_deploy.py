"""deploy/: renders with the real ``kubectl kustomize`` and passes our own built-in policies (we dogfood).

Also checks what the policies do not: the CronJob's scheduling and retry settings, the restricted
Pod Security profile of every pod, the read-only ClusterRole, that the audit config in the ConfigMap
loads, that every container's arguments parse with the CLI, and the Indexed Job shard wiring.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.model import Manifest, ObjectRef, Severity, Target, split_api_version
from auditor.policy.audit import PolicySet, evaluate_target, load_policies
from auditor.policy.options import PolicyOptions
from auditor.util import yamlio
from auditor.util.kinds import is_namespaced
from auditor.util.proc import run

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
KUSTOMIZATIONS = {"base": DEPLOY, "serve": DEPLOY / "overlays" / "serve",
                  "indexed-job": DEPLOY / "overlays" / "indexed-job"}


def render(path: Path) -> list[dict[str, Any]]:
    out = run(["kubectl", "kustomize", str(path)], action=f"render {path}", timeout=60)
    return [d for d in yamlio.load_all(out.stdout, str(path)) if d]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {name: render(path) for name, path in KUSTOMIZATIONS.items()}


@pytest.fixture(scope="module")
def policies() -> PolicySet:
    return load_policies(PolicyOptions())


def manifests(docs: list[dict[str, Any]]) -> list[Manifest]:
    out = []
    for d in docs:
        group, _ = split_api_version(d["apiVersion"])
        ns = d["metadata"].get("namespace", "") if is_namespaced(group, d["kind"]) else ""
        out.append(Manifest(ObjectRef(group, d["kind"], ns, d["metadata"]["name"]), d["apiVersion"], d))
    return out


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for d in docs:
        if d["kind"] == "CronJob":
            yield d["metadata"]["name"], d["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        elif d["kind"] in ("Deployment", "Job"):
            yield d["metadata"]["name"], d["spec"]["template"]["spec"]


@pytest.mark.parametrize("name", sorted(KUSTOMIZATIONS))
@pytest.mark.parametrize("env", ["", "staging"])
def test_rendered_manifests_pass_the_builtin_policies(rendered: dict[str, Any], policies: PolicySet,
                                                      name: str, env: str) -> None:
    desired = manifests(rendered[name])
    findings = evaluate_target(policies, Target(name=f"deploy-{name}", env=env), desired, ())
    # Zero failures and zero warnings, combined rules (LimitRange/ResourceQuota, role bindings) included;
    # deliberate choices are waived on the object, with the reason (gitops-audit.io/waive-reason).
    assert [f.message for f in findings if f.counts] == []
    assert all(f.suppressed_by.startswith("annotation:") for f in findings)


@pytest.mark.parametrize("name", sorted(KUSTOMIZATIONS))
def test_production_only_asks_for_digests(rendered: dict[str, Any], policies: PolicySet, name: str) -> None:
    """In a production target the one finding is the advice to pin the image by digest in your overlay."""
    findings = [f for f in evaluate_target(policies, Target(name="deploy", env="production"),
                                           manifests(rendered[name]), ()) if f.counts]
    assert {f.rule_id for f in findings} <= {"images.digest_not_pinned"}
    assert all(not f.severity.at_least(Severity.HIGH) for f in findings)


def test_policies_would_catch_a_broken_manifest(rendered: dict[str, Any], policies: PolicySet) -> None:
    """The dogfood check can fail: drop the memory limit and the privilege-escalation guard."""
    import copy

    docs = copy.deepcopy(rendered["base"])
    (cron,) = by_kind(docs, "CronJob")
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    del container["resources"]["limits"]
    del container["securityContext"]["allowPrivilegeEscalation"]
    rules = {f.rule_id for f in evaluate_target(policies, Target(name="x"), manifests(docs), ())}
    assert {"resources.memory_limit_missing", "pod_security.allow_privilege_escalation"} <= rules


def test_base_objects(rendered: dict[str, Any]) -> None:
    docs = rendered["base"]
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap",
                            "PersistentVolumeClaim", "CronJob", "LimitRange", "ResourceQuota", "NetworkPolicy"])
    for d in docs:
        if is_namespaced(split_api_version(d["apiVersion"])[0], d["kind"]):
            assert d["metadata"]["namespace"] == "gitops-audit", d["metadata"]["name"]
    (ns,) = by_kind(docs, "Namespace")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_cronjob_settings(rendered: dict[str, Any]) -> None:
    (cron,) = by_kind(rendered["base"], "CronJob")
    spec = cron["spec"]
    assert re.fullmatch(r"\S+ \S+ \S+ \S+ \S+", spec["schedule"])
    assert spec["timeZone"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert 0 < spec["startingDeadlineSeconds"] <= 24 * 3600
    assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
    job = spec["jobTemplate"]["spec"]
    assert 0 <= job["backoffLimit"] <= 2
    assert job["activeDeadlineSeconds"] > 0 and job["ttlSecondsAfterFinished"] > 0
    # Findings (1) and config errors (2) end the Job: retrying cannot change them.
    (fail,) = [r for r in job["podFailurePolicy"]["rules"] if r["action"] == "FailJob"]
    assert fail["onExitCodes"]["values"] == [1, 2]
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["serviceAccountName"] == "gitops-audit"
    (c,) = pod["containers"]
    assert c["image"] == "registry.example.com/platform/gitops-audit:0.1.0"
    assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"]
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    assert mounts["tmp"]["mountPath"] == "/tmp" and "emptyDir" in vols["tmp"]
    assert mounts["reports"]["mountPath"] == "/reports"
    assert vols["reports"]["persistentVolumeClaim"]["claimName"] == "gitops-audit-reports"
    # Remote clusters' kubeconfig: an optional Secret, so the audit runs without one.
    assert vols["kubeconfig"]["secret"] == {"secretName": "gitops-audit-kubeconfig", "optional": True,
                                            "defaultMode": 0o440}
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["KUBECONFIG"].startswith(mounts["kubeconfig"]["mountPath"] + "/")
    assert env["GITOPS_AUDIT_CONFIG"].startswith(mounts["config"]["mountPath"] + "/")
    (cm,) = by_kind(rendered["base"], "ConfigMap")
    assert vols["config"]["configMap"]["name"] == cm["metadata"]["name"]  # hashed name rewritten


@pytest.mark.parametrize("name", sorted(KUSTOMIZATIONS))
def test_every_pod_is_restricted(rendered: dict[str, Any], name: str) -> None:
    specs = list(pod_specs(rendered[name]))
    assert specs
    for pod_name, pod in specs:
        psc = pod["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] > 0, pod_name
        assert psc["seccompProfile"]["type"] == "RuntimeDefault"
        assert not any(pod.get(k) for k in ("hostNetwork", "hostPID", "hostIPC"))
        assert not any("hostPath" in v for v in pod.get("volumes", []))
        for c in pod["containers"] + pod.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add")
            assert not sc.get("privileged")
            assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"]), "read-only root needs /tmp"


def test_cluster_role_is_read_only_and_is_deploy_rbac(rendered: dict[str, Any]) -> None:
    shipped = [d for d in yamlio.load_all((DEPLOY / "rbac.yaml").read_text(), "rbac.yaml") if d]
    docs = rendered["base"]
    (role,) = by_kind(docs, "ClusterRole")
    (binding,) = by_kind(docs, "ClusterRoleBinding")
    assert role["rules"] == shipped[0]["rules"]
    for rule in role["rules"]:
        assert set(rule["verbs"]) <= {"get", "list"}
        assert "secrets" not in rule["resources"] and "*" not in rule["resources"]
    (sa,) = by_kind(docs, "ServiceAccount")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                                    "namespace": sa["metadata"]["namespace"]}]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]


def test_configmap_holds_a_valid_config(rendered: dict[str, Any], tmp_path: Path) -> None:
    from auditor.config import load_config

    (cm,) = by_kind(rendered["base"], "ConfigMap")
    path = tmp_path / "gitops-audit.yaml"
    path.write_text(cm["data"]["gitops-audit.yaml"])
    cfg = load_config(path)
    assert cfg.targets and str(cfg.resolve(cfg.output.dir)) == "/reports"
    # Renders survive the pod (incremental nights) in a dot directory of the PVC, which serve never serves.
    cache = Path(cfg.resolve(cfg.source.render_cache))
    assert cache.is_relative_to("/reports") and any(p.startswith(".") for p in cache.relative_to("/reports").parts)
    assert any(t.context == "in-cluster" for t in cfg.targets)
    assert cfg.cluster.secrets == "metadata"


def _cli_parser() -> argparse.ArgumentParser:
    """The real CLI parser; flags proposed in issue 9 but not yet wired are added the way they will be."""
    from auditor import cli, metrics, shard
    from auditor.commands import report_merge

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    run_parser = sub.choices["run"]
    known = {o for a in run_parser._actions for o in a.option_strings}
    if "--metrics-file" not in known:
        metrics.add_arguments(run_parser)
    if "--shard-count" not in known:
        shard.add_arguments(run_parser)
    if "report" not in sub.choices:
        report_merge.register(sub)
    return parser


@pytest.mark.parametrize("name", sorted(KUSTOMIZATIONS))
def test_container_arguments_parse(rendered: dict[str, Any], name: str) -> None:
    parser = _cli_parser()
    for pod_name, pod in pod_specs(rendered[name]):
        for c in pod["containers"]:
            args = [re.sub(r"\$\((\w+)\)", "0", a) for a in c["args"]]  # Kubernetes expands $(VAR)
            parsed = parser.parse_args(args)
            assert parsed.func is not None, pod_name
            if pod_name != "gitops-audit-serve":
                assert parsed.log_format == "json", pod_name  # cluster log pipelines get JSON lines


def test_indexed_job_overlay(rendered: dict[str, Any]) -> None:
    docs = rendered["indexed-job"]
    crons = {d["metadata"]["name"]: d for d in by_kind(docs, "CronJob")}
    job = crons["gitops-audit"]["spec"]["jobTemplate"]["spec"]
    assert job["completionMode"] == "Indexed"
    n = job["completions"]
    assert job["parallelism"] == n and job["backoffLimitPerIndex"] <= 2
    assert job["maxFailedIndexes"] == n  # findings fail an index: a lower bound would stop the other shards
    # One shard's findings must not stop the others: FailIndex, never FailJob.
    actions = {r["action"] for r in job["podFailurePolicy"]["rules"]}
    assert "FailIndex" in actions and "FailJob" not in actions
    args = job["template"]["spec"]["containers"][0]["args"]
    assert f"--shard-count={n}" in args
    assert "--out=/reports/shards/$(JOB_COMPLETION_INDEX)" in args
    assert "--shard-costs=/reports" in args  # balanced by the merged history (tests/test_deploy_indexed_job.py)
    merge = crons["gitops-audit-merge"]["spec"]
    margs = merge["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert margs[:3] == ["--log-format=json", "report", "merge"]
    assert [a for a in margs if a.startswith("/reports/shards/")] == [f"/reports/shards/{k}" for k in range(n)]
    assert f"--shards={n}" in margs
    wait = next(float(a.split("=", 1)[1]) for a in margs if a.startswith("--wait="))
    max_age = next(float(a.split("=", 1)[1]) for a in margs if a.startswith("--max-age="))
    # The merge waits as long as the audit may run, the first part stays fresh until the last one comes,
    # and the merge Job outlives its wait.
    assert wait >= job["activeDeadlineSeconds"] and max_age > wait
    assert merge["jobTemplate"]["spec"]["activeDeadlineSeconds"] > wait
    assert merge["schedule"] != crons["gitops-audit"]["spec"]["schedule"]
    assert merge["jobTemplate"]["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "merge"
    (pvc,) = by_kind(docs, "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert all(d["metadata"].get("namespace", "gitops-audit") == "gitops-audit" for d in docs)
    # The merge reads the config (target order of an unsharded run) from the generated ConfigMap.
    (cm,) = by_kind(docs, "ConfigMap")
    mpod = merge["jobTemplate"]["spec"]["template"]["spec"]
    assert {"name": "config", "configMap": {"name": cm["metadata"]["name"]}} in mpod["volumes"]
    menv = {e["name"]: e["value"] for e in mpod["containers"][0]["env"]}
    assert menv["GITOPS_AUDIT_CONFIG"].startswith("/etc/gitops-audit/config/")


def test_serve_overlay(rendered: dict[str, Any]) -> None:
    docs = rendered["serve"]
    (dep,) = by_kind(docs, "Deployment")
    (svc,) = by_kind(docs, "Service")
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["args"][0] == "serve" and "--reports=/reports" in c["args"]
    assert any(a.startswith("--token-file=") for a in c["args"])
    assert pod["automountServiceAccountToken"] is False
    reports = next(v for v in pod["volumes"] if v["name"] == "reports")
    assert reports["persistentVolumeClaim"] == {"claimName": "gitops-audit-reports", "readOnly": True}
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    assert {p["targetPort"] for p in svc["spec"]["ports"]} <= {p["name"] for p in c["ports"]}
    (pvc,) = by_kind(docs, "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
