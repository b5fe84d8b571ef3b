"""Synthetic fleet for benchmarks: N targets x M objects, a git history, live state on local API servers.

    python bench/fleetgen.py generate DIR [--targets 12] [--objects 1500] [--drift 0.02] [--violations 0.1]
    python bench/fleetgen.py serve DIR      # one fake API server per target; prints {"kubeconfig": …}

Repository: ``base/`` holds ``objects / 6`` apps spread over ``objects / 150`` namespaces; each app is a
Deployment, Service, ConfigMap, ServiceAccount, Role and RoleBinding (the namespaces are objects too).
A fraction ``--violations`` of Deployments have no memory limit and no readiness probe (policy
findings). Overlays ``overlays/<env>/<region>`` add labels and a replica patch; targets come in pairs
(``<env>-<region>-a``/``-b``) that share an overlay, so renders can be shared. The history has a few
commits by different authors (provenance, change control).

Live state: each target's overlay rendered with ``kubectl kustomize``, given server-side fields
(uid, resourceVersion, creationTimestamp, managedFields, status), then drifted: a fraction ``--drift``
of Deployments get another image (by ``kubectl-edit``), half that fraction of ConfigMaps are missing,
and the same number of hand-made ConfigMaps are added (orphans). Stored as ``live/<target>.json``.

``serve`` starts tests/cluster/fakeapi.FakeAPIServer per target on 127.0.0.1 (plain HTTP, bearer
token), writes ``kubeconfig`` with one context per target and prints one JSON line; for each line read
on stdin it prints the requests every server logged since (one JSON line); it exits on stdin EOF.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import random
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from auditor.util import yamlio  # noqa: E402
from auditor.util.proc import run  # noqa: E402

ENVS = ("dev", "staging", "production", "qa", "perf", "sandbox")
REGIONS = ("us-east", "eu-west")
TOKEN = "bench-token-0000"
OBJECTS_PER_APP = 6
GIT_ENV = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}


def overlays_for(n_targets: int) -> list[tuple[str, str, str]]:
    """(target name, env, region) — pairs of targets share one overlay."""
    out = []
    combos = [(e, r) for e in ENVS for r in REGIONS]
    for i in range(n_targets):
        env, region = combos[(i // 2) % len(combos)]
        out.append((f"{env}-{region}-{'ab'[i % 2]}", env, region))
    return out


def app_docs(app: str, ns: str, rng: random.Random, violation: bool) -> list[dict[str, Any]]:
    """Six realistic objects of one app."""
    labels = {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "shop"}
    container: dict[str, Any] = {
        "name": app,
        "image": f"registry.example.com/shop/{app}:1.{rng.randint(0, 30)}.{rng.randint(0, 9)}",
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "APP_NAME", "value": app}],
        "envFrom": [{"configMapRef": {"name": f"{app}-config"}}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": "/live", "port": "http"}, "periodSeconds": 20},
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
    }
    if violation:
        del container["resources"]["limits"]
        del container["readinessProbe"]
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": app, "namespace": ns, "labels": labels},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"app.kubernetes.io/name": app}},
                  "template": {"metadata": {"labels": labels},
                               "spec": {"serviceAccountName": app, "containers": [container]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": app, "namespace": ns, "labels": labels},
         "spec": {"selector": {"app.kubernetes.io/name": app},
                  "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{app}-config", "namespace": ns,
                                                             "labels": labels},
         "data": {"FEATURE_FLAGS": "cart,search", "UPSTREAM": f"http://{app}-backend.{ns}.svc"}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": app, "namespace": ns, "labels": labels}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": app, "namespace": ns, "labels": labels},
         "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": app, "namespace": ns, "labels": labels},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": app},
         "subjects": [{"kind": "ServiceAccount", "name": app, "namespace": ns}]},
    ]


def _git(root: Path, *args: str, author: tuple[str, str] = ("Alice", "alice@example.com")) -> None:
    env = {**GIT_ENV, "GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1],
           "GIT_COMMITTER_NAME": author[0], "GIT_COMMITTER_EMAIL": author[1]}
    run(["git", *args], action="fleetgen git", cwd=root, env=env)


def _write(path: Path, docs: list[dict[str, Any]] | dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(docs, list):
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    else:
        path.write_text(yaml.safe_dump(docs, sort_keys=False))


def generate(root: Path, n_targets: int, n_objects: int, drift: float, violations: float, seed: int = 7) -> dict:
    """Write the repository, config and live state under ``root``; returns a summary."""
    rng = random.Random(seed)
    repo = root / "repo"
    repo.mkdir(parents=True)
    n_apps = max(1, n_objects // OBJECTS_PER_APP)
    n_ns = max(1, n_objects // 150)
    namespaces = [f"team-{i:02d}" for i in range(n_ns)]
    resources = []
    for ns in namespaces:
        _write(repo / "base" / "namespaces" / f"{ns}.yaml",
               {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        resources.append(f"namespaces/{ns}.yaml")
    for i in range(n_apps):
        ns = namespaces[i % n_ns]
        app = f"app-{i:04d}"
        _write(repo / "base" / "apps" / f"{app}.yaml", app_docs(app, ns, rng, rng.random() < violations))
        resources.append(f"apps/{app}.yaml")
    _write(repo / "base" / "kustomization.yaml", {"resources": resources})
    (repo / ".github").mkdir()
    (repo / ".github" / "CODEOWNERS").write_text("* @platform\n/overlays/production/ @sre-leads\n")
    targets = overlays_for(n_targets)
    for env, region in sorted({(e, r) for _, e, r in targets}):
        _write(repo / "overlays" / env / region / "kustomization.yaml", {
            "resources": ["../../../base"],
            "labels": [{"pairs": {"env": env, "region": region}, "includeSelectors": False}],
            "patches": [{"target": {"kind": "Deployment"},
                         "patch": yaml.safe_dump([{"op": "replace", "path": "/spec/replicas",
                                                   "value": 3 if env == "production" else 1}])}],
        })
    run(["git", "init", "-q", str(repo)], action="fleetgen git init", env=GIT_ENV)
    _git(repo, "symbolic-ref", "HEAD", "refs/heads/main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "Initial fleet")
    # A short history by several authors touching a few apps each.
    authors = [("Bob", "bob@example.com"), ("Carol", "carol@example.com"), ("Dan", "dan@example.com")]
    for c in range(6):
        app = f"app-{rng.randrange(n_apps):04d}"
        path = repo / "base" / "apps" / f"{app}.yaml"
        docs = list(yaml.safe_load_all(path.read_text()))
        docs[2]["data"]["REVISION"] = str(c)
        _write(path, docs)
        _git(repo, "commit", "-q", "-am", f"{app}: bump revision {c}", author=authors[c % len(authors)])
    # Config: one context per target.
    config = {
        "version": 1, "repo": "repo", "ref": "main", "fail_on": "high", "concurrency": 4,
        "protected_envs": ["production"], "output": {"dir": "reports", "keep": 5},
        "targets": [{"name": name, "env": env, "region": region, "path": f"overlays/{env}/{region}",
                     "context": name} for name, env, region in targets],
    }
    _write(root / "gitops-audit.yaml", config)
    # Live state.
    live_dir = root / "live"
    live_dir.mkdir()
    renders: dict[tuple[str, str], list[dict[str, Any]]] = {}
    drifted = missing = orphans = 0
    for name, env, region in targets:
        key = (env, region)
        if key not in renders:
            out = run(["kubectl", "kustomize", str(repo / "overlays" / env / region)], action="fleetgen render")
            renders[key] = yamlio.load_all(out.stdout, f"render {env}/{region}")
        objs, counts = make_live(renders[key], rng, drift, name)
        drifted, missing, orphans = drifted + counts[0], missing + counts[1], orphans + counts[2]
        (live_dir / f"{name}.json").write_text(json.dumps(objs))
    summary = {"targets": n_targets, "objects_per_target": len(next(iter(renders.values()))),
               "distinct_overlays": len(renders), "apps": n_apps, "namespaces": n_ns,
               "drifted_deployments": drifted, "missing_configmaps": missing, "orphan_configmaps": orphans}
    (root / "fleet.json").write_text(json.dumps(summary, indent=2))
    return summary


def make_live(desired: list[dict[str, Any]], rng: random.Random, drift: float, target: str) -> tuple[list, tuple]:
    """Desired objects as a server stores them, with controlled drift; returns (objects, counts)."""
    out = []
    drifted = missing = 0
    stamp = "2026-11-01T10:00:00Z"
    for i, d in enumerate(desired):
        o = copy.deepcopy(d)
        kind = o["kind"]
        if kind == "ConfigMap" and rng.random() < drift / 2:
            missing += 1
            continue
        meta = o["metadata"]
        meta["uid"] = hashlib.sha1(f"{target}/{i}".encode()).hexdigest()
        meta["resourceVersion"] = str(1000 + i)
        meta["creationTimestamp"] = stamp
        meta["managedFields"] = [{"manager": "kustomize-controller", "operation": "Apply",
                                  "apiVersion": o["apiVersion"], "time": stamp, "fieldsType": "FieldsV1",
                                  "fieldsV1": {"f:metadata": {"f:labels": {}}}}]
        if kind == "Deployment":
            meta["generation"] = 1
            o["status"] = {"replicas": o["spec"]["replicas"], "readyReplicas": o["spec"]["replicas"]}
            if rng.random() < drift:
                drifted += 1
                c = o["spec"]["template"]["spec"]["containers"][0]
                c["image"] = c["image"].rsplit(":", 1)[0] + ":hotfix"
                meta["managedFields"].append({"manager": "kubectl-edit", "operation": "Update",
                                              "apiVersion": "apps/v1", "time": "2026-11-20T03:12:00Z",
                                              "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}})
        if kind == "Service":
            o["spec"]["clusterIP"] = f"10.0.{i // 250}.{i % 250}"
            o["spec"]["type"] = "ClusterIP"
        out.append(o)
    namespaces = sorted({d["metadata"]["namespace"] for d in desired if d["metadata"].get("namespace")})
    orphans = missing
    for j in range(orphans):
        out.append({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": f"hand-made-{j}", "namespace": namespaces[j % len(namespaces)],
                                 "uid": f"orphan-{j}", "resourceVersion": "5", "creationTimestamp": stamp,
                                 "managedFields": [{"manager": "kubectl-create", "operation": "Update",
                                                    "apiVersion": "v1", "time": stamp}]},
                    "data": {"debug": "true"}})
    return out, (drifted, missing, orphans)


def serve(root: Path) -> None:
    """Serve every target's live state; print the kubeconfig path; on stdin EOF print request counts."""
    sys.path.insert(0, str(REPO / "tests"))
    from cluster.fakeapi import FakeAPIServer

    config = yaml.safe_load((root / "gitops-audit.yaml").read_text())
    servers = {}
    for t in config["targets"]:
        objs = json.loads((root / "live" / f"{t['name']}.json").read_text())
        servers[t["name"]] = FakeAPIServer(objs, token=TOKEN).__enter__()
    kubeconfig = {
        "apiVersion": "v1", "kind": "Config", "current-context": config["targets"][0]["name"],
        "clusters": [{"name": n, "cluster": {"server": s.url}} for n, s in servers.items()],
        "users": [{"name": "bench", "user": {"token": TOKEN}}],
        "contexts": [{"name": n, "context": {"cluster": n, "user": "bench"}} for n in servers],
    }
    path = root / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    print(json.dumps({"kubeconfig": str(path), "servers": {n: s.url for n, s in servers.items()}}), flush=True)
    for _line in sys.stdin:  # each line: print the requests logged since the last line, as one JSON line
        log = {n: [{"path": r.path, "query": r.query, "status": r.status} for r in s.log]
               for n, s in servers.items()}
        for s in servers.values():
            s.log.clear()
        print(json.dumps(log), flush=True)
    for s in servers.values():
        s.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("dir", type=Path)
    g.add_argument("--targets", type=int, default=12)
    g.add_argument("--objects", type=int, default=1500)
    g.add_argument("--drift", type=float, default=0.02)
    g.add_argument("--violations", type=float, default=0.1)
    s = sub.add_parser("serve")
    s.add_argument("dir", type=Path)
    args = p.parse_args()
    if args.cmd == "generate":
        print(json.dumps(generate(args.dir, args.targets, args.objects, args.drift, args.violations), indent=2))
    else:
        serve(args.dir)


if __name__ == "__main__":
    main()
