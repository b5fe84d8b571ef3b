"""Synthetic fleet for benchmarks: any number of targets of mixed sizes, a git history, live state on local API servers.

    python bench/fleetgen.py generate DIR [--targets 12] [--objects 1500] [--sizes 300,1500,3000]
                                          [--drift 0.02] [--violations 0.1] [--seed 7]
    python bench/fleetgen.py serve DIR      # one fake API server per target; prints {"kubeconfig": …}
    python bench/fleetgen.py commit DIR --overlay K | --base   # one more commit (incremental-render benchmark)

Repository: ``base/team-NN/`` holds one namespace and its apps (25 apps per namespace); each app is a
Deployment, Service, ConfigMap, ServiceAccount, Role and RoleBinding, so a team is 151 objects and
``base/kustomization.yaml`` lists every team. A fraction ``--violations`` of Deployments have no memory
limit and no readiness probe (policy findings). Overlays ``overlays/<env>/<region>`` add labels and a
replica patch; targets come in pairs (``<env>-<region>-a``/``-b``) that share an overlay, so renders can be
shared. Names never repeat: after the 6 environments x 2 regions of the first 24 targets come more
regions (``us-west``, ``eu-central``…, then ``us-east-2``…). ``--sizes`` gives the objects of each overlay
in turn (default: all ``--objects``): an overlay that needs every team reads ``../../../base``, a smaller
one lists the teams it needs, so clusters of mixed sizes share one base. The history has a few commits by
different authors (provenance, change control).

Live state: each overlay's objects as kustomize renders them (computed here, and checked against
``kubectl kustomize`` for the first overlay), given server-side fields (uid, resourceVersion,
creationTimestamp, managedFields, status), then drifted: a fraction ``--drift`` of Deployments get another
image (by ``kubectl-edit``), half that fraction of ConfigMaps are missing, and the same number of
hand-made ConfigMaps are added (orphans). Stored as ``live/<target>.json``.

``serve`` starts tests/cluster/fakeapi.FakeAPIServer per target on 127.0.0.1 (plain HTTP, bearer
token), writes ``kubeconfig`` with one context per target and prints one JSON line; for each line read
on stdin it prints the requests every server logged since (one JSON line); it exits on stdin EOF.

``commit --overlay K`` changes one Deployment's environment in overlay K (0-based, in target order) and
``commit --base`` one ConfigMap of ``base/team-00`` (read by every overlay), each as a new commit; the live
state stays as it was, so the next audit reports that change as drift.
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
REGIONS = ("us-east", "eu-west", "us-west", "eu-central", "ap-south", "ap-northeast", "sa-east", "ca-central")
TOKEN = "bench-token-0000"
OBJECTS_PER_APP = 6
APPS_PER_TEAM = 25
"""A team (one namespace) is 1 Namespace + 25 apps x 6 objects = 151 objects."""
GIT_ENV = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}


def region_name(index: int) -> str:
    """``us-east``, ``eu-west``, … ``ca-central``, then ``us-east-2``…: never the same name twice."""
    base = REGIONS[index % len(REGIONS)]
    return base if index < len(REGIONS) else f"{base}-{index // len(REGIONS) + 1}"


def overlay_of(o: int) -> tuple[str, str]:
    """(env, region) of the o-th overlay: 6 environments x 2 regions per block of 12, then the next 2 regions."""
    block, within = divmod(o, 2 * len(ENVS))
    return ENVS[within // 2], region_name(2 * block + within % 2)


def overlays_for(n_targets: int) -> list[tuple[str, str, str]]:
    """(target name, env, region) — pairs of targets share one overlay; names are unique for any count."""
    out = []
    for i in range(n_targets):
        env, region = overlay_of(i // 2)
        out.append((f"{env}-{region}-{'ab'[i % 2]}", env, region))
    return out


def teams_for(size: int) -> int:
    """Teams (namespaces of 25 apps, 151 objects) an overlay of about ``size`` objects holds (at least one)."""
    return max(1, round(size / (1 + APPS_PER_TEAM * OBJECTS_PER_APP)))


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


def overlay_kustomization(env: str, region: str, teams: int, all_teams: int) -> dict[str, Any]:
    """An overlay: every team through ``../../../base``, or the first ``teams`` teams by name."""
    resources = ["../../../base"] if teams >= all_teams else [f"../../../base/team-{t:02d}" for t in range(teams)]
    return {
        "resources": resources,
        "labels": [{"pairs": {"env": env, "region": region}, "includeSelectors": False}],
        "patches": [{"target": {"kind": "Deployment"},
                     "patch": yaml.safe_dump([{"op": "replace", "path": "/spec/replicas",
                                               "value": 3 if env == "production" else 1}])}],
    }


def overlay_objects(team_docs: list[list[dict[str, Any]]], env: str, region: str, teams: int) -> list[dict[str, Any]]:
    """What kustomize renders for an overlay, computed directly (the labels and the replica patch)."""
    out = []
    for docs in team_docs[:teams]:
        for d in docs:
            o = json.loads(json.dumps(d))  # not deepcopy: it keeps the label dicts shared with the pod template
            o["metadata"].setdefault("labels", {}).update({"env": env, "region": region})
            if o["kind"] == "Deployment":
                o["spec"]["replicas"] = 3 if env == "production" else 1
            out.append(o)
    return out


def _canonical(docs: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(d, sort_keys=True) for d in docs)


def generate(root: Path, n_targets: int, n_objects: int, drift: float, violations: float, seed: int = 7,
             sizes: tuple[int, ...] = ()) -> dict:
    """Write the repository, config and live state under ``root``; returns a summary."""
    rng = random.Random(seed)
    repo = root / "repo"
    repo.mkdir(parents=True)
    targets = overlays_for(n_targets)
    overlays = list(dict.fromkeys((e, r) for _, e, r in targets))
    sizes = sizes or (n_objects,)
    overlay_teams = {ov: teams_for(sizes[o % len(sizes)]) for o, ov in enumerate(overlays)}
    n_ns = max(overlay_teams.values())
    n_apps = n_ns * APPS_PER_TEAM
    namespaces = [f"team-{i:02d}" for i in range(n_ns)]
    team_docs: list[list[dict[str, Any]]] = [
        [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}] for ns in namespaces]
    team_files: list[list[str]] = [["namespace.yaml"] for _ in namespaces]
    for t, ns in enumerate(namespaces):
        _write(repo / "base" / ns / "namespace.yaml", team_docs[t][0])
    for i in range(n_apps):
        t = i % n_ns
        app = f"app-{i:04d}"
        docs = app_docs(app, namespaces[t], rng, rng.random() < violations)
        _write(repo / "base" / namespaces[t] / f"{app}.yaml", docs)
        team_docs[t].extend(docs)
        team_files[t].append(f"{app}.yaml")
    for t, ns in enumerate(namespaces):
        _write(repo / "base" / ns / "kustomization.yaml", {"resources": team_files[t]})
    _write(repo / "base" / "kustomization.yaml", {"resources": namespaces})
    (repo / ".github").mkdir()
    (repo / ".github" / "CODEOWNERS").write_text("* @platform\n/overlays/production/ @sre-leads\n")
    for (env, region), teams in overlay_teams.items():
        _write(repo / "overlays" / env / region / "kustomization.yaml",
               overlay_kustomization(env, region, teams, n_ns))
    run(["git", "init", "-q", str(repo)], action="fleetgen git init", env=GIT_ENV)
    _git(repo, "symbolic-ref", "HEAD", "refs/heads/main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "Initial fleet")
    # A short history by several authors touching a few apps each.
    authors = [("Bob", "bob@example.com"), ("Carol", "carol@example.com"), ("Dan", "dan@example.com")]
    for c in range(6):
        i = rng.randrange(n_apps)
        path = repo / "base" / namespaces[i % n_ns] / f"app-{i:04d}.yaml"
        docs = list(yaml.safe_load_all(path.read_text()))
        docs[2]["data"]["REVISION"] = str(c)
        _write(path, docs)
        t = i % n_ns
        k = team_files[t].index(path.name)
        team_docs[t][1 + (k - 1) * OBJECTS_PER_APP + 2]["data"]["REVISION"] = str(c)
        _git(repo, "commit", "-q", "-am", f"app-{i:04d}: bump revision {c}", author=authors[c % len(authors)])
    # Config: one context per target.
    config = {
        "version": 1, "repo": "repo", "ref": "main", "fail_on": "high", "concurrency": 4,
        "protected_envs": ["production"], "output": {"dir": "reports", "keep": 5},
        "targets": [{"name": name, "env": env, "region": region, "path": f"overlays/{env}/{region}",
                     "context": name} for name, env, region in targets],
    }
    _write(root / "gitops-audit.yaml", config)
    # Live state: computed, and checked once against the real kustomize.
    env0, region0 = overlays[0]
    expected = overlay_objects(team_docs, env0, region0, overlay_teams[overlays[0]])
    out = run(["kubectl", "kustomize", str(repo / "overlays" / env0 / region0)], action="fleetgen render",
              timeout=1800)
    if _canonical(yamlio.load_all(out.stdout, "kustomize")) != _canonical(expected):
        raise SystemExit("fleetgen: computed objects differ from kubectl kustomize's output")
    live_dir = root / "live"
    live_dir.mkdir()
    drifted = missing = orphans = 0
    objects_per_target = []
    for name, env, region in targets:
        desired = overlay_objects(team_docs, env, region, overlay_teams[(env, region)])
        objects_per_target.append(len(desired))
        objs, counts = make_live(desired, rng, drift, name)
        drifted, missing, orphans = drifted + counts[0], missing + counts[1], orphans + counts[2]
        (live_dir / f"{name}.json").write_text(json.dumps(objs))
    summary = {"targets": n_targets, "objects_per_target": objects_per_target[0] if len(set(objects_per_target)) == 1
               else sorted(set(objects_per_target)), "objects": sum(objects_per_target),
               "distinct_overlays": len(overlays), "apps": n_apps, "namespaces": n_ns,
               "drifted_deployments": drifted, "missing_configmaps": missing, "orphan_configmaps": orphans}
    (root / "fleet.json").write_text(json.dumps(summary, indent=2))
    return summary


def commit_change(root: Path, overlay: int | None = None, base: bool = False) -> str:
    """One more commit: a Deployment's environment in overlay ``overlay``, or a ConfigMap of base/team-00."""
    repo = root / "repo"
    config = yaml.safe_load((root / "gitops-audit.yaml").read_text())
    count = run(["git", "rev-list", "--count", "HEAD"], action="fleetgen git", cwd=repo, env=GIT_ENV)
    stamp = count.stdout.decode().strip()
    if base:
        path = next(p for p in sorted((repo / "base" / "team-00").glob("app-*.yaml")))
        docs = list(yaml.safe_load_all(path.read_text()))
        docs[2]["data"]["REVISION"] = f"base-{stamp}"
        _write(path, docs)
        what = f"{path.relative_to(repo)}: new ConfigMap revision"
    else:
        paths = list(dict.fromkeys(t["path"] for t in config["targets"]))
        rel = paths[overlay or 0]
        kpath = repo / rel / "kustomization.yaml"
        doc = yaml.safe_load(kpath.read_text())
        patch = [{"op": "add", "path": "/spec/template/spec/containers/0/env/-",
                  "value": {"name": "OVERLAY_REVISION", "value": stamp}}]
        doc["patches"] = [p for p in doc["patches"] if p["target"].get("name") != "app-0000"]
        doc["patches"].append({"target": {"kind": "Deployment", "name": "app-0000"}, "patch": yaml.safe_dump(patch)})
        _write(kpath, doc)
        what = f"{rel}: app-0000 environment"
    _git(repo, "commit", "-q", "-am", what, author=("Erin", "erin@example.com"))
    return what


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
    g.add_argument("--sizes", default="", help="objects per overlay, in turn (e.g. 300,1500,3000)")
    g.add_argument("--drift", type=float, default=0.02)
    g.add_argument("--violations", type=float, default=0.1)
    g.add_argument("--seed", type=int, default=7)
    s = sub.add_parser("serve")
    s.add_argument("dir", type=Path)
    c = sub.add_parser("commit")
    c.add_argument("dir", type=Path)
    which = c.add_mutually_exclusive_group(required=True)
    which.add_argument("--overlay", type=int, help="index of the overlay to change (0-based)")
    which.add_argument("--base", action="store_true", help="change a ConfigMap every overlay reads")
    args = p.parse_args()
    if args.cmd == "generate":
        sizes = tuple(int(x) for x in args.sizes.split(",") if x.strip())
        print(json.dumps(generate(args.dir, args.targets, args.objects, args.drift, args.violations, args.seed,
                                  sizes), indent=2))
    elif args.cmd == "commit":
        print(commit_change(args.dir, args.overlay, args.base))
    else:
        serve(args.dir)


if __name__ == "__main__":
    main()
