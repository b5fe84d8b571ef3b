"""Live reads through the real kubernetes client against a real HTTPS API server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from auditor.cluster.kube import discover_all, read_cluster
from auditor.cluster.options import ClusterOptions, LiveScope
from auditor.errors import ClusterError
from auditor.model import CoverageGap, ObjectRef
from auditor.util.secrets import keyed_hash

from .conftest import CANARY_SECRET, TOKEN, load_live_objects
from .fakeapi import FakeAPIServer

SHOP = LiveScope(
    kinds=(
        ("apps", "v1", "Deployment"),
        ("", "v1", "Service"),
        ("", "v1", "ConfigMap"),
        ("", "v1", "Secret"),
        ("", "v1", "ServiceAccount"),
        ("rbac.authorization.k8s.io", "v1", "RoleBinding"),
        ("rbac.authorization.k8s.io", "v1", "ClusterRole"),
        ("autoscaling", "v2", "HorizontalPodAutoscaler"),
        ("example.com", "v1", "Widget"),
        ("", "v1", "Namespace"),
    ),
    namespaces=("shop",),
)


def _opts(kubeconfig: Path, **kw: Any) -> ClusterOptions:
    base: dict[str, Any] = {"kubeconfig": str(kubeconfig), "request_timeout": 2.0, "deadline": 20.0}
    base.update(kw)
    return ClusterOptions(**base)


def test_reads_scope_with_lists_only(kubeconfig: Path, api: FakeAPIServer) -> None:
    state = read_cluster("prod", SHOP, _opts(kubeconfig))
    fixture = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in load_live_objects()}
    got = {(m.ref.kind, m.ref.namespace, m.ref.name): m for m in state.objects}
    want = {k for k in fixture if k[1] in ("", "shop")}
    assert set(got) == want
    # Bodies are what the server stores (items of built-in lists come without apiVersion/kind).
    web = got[("Deployment", "shop", "web")]
    assert web.body == fixture[("Deployment", "shop", "web")]
    assert web.ref == ObjectRef("apps", "Deployment", "shop", "web")
    assert got[("Widget", "shop", "blue")].body == fixture[("Widget", "shop", "blue")]
    assert got[("HorizontalPodAutoscaler", "shop", "web")].api_version == "autoscaling/v2"
    assert state.source == api.url
    assert state.identity == "auditor (context prod)"
    assert state.gaps == ()
    # One list per (resource, namespace); cluster-scoped kinds listed cluster-wide; no object GETs.
    lists = sorted((r.path, r.query.get("limit", "")) for r in api.log if r.query.get("limit"))
    assert [p for p, _ in lists] == sorted([
        "/apis/apps/v1/namespaces/shop/deployments", "/api/v1/namespaces/shop/services",
        "/api/v1/namespaces/shop/configmaps", "/api/v1/namespaces/shop/secrets",
        "/api/v1/namespaces/shop/serviceaccounts", "/apis/rbac.authorization.k8s.io/v1/namespaces/shop/rolebindings",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers",
        "/apis/example.com/v1/namespaces/shop/widgets", "/api/v1/namespaces",
    ])
    others = [r.path for r in api.log if not r.query.get("limit")]
    assert sorted(others) == sorted(["/api", "/apis", "/api/v1", "/apis/apps/v1",
                                     "/apis/rbac.authorization.k8s.io/v1", "/apis/autoscaling/v2",
                                     "/apis/example.com/v1"])
    records = {(r.resource, r.namespace): r for r in state.reads}
    assert records[("apps/v1/deployments", "shop")].count == 1
    assert records[("apps/v1/deployments", "shop")].resource_version == "100000"
    assert records[("v1/namespaces", "")].count == 2
    assert all(r.source == api.url and r.time.endswith("Z") for r in state.reads)


def test_requested_version_preferred_over_group_preference(kubeconfig: Path, api: FakeAPIServer) -> None:
    scope = LiveScope(kinds=(("autoscaling", "v1", "HorizontalPodAutoscaler"),), namespaces=("shop",))
    state = read_cluster("prod", scope, _opts(kubeconfig))
    assert [m.api_version for m in state.objects] == ["autoscaling/v1"]
    scope = LiveScope(kinds=(("autoscaling", "v9", "HorizontalPodAutoscaler"),), namespaces=("shop",))
    state = read_cluster("prod", scope, _opts(kubeconfig))
    assert [m.api_version for m in state.objects] == ["autoscaling/v2"]  # preferred


def test_secrets_metadata_only_by_default(kubeconfig: Path, api: FakeAPIServer) -> None:
    scope = LiveScope(kinds=(("", "v1", "Secret"),), namespaces=("shop",))
    state = read_cluster("prod", scope, _opts(kubeconfig))
    (secret,) = state.objects
    assert secret.body["kind"] == "Secret" and secret.body["apiVersion"] == "v1"
    assert secret.body["metadata"]["name"] == "db"
    assert "data" not in secret.body
    assert "annotations" not in secret.body["metadata"]  # last-applied held the value in clear
    (req,) = [r for r in api.log if r.path.endswith("/secrets")]
    assert "as=PartialObjectMetadataList" in req.accept


def test_secrets_hash_mode(kubeconfig: Path, api: FakeAPIServer) -> None:
    key = b"x" * 32
    scope = LiveScope(kinds=(("", "v1", "Secret"),), namespaces=("shop",))
    state = read_cluster("prod", scope, _opts(kubeconfig, secrets="hash", secret_key=key))
    (secret,) = state.objects
    assert secret.body["data"]["password"] == keyed_hash(key, CANARY_SECRET.encode())
    assert CANARY_SECRET not in json.dumps(secret.body)
    with pytest.raises(ClusterError, match="needs a per-run key"):
        read_cluster("prod", scope, _opts(kubeconfig, secrets="hash"))


def test_client_certificate_and_ca_file(kubeconfig: Path, api: FakeAPIServer) -> None:
    scope = LiveScope(kinds=(("", "v1", "Namespace"),), namespaces=())
    state = read_cluster("cert", scope, _opts(kubeconfig))
    assert [m.ref.name for m in state.objects] == ["payments", "shop"]
    assert {r.auth for r in api.log} == {"cert:alice"}
    assert state.identity == "alice (context cert)"


def test_pagination_with_continue(kubeconfig: Path, api: FakeAPIServer) -> None:
    api.objects.extend(
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": f"cm-{i:03d}", "namespace": "shop", "resourceVersion": str(500 + i),
                      "uid": f"00000000-0000-4000-8000-{i:012d}", "creationTimestamp": "2026-11-02T09:14:04Z"},
         "data": {"i": str(i)}}
        for i in range(25)
    )
    scope = LiveScope(kinds=(("", "v1", "ConfigMap"),), namespaces=("shop",))
    state = read_cluster("prod", scope, _opts(kubeconfig, page_size=10))
    assert len(state.objects) == 28
    pages = [r for r in api.log if r.path.endswith("/configmaps")]
    assert len(pages) == 3
    assert [("continue" in r.query) for r in pages] == [False, True, True]
    assert all(r.query["limit"] == "10" for r in pages)
    (record,) = state.reads
    assert record.count == 28
    # Lists, not per-object GETs: nothing addressed a single object.
    assert not [r for r in api.log if "/configmaps/" in r.path]


def test_request_count_is_kinds_times_namespaces(kubeconfig: Path, api: FakeAPIServer) -> None:
    for ns in ("a", "b", "c"):
        for i in range(20):
            api.objects.append({"apiVersion": "apps/v1", "kind": "Deployment",
                                "metadata": {"name": f"d{i}", "namespace": ns}, "spec": {"replicas": 1}})
    kinds = (("apps", "v1", "Deployment"), ("", "v1", "ConfigMap"), ("", "v1", "Service"))
    state = read_cluster("prod", LiveScope(kinds=kinds, namespaces=("a", "b", "c")), _opts(kubeconfig))
    assert len(state.objects) == 60
    lists = [r for r in api.log if r.query.get("limit")]
    assert len(lists) == 3 * 3
    assert len(api.log) - len(lists) == 4  # /api, /apis, /api/v1, /apis/apps/v1


def test_410_on_continue_restarts_list(kubeconfig: Path, api: FakeAPIServer) -> None:
    api.add_fault(r"/configmaps$", status=410, on_continue=True, times=1,
                  message="The provided continue parameter is too old to display a consistent list result.")
    scope = LiveScope(kinds=(("", "v1", "ConfigMap"),), namespaces=("shop",))
    state = read_cluster("prod", scope, _opts(kubeconfig, page_size=1))
    assert [m.ref.name for m in state.objects] == ["hotfix-debug", "kube-root-ca.crt", "web-config-7g2f8k9m4t"]
    pages = [r for r in api.log if r.path.endswith("/configmaps")]
    assert [r.status for r in pages] == [200, 410, 200, 200, 200]
    assert "continue" not in pages[2].query  # restarted from the beginning


def test_429_honours_retry_after(kubeconfig: Path, api: FakeAPIServer) -> None:
    api.add_fault(r"/deployments$", status=429, times=1, headers={"Retry-After": "1"},
                  message="Too many requests, please try again later.")
    scope = LiveScope(kinds=(("apps", "v1", "Deployment"),), namespaces=("shop",))
    state = read_cluster("prod", scope, _opts(kubeconfig))
    assert [m.ref.name for m in state.objects] == ["web"]
    first, second = [r for r in api.log if r.path.endswith("/deployments")]
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.95  # waited as told, not the (shorter) jittered backoff


def test_500_then_success(kubeconfig: Path, api: FakeAPIServer) -> None:
    api.add_fault(r"/services$", status=500, times=2)
    scope = LiveScope(kinds=(("", "v1", "Service"),), namespaces=("shop",))
    state = read_cluster("prod", scope, _opts(kubeconfig))
    assert [m.ref.name for m in state.objects] == ["web"]
    assert [r.status for r in api.log if r.path.endswith("/services")] == [500, 500, 200]


def test_5xx_exhausts_attempts(kubeconfig: Path, api: FakeAPIServer) -> None:
    api.add_fault(r"/services$", status=503)
    scope = LiveScope(kinds=(("", "v1", "Service"),), namespaces=("shop",))
    with pytest.raises(ClusterError, match=r"list services in shop: 503 .*after 3 attempts"):
        read_cluster("prod", scope, _opts(kubeconfig, max_attempts=3))
    assert len([r for r in api.log if r.path.endswith("/services")]) == 3


def test_slow_response_past_timeout_is_retried(
    kubeconfig: Path, api: FakeAPIServer, caplog: pytest.LogCaptureFixture
) -> None:
    # The first answer never comes within the test (held until the server closes). Whether a retry also
    # times out depends on the machine's load, so the test counts what the client saw instead of assuming
    # one retry: every timed-out attempt is followed by exactly one more request, and the last one succeeds.
    api.add_fault(r"/services$", delay=120.0, times=1)
    scope = LiveScope(kinds=(("", "v1", "Service"),), namespaces=("shop",))
    caplog.set_level(logging.DEBUG, logger="auditor.cluster")
    state = read_cluster("prod", scope, _opts(kubeconfig, request_timeout=0.5, max_attempts=6))
    assert [m.ref.name for m in state.objects] == ["web"]
    sent = [r for r in api.log if r.path.endswith("/services")]
    timeouts = [r for r in caplog.records
                if "/services" in r.getMessage() and "no response within 0.5s" in r.getMessage()]
    assert len(timeouts) >= 1  # the held answer was given up on
    assert len(sent) == len(timeouts) + 1  # one more request per timeout, none after the success
    assert sent[0].status == 0  # the held request is still unanswered: the success came from a retry


def test_deadline(kubeconfig: Path, api: FakeAPIServer) -> None:
    api.add_fault(r"", delay=5.0)
    with pytest.raises(ClusterError, match=r"read cluster prod: deadline of 1\.5s exceeded"):
        read_cluster("prod", SHOP, _opts(kubeconfig, request_timeout=1.0, deadline=1.5))


def test_403_on_one_kind_is_a_gap(kubeconfig: Path, api: FakeAPIServer) -> None:
    api.add_fault(r"/rolebindings$", status=403, message='rolebindings.rbac.authorization.k8s.io is forbidden: '
                  'User "auditor" cannot list resource "rolebindings" in API group "rbac.authorization.k8s.io"')
    state = read_cluster("prod", SHOP, _opts(kubeconfig))
    assert state.gaps == (CoverageGap("RoleBinding.rbac.authorization.k8s.io", "shop", "forbidden"),)
    assert not [m for m in state.objects if m.ref.kind == "RoleBinding"]
    assert [m for m in state.objects if m.ref.kind == "Deployment"]


def test_kind_not_served_is_a_gap(kubeconfig: Path, api: FakeAPIServer) -> None:
    scope = LiveScope(kinds=(("monitoring.coreos.com", "v1", "ServiceMonitor"), ("apps", "v1", "Deployment"),
                             ("apps", "v1", "Gadget"), ("", "v1", "Binding")), namespaces=("shop",))
    state = read_cluster("prod", scope, _opts(kubeconfig))
    assert state.gaps == (
        CoverageGap("ServiceMonitor.monitoring.coreos.com", "", "kind not served by the cluster"),
        CoverageGap("Gadget.apps", "", "kind not served by the cluster"),
        CoverageGap("Binding", "", "kind cannot be listed"),
    )
    assert [m.ref.name for m in state.objects] == ["web"]


def test_401_is_a_cluster_error(tmp_path: Path, pki: Any, api: FakeAPIServer) -> None:
    from .pki import cluster_entry, write_kubeconfig

    cfg = write_kubeconfig(tmp_path / "bad", [cluster_entry("c", api.url, pki.ca_cert)],
                           [{"name": "u", "user": {"token": "wrong-token-0123456789"}}], [("bad", "c", "u")])
    with pytest.raises(ClusterError) as err:
        read_cluster("bad", SHOP, _opts(cfg))
    assert "unauthorized (401)" in str(err.value)
    assert "wrong-token" not in str(err.value)
    assert len(api.log) == 1  # no retries on 401


def test_connection_refused(tmp_path: Path, pki: Any, refused_url: str) -> None:
    from .pki import cluster_entry, write_kubeconfig

    cfg = write_kubeconfig(tmp_path / "refused", [cluster_entry("c", refused_url, pki.ca_cert)],
                           [{"name": "u", "user": {"token": TOKEN}}], [("down", "c", "u")])
    with pytest.raises(ClusterError, match=r"read cluster down: https://127\.0\.0\.1:\d+ unreachable: "
                                           r"connection refused \(after 2 attempts\)"):
        read_cluster("down", SHOP, _opts(cfg, max_attempts=2))


def test_untrusted_server_certificate(tmp_path: Path, api: FakeAPIServer) -> None:
    from .pki import cluster_entry, make_pki, write_kubeconfig

    other = make_pki(tmp_path / "other-ca")
    cfg = write_kubeconfig(tmp_path / "k", [cluster_entry("c", api.url, other.ca_cert)],
                           [{"name": "u", "user": {"token": TOKEN}}], [("mitm", "c", "u")])
    with pytest.raises(ClusterError, match="TLS error"):
        read_cluster("mitm", SHOP, _opts(cfg))
    assert api.log == []


def test_exec_credential_plugin(tmp_path: Path, pki: Any, api: FakeAPIServer) -> None:
    from .pki import cluster_entry, exec_plugin_user, write_kubeconfig

    cfg = write_kubeconfig(tmp_path / "exec", [cluster_entry("c", api.url, pki.ca_cert)],
                           [exec_plugin_user("sso", TOKEN, tmp_path)], [("sso", "c", "sso")])
    state = read_cluster("sso", LiveScope(kinds=(("", "v1", "Namespace"),), namespaces=()), _opts(cfg))
    assert len(state.objects) == 2
    assert {r.auth for r in api.log} == {"bearer"}


def test_parallel_lists_are_bounded(kubeconfig: Path, api: FakeAPIServer) -> None:
    api.add_fault(r"/namespaces/", delay=0.1)
    scope = LiveScope(kinds=SHOP.kinds, namespaces=("shop", "payments", "a", "b"))
    read_cluster("prod", scope, _opts(kubeconfig, parallel_lists=3))
    assert 1 <= api.max_in_flight <= 3


def test_discover_all_for_snapshots(kubeconfig: Path, api: FakeAPIServer) -> None:
    resources = discover_all("prod", _opts(kubeconfig))
    kinds = {(r.group, r.version, r.kind) for r in resources}
    assert ("autoscaling", "v2", "HorizontalPodAutoscaler") in kinds
    assert ("autoscaling", "v1", "HorizontalPodAutoscaler") not in kinds  # preferred version only
    assert ("example.com", "v1", "Widget") in kinds
    assert not {k for _, _, k in kinds} & {"Binding", "Scale"}
    from auditor.commands.snapshot import select_resources

    default = {r.kind for r in select_resources(resources, [])}
    assert "Event" in {k for _, _, k in kinds} and "Event" not in default
    assert {r.kind for r in select_resources(resources, ["events"])} == {"Event"}
    namespaced = {r.kind: r.namespaced for r in resources}
    assert namespaced["ClusterRole"] is False and namespaced["Deployment"] is True


def test_retry_after_beyond_deadline_fails_at_once(kubeconfig: Path, api: FakeAPIServer) -> None:
    api.add_fault(r"/services$", status=429, headers={"Retry-After": "120"})
    scope = LiveScope(kinds=(("", "v1", "Service"),), namespaces=("shop",))
    with pytest.raises(ClusterError, match=r"deadline of 5s exceeded .*last problem: HTTP 429"):
        read_cluster("prod", scope, _opts(kubeconfig, deadline=5.0))
    assert len([r for r in api.log if r.path.endswith("/services")]) == 1


def test_retry_after_forms() -> None:
    import email.utils
    import time as _time

    from auditor.cluster.http import _retry_after

    assert _retry_after("3") == 3.0
    assert _retry_after(" 0.5 ") == 0.5
    assert _retry_after("") is None and _retry_after("soon") is None
    later = email.utils.formatdate(_time.time() + 30, usegmt=True)
    assert 25 < (_retry_after(later) or 0) <= 30
    assert _retry_after(email.utils.formatdate(_time.time() - 30, usegmt=True)) == 0.0


def test_410_every_time_gives_up(kubeconfig: Path, api: FakeAPIServer) -> None:
    api.add_fault(r"/configmaps$", status=410, on_continue=True)
    scope = LiveScope(kinds=(("", "v1", "ConfigMap"),), namespaces=("shop",))
    with pytest.raises(ClusterError, match=r"list configmaps in shop: 410"):
        read_cluster("prod", scope, _opts(kubeconfig, page_size=1, max_attempts=3))
    firsts = [r for r in api.log if r.path.endswith("/configmaps") and "continue" not in r.query]
    assert len(firsts) == 3


def test_progress_only_on_a_tty() -> None:
    import io

    from auditor.cluster.kube import _Progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, pipe = Tty(), io.StringIO()
    for stream in (tty, pipe):
        p = _Progress("prod", 8, None, stream)
        for _ in range(8):
            p.step()
    assert tty.getvalue().splitlines() == [f"  prod: lists {n}/8" for n in (2, 4, 6, 8)]
    assert pipe.getvalue() == ""


def test_fake_server_selectors_and_get(kubeconfig: Path, api: FakeAPIServer) -> None:
    """The fake serves label selectors and single-object GETs like a real server (we never use the latter)."""
    from auditor.cluster.http import Connection, HttpStatusError

    conn = Connection("prod", _opts(kubeconfig))
    try:
        body = conn.get_json("/api/v1/namespaces/shop/configmaps", {"labelSelector": "app=web"})
        assert body["kind"] == "ConfigMapList" and [i["metadata"]["name"] for i in body["items"]] == [
            "web-config-7g2f8k9m4t"]
        assert "kind" not in body["items"][0]
        body = conn.get_json("/api/v1/namespaces/shop/configmaps", {"labelSelector": "!app"})
        assert [i["metadata"]["name"] for i in body["items"]] == ["hotfix-debug", "kube-root-ca.crt"]
        obj = conn.get_json("/apis/apps/v1/namespaces/shop/deployments/web")
        assert obj["kind"] == "Deployment" and obj["metadata"]["uid"]
        with pytest.raises(HttpStatusError) as err:
            conn.get_json("/apis/apps/v1/namespaces/shop/deployments/nope")
        assert err.value.status == 404 and 'deployments "nope" not found' in err.value.message
    finally:
        conn.close()


def test_broken_aggregated_api_is_a_gap_not_a_failure(kubeconfig: Path, api: FakeAPIServer) -> None:
    api.add_fault(r"^/apis/example\.com/v1$", status=503, message="service unavailable")
    scope = LiveScope(kinds=(("example.com", "v1", "Widget"), ("apps", "v1", "Deployment")), namespaces=("shop",))
    state = read_cluster("prod", scope, _opts(kubeconfig, max_attempts=2))
    assert state.gaps == (CoverageGap("Widget.example.com", "", "discovery failed for its API group"),)
    assert [m.ref.name for m in state.objects] == ["web"]
    kinds = {r.kind for r in discover_all("prod", _opts(kubeconfig, max_attempts=2))}
    assert "Widget" not in kinds and "Deployment" in kinds


def _rotating_exec_user(tmp_path: Path, token_file: Path, calls: Path) -> dict[str, Any]:
    import sys

    script = tmp_path / "rotating-credential.py"
    script.write_text(
        "import json, pathlib\n"
        f"calls = pathlib.Path({str(calls)!r})\n"
        "calls.write_text(calls.read_text() + 'x' if calls.exists() else 'x')\n"
        f"token = pathlib.Path({str(token_file)!r}).read_text().strip()\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1beta1', 'kind': 'ExecCredential',"
        " 'status': {'token': token}}))\n"
    )
    return {"name": "rot", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                             "command": sys.executable, "args": [str(script)],
                                             "interactiveMode": "Never"}}}


def test_one_client_per_context_and_refresh_on_401(tmp_path: Path, pki: Any, api: FakeAPIServer) -> None:
    from .pki import cluster_entry, write_kubeconfig

    token_file, calls = tmp_path / "token", tmp_path / "calls"
    token_file.write_text(TOKEN)
    cfg = write_kubeconfig(tmp_path / "rot-config", [cluster_entry("c", api.url, pki.ca_cert)],
                           [_rotating_exec_user(tmp_path, token_file, calls)], [("rot", "c", "rot")])
    scope = LiveScope(kinds=(("", "v1", "Namespace"),), namespaces=())
    for _ in range(3):
        assert len(read_cluster("rot", scope, _opts(cfg)).objects) == 2
    assert calls.read_text() == "x"  # credentials loaded once for the context, reused by every read
    # The token is rotated server-side: the next read gets 401, re-runs the plugin once, and goes on.
    api.token = "rotated-token-0123456789"
    token_file.write_text(api.token)
    assert len(read_cluster("rot", scope, _opts(cfg, max_attempts=1)).objects) == 2
    assert calls.read_text() == "xx"
    assert [(r.auth, r.status) for r in api.log][-5:] == [("bad-bearer", 401)] + [("bearer", 200)] * 4
    # Still rejected after the reload: one reload only, then the cluster is not audited.
    api.token = "yet-another-token-987654321"
    with pytest.raises(ClusterError, match=r"unauthorized \(401\)"):
        read_cluster("rot", scope, _opts(cfg))
    assert calls.read_text() == "xxx"


def test_deadline_holds_against_a_trickling_response(kubeconfig: Path, api: FakeAPIServer) -> None:
    """Each piece arrives within the socket timeout, the whole body does not arrive within the deadline."""
    api.add_fault(r"/services$", trickle=0.3)  # ~6 s for the body, 0.3 s between pieces
    scope = LiveScope(kinds=(("", "v1", "Service"),), namespaces=("shop",))
    with pytest.raises(ClusterError, match=r"deadline of 2s exceeded"):
        read_cluster("prod", scope, _opts(kubeconfig, request_timeout=1.0, deadline=2.0))
    api.faults.clear()
    api.add_fault(r"/services$", trickle=0.01)  # the same trickle, fast enough: read in full
    state = read_cluster("prod", scope, _opts(kubeconfig, request_timeout=1.0, deadline=10.0))
    assert [m.ref.name for m in state.objects] == ["web"]
