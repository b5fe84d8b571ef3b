"""Benchmark: built-in policy pack throughput (documents/second) over a synthetic fleet.

Generates realistic manifests (Deployments, StatefulSets, Services, ConfigMaps, RBAC, a share of them
non-compliant), then times ``load_policies`` and ``evaluate_target`` for desired and live sides.

    python bench/bench_policy.py [--docs 3000] [--engine embedded|opa-go] [--workers 0] [--targets 1] [--by-kind]
    python bench/bench_policy.py --digest     # cost of the result cache's document digest

``--engine opa-go`` needs OPA's Go engine library (``gitops-audit tools install opa-go --dest DIR``, DIR on PATH,
or ``--opa-library PATH``); it runs in this process (``--workers`` applies to the embedded engine only).

``--workers N`` evaluates in N worker processes (wall time is then the figure; CPU is the parent's).
``--targets K`` audits K targets of one environment sharing the documents, as targets sharing an overlay
do: the run's result cache evaluates each document once.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor.model import Manifest, ObjectRef, Target, split_api_version
from auditor.policy.audit import PolicySet, evaluate_target, load_policies, policy_input
from auditor.policy.check import evaluate_namespaces
from auditor.policy.options import PolicyOptions


def workload(rng: random.Random, i: int, ns: str) -> dict[str, Any]:
    kind = rng.choice(["Deployment", "Deployment", "StatefulSet", "DaemonSet"])
    good = rng.random() < 0.7
    container: dict[str, Any] = {
        "name": "app",
        "image": f"registry.example.com/team/app{i}:1.{i % 10}" if good else "nginx:latest",
        "ports": [{"name": "http", "containerPort": 8080}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}
        if good
        else {"requests": {"cpu": "1"}},
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True},
        "env": [{"name": f"VAR_{k}", "value": str(k)} for k in range(8)],
    }
    if good:
        container["readinessProbe"] = {"httpGet": {"path": "/ready", "port": "http"}}
        container["livenessProbe"] = {"httpGet": {"path": "/live", "port": 8080}}
    sidecar = {"name": "proxy", "image": "registry.example.com/envoy:1.30", "resources": container["resources"]}
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": f"app{i}", "namespace": ns, "labels": {"app": f"app{i}", "team": "t"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": f"app{i}"}},
            "template": {
                "metadata": {"labels": {"app": f"app{i}"}},
                "spec": {"containers": [container, sidecar], "volumes": [{"name": "tmp", "emptyDir": {}}]},
            },
        },
    }


def other(rng: random.Random, i: int, ns: str) -> dict[str, Any]:
    choice = rng.randrange(4)
    meta = {"name": f"obj{i}", "namespace": ns}
    if choice == 0:
        return {"apiVersion": "v1", "kind": "Service", "metadata": meta,
                "spec": {"ports": [{"port": 80, "targetPort": 8080}], "selector": {"app": f"app{i}"}}}
    if choice == 1:
        data = {f"k{k}": "v" * 40 for k in range(10)}
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}
    if choice == 2:
        return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta,
                "rules": [{"apiGroups": [""], "resources": ["configmaps", "pods"], "verbs": ["get", "list"]}]}
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"obj{i}"},
            "subjects": [{"kind": "ServiceAccount", "name": "default" if i % 7 == 0 else "app", "namespace": ns}]}


def fleet(n: int, seed: int = 7) -> list[Manifest]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ns = f"team{i % 40}"
        body = workload(rng, i, ns) if i % 2 == 0 else other(rng, i, ns)
        group, _ = split_api_version(body["apiVersion"])
        ref = ObjectRef(group, body["kind"], ns, body["metadata"]["name"])
        out.append(Manifest(ref, body["apiVersion"], body))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=3000, help="documents per side")
    parser.add_argument("--engine", default="embedded")
    parser.add_argument("--by-kind", action="store_true", help="also print CPU time per document of each kind")
    parser.add_argument("--workers", type=int, default=0, help="worker processes (0: in process)")
    parser.add_argument("--targets", type=int, default=1, help="targets of one environment sharing the documents")
    parser.add_argument("--opa-library", default="", help="libopabridge.so for --engine opa-go")
    parser.add_argument("--digest", action="store_true", help="only time the document digest (marshal 2 vs JSON)")
    args = parser.parse_args()
    if args.digest:
        return digest_cost(args.docs)

    options = PolicyOptions(engine=args.engine, workers=args.workers, opa_library=args.opa_library)
    t0 = time.perf_counter()
    policies = load_policies(options)
    t_load = time.perf_counter() - t0
    docs = fleet(args.docs)
    targets = [Target(f"prod-{i}", env="production", region=f"r{i}") for i in range(args.targets)]
    if args.workers:  # start the pool outside the timed part, as an audit does while it renders
        evaluate_target(policies, Target("warm-up", env="staging"), fleet(600, seed=1), [])
    # Wall and CPU time: CPU time is the fairer figure on a shared machine.
    w1, c1 = time.perf_counter(), time.process_time()
    findings = 0
    for target in targets:
        findings += len(evaluate_target(policies, target, docs, docs))
    wall, cpu = time.perf_counter() - w1, time.process_time() - c1
    stats = policies.runner.stats
    policies.close()
    # A fresh set, so that the combined results are not in the run's cache already.
    only_combined = dataclasses.replace(load_policies(options), document_namespaces=())
    w2 = time.perf_counter()
    evaluate_target(only_combined, targets[0], docs, docs)
    combined_wall = time.perf_counter() - w2
    only_combined.close()
    evaluated = 2 * len(docs) * len(targets)
    print(f"engine={args.engine} workers={args.workers} load+compile={t_load:.2f}s")
    print(f"documents={evaluated} ({len(targets)} target(s) x desired+live, {args.docs} each) findings={findings}")
    print(f"wall={wall:.2f}s -> {evaluated / wall:,.0f} documents/s")
    print(f"cpu={cpu:.2f}s (this process) -> {evaluated / cpu:,.0f} documents/s")
    print(f"runner: {stats.evaluated} evaluated ({stats.in_workers} in workers, {stats.worker_cpu:.2f}s CPU there) "
          f"of {stats.documents} asked, {stats.cached} from the cache")
    print(f"of which combined namespaces (2 evaluations over {args.docs} documents): {combined_wall:.2f}s wall")
    if args.by_kind:
        by_kind(policies, targets[0], docs)
    return 0


def digest_cost(n: int) -> int:
    """Microseconds per document of the runner's digest (marshal format 2) and of canonical JSON."""
    import hashlib
    import json

    from auditor.policy.runner import digest

    docs = [policy_input(m, "desired") for m in fleet(n)]
    for name, fn in (
        ("marshal format 2 + blake2b (runner.digest)", digest),
        ("canonical JSON + blake2b", lambda d: hashlib.blake2b(
            json.dumps(d, sort_keys=True, separators=(",", ":")).encode(), digest_size=16).digest()),
    ):
        c = time.process_time()
        for d in docs:
            fn(d)
        print(f"{name}: {(time.process_time() - c) / len(docs) * 1e6:.1f} us/document CPU")
    return 0


def by_kind(policies: PolicySet, target: Target, docs: list[Manifest]) -> None:
    """CPU time per document of each kind (per-document namespaces, desired side, no findings built)."""
    evaluator = policies.evaluator.with_data({"gitops_audit": {"target": {"name": target.name, "env": target.env,
                                                                          "region": target.region}, "side": "desired"}})
    groups: dict[str, list[Manifest]] = {}
    for m in docs:
        groups.setdefault(m.ref.kind, []).append(m)
    for kind, group in sorted(groups.items()):
        inputs = [policy_input(m, "desired") for m in group]
        c = time.process_time()
        for doc in inputs:
            evaluate_namespaces(evaluator, policies.document_namespaces, doc, "bench")
        per_doc = (time.process_time() - c) / len(inputs)
        print(f"  {kind:<12} {len(inputs):>5} documents  {per_doc * 1e6:>6,.0f} us/document CPU")


if __name__ == "__main__":
    raise SystemExit(main())
