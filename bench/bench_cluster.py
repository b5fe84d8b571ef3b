"""Benchmark the cluster stage against the test fake API server (HTTPS, bearer token) on 127.0.0.1.

    python bench/bench_cluster.py [--objects 1000] [--repeat 3]

Measures: raw-JSON lists (our reader) vs the kubernetes typed models for the same Deployments; a
scope read with 1 vs 4 parallel lists and several page sizes; snapshot write and read back; and a
three-cluster run (healthy, refused, slower than the deadline) against its deadline.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from cluster.conftest import TOKEN, load_live_objects  # noqa: E402
from cluster.fakeapi import FakeAPIServer, refused_url  # noqa: E402
from cluster.pki import cluster_entry, make_pki, write_kubeconfig  # noqa: E402

from auditor.cluster.kube import read_cluster  # noqa: E402
from auditor.cluster.options import ClusterOptions, LiveScope  # noqa: E402
from auditor.cluster.snapshot import read_snapshot, write_snapshot  # noqa: E402
from auditor.errors import ClusterError  # noqa: E402


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median seconds over ``repeat`` runs, and the last result."""
    times = []
    result = None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def fleet_objects(n: int, namespaces: list[str]) -> list[dict[str, Any]]:
    """``n`` realistic Deployments and ConfigMaps per namespace, cloned from the fixture objects."""
    base = load_live_objects()
    deploy = next(o for o in base if o["kind"] == "Deployment")
    cm = next(o for o in base if o["kind"] == "ConfigMap")
    out = [o for o in base if o["kind"] == "Namespace"]
    for ns in namespaces:
        out.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        for i in range(n):
            for proto, kind in ((deploy, "d"), (cm, "c")):
                obj = copy.deepcopy(proto)
                obj["metadata"].update(name=f"{kind}-{i:05d}", namespace=ns, uid=f"{ns}-{kind}-{i:05d}",
                                       resourceVersion=str(1000 + i))
                out.append(obj)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=1000, help="Deployments (and ConfigMaps) per namespace")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    pki = make_pki(tmp / "pki")
    namespaces = ["shop", "pay", "search", "edge"]
    objects = fleet_objects(args.objects, namespaces)
    print(f"fixture: {len(objects)} objects, {len(namespaces)} namespaces, HTTPS + bearer token on 127.0.0.1")

    with FakeAPIServer(objects, token=TOKEN, tls=pki.server) as api, \
            FakeAPIServer(objects, token=TOKEN, tls=pki.server) as slow:
        slow.add_fault(r"", delay=600)
        cfg = write_kubeconfig(
            tmp / "config",
            [cluster_entry("a", api.url, pki.ca_cert), cluster_entry("down", refused_url(), pki.ca_cert),
             cluster_entry("slow", slow.url, pki.ca_cert)],
            [{"name": "u", "user": {"token": TOKEN}}],
            [("prod", "a", "u"), ("down", "down", "u"), ("slow", "slow", "u")],
        )
        opts = ClusterOptions(kubeconfig=str(cfg), deadline=600)

        # 1. Raw JSON vs typed models: client-side cost of turning one list response into objects
        #    (the HTTP exchange with the Python fake server would dominate an end-to-end timing).
        import json

        from kubernetes import client

        from auditor.cluster.kube import APIResource, _to_manifests

        body = json.dumps(api._list(api._type_for("apps", "v1", "deployments"), "shop",  # type: ignore[arg-type]
                                    {}, "application/json")[1]).encode()
        res = APIResource("apps", "v1", "Deployment", "deployments", True)
        raw_s, raw = timed(lambda: _to_manifests(res, json.loads(body)["items"], False, b""), args.repeat)

        class _Resp:
            data = body

            def getheader(self, name: str, default: str | None = None) -> str | None:
                return "application/json" if name.lower() == "content-type" else default

        api_client = client.ApiClient()

        def typed() -> int:
            try:  # kubernetes >= 35: deserialize(text, type, content_type)
                out = api_client.deserialize(body.decode(), "V1DeploymentList", "application/json")
            except TypeError:  # older: deserialize(response, type)
                out = api_client.deserialize(_Resp(), "V1DeploymentList")
            return len(out.items)

        typed_s, typed_n = timed(typed, args.repeat)
        print(f"1. parse a list of {len(raw)} Deployments ({len(body) / 1e6:.1f} MB): raw JSON "
              f"{raw_s * 1000:.0f} ms, typed models {typed_s * 1000:.0f} ms ({typed_n}) -> raw "
              f"{typed_s / raw_s:.1f}x faster")

        # 2. Whole scope, parallel lists and page sizes.
        scope = LiveScope(kinds=(("apps", "v1", "Deployment"), ("", "v1", "ConfigMap"), ("", "v1", "Namespace")),
                          namespaces=tuple(namespaces))
        for parallel in (1, 4):
            for page in (100, 500):
                o = ClusterOptions(kubeconfig=str(cfg), deadline=600, parallel_lists=parallel, page_size=page)
                before = len(api.log)
                secs, st = timed(lambda o=o: read_cluster("prod", scope, o), args.repeat)
                reqs = (len(api.log) - before) // args.repeat
                print(f"2. scope read: {len(st.objects)} objects, parallel_lists={parallel}, page_size={page}: "
                      f"{secs:.2f} s, {reqs} requests, {len(st.objects) / secs:.0f} objects/s")

        # 3. Snapshot write and read back.
        st = read_cluster("prod", scope, opts)
        snap = tmp / "snap"
        w_s, _ = timed(lambda: write_snapshot(st, snap, scope=scope), 1)
        r_s, back = timed(lambda: read_snapshot(snap, scope), args.repeat)
        same = [m.body for m in back.objects] == [m.body for m in st.objects]
        print(f"3. snapshot of {len(st.objects)} objects: write {w_s:.2f} s, read {r_s:.2f} s, identical: {same}")

        # 4. Three clusters in parallel: healthy, refused, slower than the deadline.
        deadline = 10.0
        o3 = ClusterOptions(kubeconfig=str(cfg), deadline=deadline, request_timeout=2.0)

        def one_cluster(ctx: str) -> str:
            try:
                return f"{len(read_cluster(ctx, scope, o3).objects)} objects"
            except ClusterError as exc:
                return str(exc)

        scope = LiveScope(kinds=(("apps", "v1", "Deployment"), ("", "v1", "Namespace")), namespaces=("shop",))
        t = time.perf_counter()
        with ThreadPoolExecutor(3) as pool:
            outcomes = list(pool.map(one_cluster, ["prod", "down", "slow"]))
        wall = time.perf_counter() - t
        print(f"4. three clusters, deadline {deadline:g}s: wall {wall:.2f} s")
        for ctx, outcome in zip(["prod", "down", "slow"], outcomes, strict=True):
            print(f"   {ctx}: {outcome}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
