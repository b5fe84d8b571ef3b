"""Policy evaluation inside an audit: findings per side, errors per document, compile errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.errors import PolicyError
from auditor.model import Category, Finding, Manifest, ObjectRef, Severity, Target, split_api_version
from auditor.policy.audit import evaluate_target, load_policies
from auditor.policy.options import PolicyOptions

TARGET = Target("prod-us", env="production", region="us", context="prod-us")


def manifest(body: dict) -> Manifest:
    group, _ = split_api_version(body["apiVersion"])
    meta = body.get("metadata", {})
    return Manifest(ObjectRef(group, body["kind"], meta.get("namespace", ""), meta["name"]), body["apiVersion"], body)


def deployment(**container: object) -> dict:
    c = {"name": "app", "image": "nginx:1.27", **container}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"template": {"spec": {"containers": [c]}}},
    }


def write(dir_: Path, name: str, text: str) -> Path:
    p = dir_ / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_user_policy_gives_one_finding_per_side(tmp_path: Path) -> None:
    write(
        tmp_path,
        "p.rego",
        "package main\nimport rego.v1\n"
        'deny contains msg if { input.kind == "Deployment"; msg := sprintf("%s seen on %s", '
        "[input.metadata.name, data.gitops_audit.side]) }\n",
    )
    ps = load_policies(PolicyOptions(dirs=(str(tmp_path),), builtin=False))
    m = manifest(deployment())
    found = evaluate_target(ps, TARGET, [m], [m])
    assert [(f.path, f.message) for f in found] == [("desired", "web seen on desired"), ("live", "web seen on live")]
    assert all(f.rule_id == "main.deny" and f.severity is Severity.HIGH for f in found)
    assert all(f.category is Category.POLICY and f.ref == m.ref for f in found)
    assert found[0].fingerprint != found[1].fingerprint
    assert found[0].details["source"] == "desired"


def test_target_data_is_visible(tmp_path: Path) -> None:
    write(
        tmp_path,
        "p.rego",
        "package main\nimport rego.v1\n"
        'warn contains t.env if { t := data.gitops_audit.target; t.name == "prod-us"; t.context == "prod-us" }\n',
    )
    ps = load_policies(PolicyOptions(dirs=(str(tmp_path),), builtin=False))
    found = evaluate_target(ps, TARGET, [manifest(deployment())], [])
    assert [(f.message, f.severity) for f in found] == [("production", Severity.MEDIUM)]


def test_live_documents_lose_managed_fields_and_status(tmp_path: Path) -> None:
    write(
        tmp_path,
        "p.rego",
        "package main\nimport rego.v1\n"
        'deny contains "managedFields" if input.metadata.managedFields\n'
        'deny contains "status" if input.status\n',
    )
    ps = load_policies(PolicyOptions(dirs=(str(tmp_path),), builtin=False))
    body = deployment()
    body["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    body["status"] = {"replicas": 1}
    found = evaluate_target(ps, TARGET, [manifest(body)], [manifest(body)])
    assert sorted((f.details["source"], f.message) for f in found) == [
        ("desired", "managedFields"),
        ("desired", "status"),
    ]
    # Two messages of one rule on one object get distinct paths, hence distinct fingerprints.
    assert len({f.fingerprint for f in found}) == 2


def test_evaluation_error_on_one_document_is_a_finding(tmp_path: Path) -> None:
    write(
        tmp_path,
        "p.rego",
        "package main\nimport rego.v1\n"
        'deny contains msg if { x := 10 / input.spec.replicas; msg := sprintf("%v", [x]) }\n',
    )
    ps = load_policies(PolicyOptions(dirs=(str(tmp_path),), builtin=False))
    bad = deployment()
    bad["spec"]["replicas"] = 0
    good = deployment()
    good["metadata"] = {"name": "api", "namespace": "shop"}
    good["spec"]["replicas"] = 5
    found = evaluate_target(ps, TARGET, [manifest(bad), manifest(good)], [])
    by_rule = {f.rule_id: f for f in found}
    assert by_rule["policy.error"].severity is Severity.HIGH
    assert by_rule["policy.error"].ref == manifest(bad).ref
    assert "divide by zero" in by_rule["policy.error"].message
    assert by_rule["main.deny"].message == "2"


def test_compile_error_has_file_line_col(tmp_path: Path) -> None:
    p = write(tmp_path, "broken.rego", "package main\nimport rego.v1\n\ndeny contains msg if {\n  msg := \n}\n")
    with pytest.raises(PolicyError) as info:
        load_policies(PolicyOptions(dirs=(str(tmp_path),), builtin=False))
    assert str(info.value).startswith(f"{p}:")
    line, col = str(info.value)[len(str(p)) + 1 :].split(":")[:2]
    assert line.isdigit() and col.isdigit()


def test_unknown_function_is_a_compile_error(tmp_path: Path) -> None:
    p = write(tmp_path, "p.rego", "package main\nimport rego.v1\ndeny contains x if { x := nosuch(input) }\n")
    with pytest.raises(PolicyError, match=rf"^{p}:3:\d+: .*nosuch"):
        load_policies(PolicyOptions(dirs=(str(tmp_path),), builtin=False))


def test_builtin_pack_flags_missing_memory_limit() -> None:
    ps = load_policies(PolicyOptions())
    found = evaluate_target(ps, TARGET, [manifest(deployment())], [])
    assert "resources.memory_limit_missing" in {f.rule_id for f in found}
    f = next(f for f in found if f.rule_id == "resources.memory_limit_missing")
    assert f.severity is Severity.HIGH and f.details["title"] and f.details["remediation"]


def test_evaluation_from_worker_threads(tmp_path: Path) -> None:
    """Targets may be audited concurrently: the embedded engine must work from any thread."""
    from concurrent.futures import ThreadPoolExecutor

    policy = 'package main\nimport rego.v1\ndeny contains input.metadata.name if input.kind == "Deployment"\n'
    write(tmp_path, "p.rego", policy)
    ps = load_policies(PolicyOptions(dirs=(str(tmp_path),), builtin=False))
    targets = [Target(f"t{i}") for i in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda t: evaluate_target(ps, t, [manifest(deployment())], []), targets))
    assert [[(f.target, f.message) for f in r] for r in results] == [[(t.name, "web")] for t in targets]


def test_secret_values_never_reach_policies(tmp_path: Path) -> None:
    write(
        tmp_path,
        "p.rego",
        "package main\nimport rego.v1\n"
        'deny contains sprintf("%s=%s", [k, v]) if { input.kind == "Secret"; some k, v in input.data }\n'
        'deny contains sprintf("%s=%s", [k, v]) if { input.kind == "Secret"; some k, v in input.stringData }\n',
    )
    ps = load_policies(PolicyOptions(dirs=(str(tmp_path),), builtin=False))
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
            "data": {"password": "aHVudGVyMg=="}, "stringData": {"token": "hunter2"}}
    found = evaluate_target(ps, TARGET, [manifest(body)], [manifest(body)])
    assert sorted({f.message for f in found}) == ["password=***", "token=***"]
    assert body["data"]["password"] == "aHVudGVyMg=="  # the manifest itself is not modified


def test_kind_gate_skips_other_kinds(tmp_path: Path) -> None:
    write(
        tmp_path,
        "p.rego",
        "package main\nimport rego.v1\ngitops_audit_kinds := {\"Service\"}\n"
        "deny contains input.kind if true\n",
    )
    ps = load_policies(PolicyOptions(dirs=(str(tmp_path),), builtin=False))
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "shop"}}
    found = evaluate_target(ps, TARGET, [manifest(deployment()), manifest(svc)], [])
    assert [f.message for f in found] == ["Service"]


def test_result_location_and_extra_metadata(tmp_path: Path) -> None:
    write(
        tmp_path,
        "p.rego",
        "package main\nimport rego.v1\n"
        'warn contains {"msg": "m", "_loc": {"file": "x.yaml", "line": 3}, "severity": "low", "team": "sre",'
        ' "title": "T", "remediation": "R"} if true\n',
    )
    ps = load_policies(PolicyOptions(dirs=(str(tmp_path),), builtin=False))
    (f,) = evaluate_target(ps, TARGET, [manifest(deployment())], [])
    assert f.severity is Severity.LOW and f.rule_id == "main.warn"
    assert f.details["location"] == {"file": "x.yaml", "line": 3}
    assert f.details["metadata"] == {"team": "sre"}
    assert (f.details["title"], f.details["remediation"], f.details["level"]) == ("T", "R", "warning")


def _obj(group: str, kind: str, ns: str, name: str, body: dict) -> Manifest:
    api = f"{group}/v1" if group else "v1"
    meta = {"name": name, **({"namespace": ns} if ns else {})}
    return Manifest(ObjectRef(group, kind, ns, name), api, {"apiVersion": api, "kind": kind, "metadata": meta, **body})


def _namespace_objects() -> list[Manifest]:
    res = {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "64Mi"}}
    c = {"name": "c", "image": "reg.example.com/app:1.0", "resources": res, "ports": [{"containerPort": 80}],
         "readinessProbe": {"httpGet": {"port": 80}}, "livenessProbe": {"httpGet": {"port": 80}},
         "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True}}
    rbac = "rbac.authorization.k8s.io"
    return [
        _obj("apps", "Deployment", "app", "web", {"spec": {"template": {"spec": {"containers": [c]}}}}),
        _obj("", "LimitRange", "app", "lr", {"spec": {"limits": []}}),
        _obj("", "ResourceQuota", "app", "rq", {"spec": {"hard": {}}}),
        _obj(rbac, "Role", "app", "reader", {"rules": []}),
        _obj(rbac, "RoleBinding", "app", "rb", {"roleRef": {"kind": "Role", "name": "reader", "apiGroup": rbac},
                                               "subjects": [{"kind": "User", "name": "alice"}]}),
    ]


# The combined rules these tests are about (the pack's other rules also fire on these small objects).
_ABOUT = {"rbac.binding_missing_role", "resources.namespace_without_limitrange", "resources.namespace_without_quota"}


def _about(found: tuple[Finding, ...]) -> list[Finding]:
    return [f for f in found if f.rule_id in _ABOUT]


def test_live_combined_rules_see_in_sync_objects_too() -> None:
    # Only the Deployment and the RoleBinding drifted: combined rules must still see the in-sync Role,
    # LimitRange and ResourceQuota, or they would report them missing on the live side.
    ps = load_policies(PolicyOptions(workers=0))
    objs = _namespace_objects()
    changed = {objs[0].ref, objs[4].ref}
    found = _about(evaluate_target(ps, Target("dev", env="dev"), objs, objs, live_changed=changed))
    assert [(f.path, f.rule_id) for f in found] == []
    # The Role deleted in the cluster: the live side (only) says the binding points at nothing.
    live = [m for m in objs if m.ref.kind != "Role"]
    found = _about(evaluate_target(ps, Target("dev", env="dev"), objs, live, live_changed=changed))
    assert [(f.path, f.rule_id, f.ref.name if f.ref else "") for f in found] == [
        ("live", "rbac.binding_missing_role", "rb")
    ]


def test_live_combined_findings_that_repeat_git_are_not_doubled() -> None:
    ps = load_policies(PolicyOptions(workers=0))
    objs = [m for m in _namespace_objects() if m.ref.kind not in ("LimitRange", "ResourceQuota")]
    found = _about(evaluate_target(ps, Target("dev", env="dev"), objs, objs, live_changed=frozenset()))
    assert {f.path for f in found} == {"desired"}
    assert {f.rule_id for f in found} == {"resources.namespace_without_limitrange", "resources.namespace_without_quota"}
    # Without the drift information (e.g. `policy` on a snapshot alone), both sides are evaluated, and a live
    # finding identical to the desired one is reported once, noting both sides (issue 18).
    both = _about(evaluate_target(ps, Target("dev", env="dev"), objs, objs))
    assert {f.path for f in both} == {"desired"}
    assert all(f.details["sides"] == ["desired", "live"] for f in both)


def test_unquoted_yaml_dates_are_strings_to_policies(tmp_path: Path) -> None:
    from auditor.util.yamlio import load_one

    rego = 'package main\nimport rego.v1\ndeny contains input.spec.releaseDate if input.kind == "Widget"\n'
    write(tmp_path, "p.rego", rego)
    body = load_one("apiVersion: x.io/v1\nkind: Widget\nmetadata: {name: w}\nspec:\n  releaseDate: 2024-01-01\n"
                    "  byDay: {2024-01-02: shipped}\n", "w.yaml")
    m = Manifest(ObjectRef("x.io", "Widget", "", "w"), "x.io/v1", body)
    ps = load_policies(PolicyOptions(dirs=(str(tmp_path),), builtin=False, workers=0))
    assert [(f.rule_id, f.message) for f in evaluate_target(ps, TARGET, [m], [])] == [("main.deny", "2024-01-01")]


def test_combined_gate_limits_the_combined_input_to_the_kinds_it_reads(tmp_path: Path) -> None:
    rego = (
        "package team.combined\nimport rego.v1\n"
        "gitops_audit_kinds := {\"Role\", \"RoleBinding\"}\n"
        "warn contains sprintf(\"%d documents: %s\", [count(input), concat(\",\", sort([d.contents.kind |"
        " some d in input]))]) if true\n"
    )
    write(tmp_path, "c.rego", rego)
    ps = load_policies(PolicyOptions(dirs=(str(tmp_path),), builtin=False, namespaces=("team.combined",), workers=0))
    objs = _namespace_objects()
    found = evaluate_target(ps, TARGET, objs, [])
    assert [f.message for f in found] == ["2 documents: Role,RoleBinding"]
    # Without the gate, the combined input is every document.
    write(tmp_path, "c.rego", rego.replace("gitops_audit_kinds", "other_rule"))
    ps = load_policies(PolicyOptions(dirs=(str(tmp_path),), builtin=False, namespaces=("team.combined",), workers=0))
    assert [f.message for f in evaluate_target(ps, TARGET, objs, [])] == [
        "5 documents: Deployment,LimitRange,ResourceQuota,Role,RoleBinding"
    ]


def test_gated_packages_still_run_on_a_conftest_combined_input(tmp_path: Path) -> None:
    from auditor.policy.check import evaluate_namespaces

    write(tmp_path, "c.rego", "package main\nimport rego.v1\ngitops_audit_kinds := {\"Role\"}\n"
          "deny contains sprintf(\"%d\", [count(input)]) if is_array(input)\n")
    ps = load_policies(PolicyOptions(dirs=(str(tmp_path),), builtin=False, workers=0))
    docs = [{"path": "a.yaml", "contents": {"kind": "Service"}}, {"path": "b.yaml", "contents": {"kind": "Role"}}]
    (result,) = evaluate_namespaces(ps.evaluator, ps.document_namespaces, docs, "Combined")
    assert [r.msg for r in result.failures] == ["2"]


def test_live_combined_package_runs_only_when_a_kind_it_reads_changed(tmp_path: Path) -> None:
    write(tmp_path, "c.rego", "package team.combined\nimport rego.v1\n"
          "gitops_audit_kinds := {\"Role\", \"RoleBinding\"}\n"
          "warn contains sprintf(\"%s %d\", [data.gitops_audit.side, count(input)]) if true\n")
    ps = load_policies(PolicyOptions(dirs=(str(tmp_path),), builtin=False, namespaces=("team.combined",), workers=0))
    objs = _namespace_objects()
    deployment, binding = objs[0], objs[4]

    def messages(**kw: object) -> list[str]:
        return sorted(f.message for f in evaluate_target(ps, TARGET, objs, kw.pop("live", objs), **kw))

    assert messages(live_changed={deployment.ref}) == ["desired 2"]
    assert messages(live_changed={binding.ref}) == ["desired 2", "live 2"]
    assert messages(live=objs[:4], live_changed=set()) == ["desired 2", "live 1"]  # the binding is missing live
    assert messages() == ["desired 2", "live 2"]  # no drift information: every side runs


def test_a_finding_on_both_sides_is_reported_once_and_live_only_ones_stay() -> None:
    # Issue 18: an unrelated field of the Deployment drifted (replicas); the latest-tag finding is the same in git
    # and in the cluster: one finding, noting both sides. A finding only the live object has stays on its own.

    def deploy(image: str, replicas: int, privileged: bool) -> Manifest:
        c: dict = {"name": "app", "image": image, "securityContext": {"privileged": privileged}}
        body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "app"},
                "spec": {"replicas": replicas, "template": {"spec": {"containers": [c]}}}}
        group, _ = split_api_version(body["apiVersion"])
        return Manifest(ObjectRef(group, "Deployment", "app", "web"), "apps/v1", body)

    ps = load_policies(PolicyOptions(workers=0))
    desired = deploy("nginx:latest", 2, False)
    live = deploy("nginx:latest", 5, True)
    found = evaluate_target(ps, Target("dev", env="dev"), [desired], [live], live_changed={live.ref})
    latest = [f for f in found if "latest" in f.rule_id]
    assert len(latest) == 1 and latest[0].path == "desired" and latest[0].details["sides"] == ["desired", "live"]
    privileged = [f for f in found if "privileged" in f.rule_id]
    assert [(f.path, f.details.get("sides")) for f in privileged] == [("live", None)]
    assert all(f.details.get("source") == "desired" or "privileged" in f.rule_id for f in found), found
