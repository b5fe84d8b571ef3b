"""The policy runner: results once per distinct (document, context) per run, worker processes, fallback."""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path

import pytest

from auditor.model import Manifest, ObjectRef, Target
from auditor.policy.audit import PolicySet, evaluate_target, load_policies
from auditor.policy.context_deps import context_fields
from auditor.policy.engine import Evaluator, PackagePlan
from auditor.policy.loader import parse_module
from auditor.policy.options import PolicyOptions
from auditor.policy.runner import PolicyRunner, cgroup_cpu_limit

US = Target("prod-us", env="production", region="us", context="ctx-us")
EU = Target("prod-eu", env="production", region="eu", context="ctx-eu")
DEV = Target("dev-us", env="dev", region="us", context="ctx-dev")


def configmaps(n: int, *, bad_every: int = 3) -> list[Manifest]:
    out = []
    for i in range(n):
        data = {"mode": "debug" if i % bad_every == 0 else "normal", "i": str(i)}
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm{i}", "namespace": "a"}, "data": data}
        out.append(Manifest(ObjectRef("", "ConfigMap", "a", f"cm{i}"), "v1", body))
    return out


def policy_set(tmp_path: Path, rego: str, *, workers: int = 0, start_pool_at: int = 400) -> PolicySet:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "p.rego").write_text("package main\nimport rego.v1\n" + rego)
    ps = load_policies(PolicyOptions(dirs=(str(tmp_path),), builtin=False, workers=0))
    if workers == 0 and start_pool_at == 400:
        return ps
    runner = PolicyRunner(
        ps.modules, {}, context_fields=context_fields(ps.modules), workers=workers, start_pool_at=start_pool_at
    )
    return dataclasses.replace(ps, runner=runner)


ENV_RULE = (
    'deny contains msg if { input.data.mode == "debug"; data.gitops_audit.target.env == "production"\n'
    '  msg := sprintf("%s: debug mode in %s", [input.metadata.name, data.gitops_audit.target.env]) }\n'
)
NAME_RULE = (
    'deny contains msg if { input.data.mode == "debug"\n'
    '  msg := sprintf("%s: debug mode on %s", [input.metadata.name, data.gitops_audit.target.name]) }\n'
)


def messages(findings: tuple) -> list[tuple[str, str]]:
    return [(f.target, f.message) for f in findings]


def test_targets_sharing_documents_and_read_fields_share_results(tmp_path: Path) -> None:
    ps = policy_set(tmp_path, ENV_RULE)
    docs = configmaps(30)
    us = evaluate_target(ps, US, docs, [])
    eu = evaluate_target(ps, EU, docs, [])
    assert ps.runner.stats.documents == 60 and ps.runner.stats.evaluated == 30 and ps.runner.stats.cached == 30
    assert len(us) == 10 and [f.message for f in us] == [f.message for f in eu]
    assert {f.target for f in eu} == {"prod-eu"}  # findings are still built per target
    dev = evaluate_target(ps, DEV, docs, [])  # another env: other results, evaluated again
    assert dev == () and ps.runner.stats.evaluated == 60


def test_a_field_the_policies_read_separates_the_results(tmp_path: Path) -> None:
    ps = policy_set(tmp_path, NAME_RULE)
    docs = configmaps(6)
    us = evaluate_target(ps, US, docs, [])
    eu = evaluate_target(ps, EU, docs, [])
    assert ps.runner.stats.evaluated == 12
    assert [m for _, m in messages(us)] == ["cm0: debug mode on prod-us", "cm3: debug mode on prod-us"]
    assert [m for _, m in messages(eu)] == ["cm0: debug mode on prod-eu", "cm3: debug mode on prod-eu"]


def test_sides_never_share_results(tmp_path: Path) -> None:
    ps = policy_set(tmp_path, 'deny contains data.gitops_audit.side if input.data.mode == "debug"\n')
    docs = configmaps(3)
    found = evaluate_target(ps, US, docs, docs)
    assert sorted(f.message for f in found) == ["desired", "live"]
    assert ps.runner.stats.evaluated == 6


def test_changed_document_is_evaluated_again(tmp_path: Path) -> None:
    ps = policy_set(tmp_path, ENV_RULE)
    docs = configmaps(3)
    evaluate_target(ps, US, docs, [])
    changed = dataclasses.replace(docs[1], body={**docs[1].body, "data": {"mode": "debug"}})
    found = evaluate_target(ps, EU, [docs[0], changed, docs[2]], [])
    assert ps.runner.stats.evaluated == 4
    assert [f.message for f in found] == ["cm0: debug mode in production", "cm1: debug mode in production"]


def test_digest_memo_is_bounded_and_releases_old_renders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The memo holds each document it remembers: unbounded, it kept every render of the fleet alive."""
    import gc
    import weakref

    from auditor.policy import runner as runner_mod

    monkeypatch.setattr(runner_mod, "DIGEST_MEMO", 10)
    ps = policy_set(tmp_path, ENV_RULE)

    class Body(dict):  # a plain dict cannot be weakly referenced
        pass

    first = [dataclasses.replace(m, body=Body(m.body)) for m in configmaps(6)]
    gone = [weakref.ref(m.body) for m in first]
    evaluate_target(ps, US, first, [])
    later = configmaps(12)
    assert len(evaluate_target(ps, US, later, [])) == 4 and len(evaluate_target(ps, EU, later, [])) == 4
    assert ps.runner.stats.evaluated == 18 and ps.runner.stats.cached == 12  # still shared within the memo
    del first
    gc.collect()
    assert [r() for r in gone] == [None] * 6  # the first render's documents were released
    assert len(ps.runner._digests) == 10


def test_result_memo_is_bounded_and_an_evicted_result_is_evaluated_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kept for the whole run, every result of every target stayed in memory."""
    from auditor.policy import runner as runner_mod

    monkeypatch.setattr(runner_mod, "RESULT_MEMO", 5)
    ps = policy_set(tmp_path, ENV_RULE)
    docs = configmaps(12)
    first = evaluate_target(ps, US, docs, [])
    assert len(ps.runner._cache) == 5 and ps.runner.stats.evaluated == 12
    assert evaluate_target(ps, US, docs[-5:], []) == tuple(f for f in first if f.ref in {m.ref for m in docs[-5:]})
    assert ps.runner.stats.evaluated == 12  # the newest five are still cached
    again = evaluate_target(ps, US, docs, [])
    assert again == first  # evicted results are evaluated again, to the same findings
    assert len(ps.runner._cache) == 5 and ps.runner.stats.evaluated == 24


def test_concurrent_targets_evaluate_each_document_once(tmp_path: Path) -> None:
    ps = policy_set(tmp_path, ENV_RULE)
    docs = configmaps(200)
    targets = [Target(f"prod-{i}", env="production", region=str(i)) for i in range(6)]
    results: dict[str, tuple] = {}

    def one(t: Target) -> None:
        results[t.name] = evaluate_target(ps, t, docs, [])

    threads = [threading.Thread(target=one, args=(t,)) for t in targets]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert ps.runner.stats.evaluated == 200 and ps.runner.stats.documents == 1200
    assert len({tuple(f.message for f in r) for r in results.values()}) == 1
    assert len(results["prod-0"]) == 67


def test_worker_processes_give_the_in_process_results(tmp_path: Path) -> None:
    rego = ENV_RULE + (
        # A runtime error on one document (a conflict between two values of a complete rule).
        'clash := 1 if input.metadata.name == "cm4"\nclash := 2 if input.metadata.name == "cm4"\n'
        "deny contains sprintf(\"clash %v\", [clash]) if clash\n"
    )
    docs = configmaps(90)
    local = policy_set(tmp_path, rego)
    pooled = policy_set(tmp_path, rego, workers=2, start_pool_at=1)
    try:
        expected = evaluate_target(local, US, docs, docs)
        got = evaluate_target(pooled, US, docs, docs)
        assert pooled.runner.stats.in_workers == 180
    finally:
        pooled.close()
    assert [(f.rule_id, f.message, f.path) for f in got] == [(f.rule_id, f.message, f.path) for f in expected]
    errors = [f for f in got if f.rule_id == "policy.error"]
    assert [f.ref.name for f in errors if f.ref] == ["cm4", "cm4"]  # the other documents went on
    pooled.close()  # idempotent


def test_a_broken_pool_falls_back_to_in_process(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ps = policy_set(tmp_path, ENV_RULE)
    # Workers compile their own modules: a module that does not compile makes every worker fail to start.
    broken = parse_module("broken.rego", "package main\nimport rego.v1\ndeny contains x if {\n")
    runner = PolicyRunner([broken], {}, context_fields=frozenset({"env"}), workers=1, start_pool_at=1)
    ps = dataclasses.replace(ps, runner=runner)
    docs = configmaps(40)
    with caplog.at_level(logging.WARNING):
        try:
            found = evaluate_target(ps, US, docs, [])
        finally:
            ps.close()
    assert len(found) == 14 and runner.stats.in_workers == 0
    assert [r.message for r in caplog.records if "worker pool failed" in r.message][:1]
    assert "Traceback" not in caplog.text


class _Failing(Evaluator):
    """An evaluator that fails as an engine bug would (not an EvalError): failure injection."""

    def query(self, query: str, input_doc: object) -> object:
        raise RuntimeError("engine exploded")

    def with_data(self, overlay: object) -> Evaluator:
        return self


def test_a_failed_evaluation_is_not_cached(tmp_path: Path) -> None:
    ps = policy_set(tmp_path, ENV_RULE)
    docs = configmaps(3)
    context = {"target": {"name": "a", "env": "production"}, "side": "desired"}
    plan = (PackagePlan("main", ("deny",)),)
    jobs = [(plan, m.body) for m in docs]
    with pytest.raises(RuntimeError):
        ps.runner.run(_Failing(), context, jobs)
    good = ps.evaluator.with_data({"gitops_audit": context})
    values = ps.runner.run(good, context, jobs)  # evaluated afresh, not the failure
    empty = {"main": {"deny": []}}
    assert values == [{"main": {"deny": ["cm0: debug mode in production"]}}, empty, empty]


@pytest.mark.parametrize(
    ("files", "limit"),
    [
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu.max": "150000 100000\n"}, 2),
        ({"cpu.max": "50000 100000\n"}, 1),
        ({"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 3),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),
    ],
)
def test_cgroup_cpu_quota(tmp_path: Path, files: dict[str, str], limit: int | None) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cgroup_cpu_limit(tmp_path) == limit


def test_start_pool_only_for_batches_that_want_it(tmp_path: Path) -> None:
    ps = policy_set(tmp_path, ENV_RULE, workers=1, start_pool_at=50)
    try:
        ps.runner.start_pool(10)
        assert ps.runner._pool is None
        ps.runner.start_pool(60)
        assert ps.runner._pool is not None
        evaluate_target(ps, US, configmaps(60), [])
        assert ps.runner.stats.in_workers == 60
    finally:
        ps.close()


def test_digest_is_exact() -> None:
    from collections import OrderedDict

    from auditor.policy.runner import digest

    assert digest({"a": [1, "x"]}) == digest({"a": [1, "x"]})
    assert digest({1: "a"}) != digest({"1": "a"})
    assert digest({"a": True}) != digest({"a": 1})
    assert digest({"a": 1.0}) != digest({"a": 1})
    assert digest(OrderedDict(a=1)) != digest({"a": 2})  # not marshallable: pickled, still exact


def test_digest_depends_on_the_value_only() -> None:
    # marshal >= 3 marked objects by reference count and flagged interned strings, so one value could get two
    # digests depending on what else held it (issue 20): the workers test then counted 451 or 452 evaluations.
    import sys

    from auditor.policy.runner import digest

    def build() -> dict:
        name = "".join(["ng", "inx"])  # not interned
        return {"kind": "Pod", "metadata": {"name": name, "labels": {"a": "b"}}, "spec": {"n": [1, 2.5, True, None]}}

    plain = build()
    before = digest(plain)
    held = [plain["metadata"], plain["metadata"]["labels"], plain["spec"]["n"]]  # extra references elsewhere
    assert digest(plain) == before
    shared = build()
    shared["spec"]["n"] = held[2]  # a sub-object shared with another document
    shared["metadata"]["name"] = sys.intern(shared["metadata"]["name"])
    assert digest(shared) == before
    assert digest({"kind": "Pod", "x": 1}) != digest({"kind": "Pod", "x": True}) != digest({"kind": "Pod", "x": 1.0})
    assert digest({1: "a"}) != digest({"1": "a"})
    del held


def test_a_rule_error_in_a_worker_fails_only_that_rule_on_that_document(tmp_path: Path) -> None:
    rego = (
        'deny contains msg if { to_number(input.data.i) > 0; msg := sprintf("%s", [input.metadata.name]) }\n'
        'warn contains "w" if input.kind == "ConfigMap"\n'
    )
    ps = policy_set(tmp_path, rego, workers=1, start_pool_at=1)
    try:
        docs = configmaps(40)
        docs[7].body["data"]["i"] = "seven"  # to_number fails on this one only
        found = evaluate_target(ps, Target("t", env="dev"), docs, [])
        assert ps.runner.stats.in_workers == 40
    finally:
        ps.close()
    errors = [f for f in found if f.rule_id == "policy.error"]
    assert [(f.ref.name if f.ref else "", f.details["rule"]) for f in errors] == [("cm7", "data.main.deny")]
    assert len([f for f in found if f.rule_id == "main.warn"]) == 40  # the other rule, on every document
    assert len([f for f in found if f.rule_id == "main.deny"]) == 38  # all but cm0 (i = 0) and cm7
