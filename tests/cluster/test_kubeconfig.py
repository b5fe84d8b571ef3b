"""kubeconfig handling like kubectl: --kubeconfig only, merged KUBECONFIG, ~/.kube/config, in-cluster."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from auditor.cluster import kubeconfig as kc
from auditor.cluster.kube import check_contexts, read_cluster
from auditor.cluster.options import ClusterOptions, LiveScope
from auditor.errors import ClusterError, ConfigError

from .conftest import TOKEN
from .fakeapi import FakeAPIServer
from .pki import Pki, cluster_entry, write_kubeconfig

NS_SCOPE = LiveScope(kinds=(("", "v1", "Namespace"),), namespaces=())


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No KUBECONFIG, an empty HOME, not in a cluster."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setattr(kc, "_SA_DIR", tmp_path / "no-sa")
    return home


def _two_files(tmp_path: Path, pki: Pki, api: FakeAPIServer) -> tuple[Path, Path]:
    """Two kubeconfigs; the second names its CA by a path relative to itself, as kubectl allows."""
    first = write_kubeconfig(tmp_path / "a" / "config", [cluster_entry("east", api.url, pki.ca_cert)],
                             [{"name": "u1", "user": {"token": TOKEN}}], [("east", "east", "u1")])
    second_dir = tmp_path / "b"
    second_dir.mkdir()
    shutil.copy(pki.ca_cert, second_dir / "cluster-ca.pem")
    second = write_kubeconfig(second_dir / "config", [cluster_entry("west", api.url, ca_file="cluster-ca.pem")],
                              [{"name": "u2", "user": {"token": TOKEN}}], [("west", "west", "u2")])
    return first, second


def test_unknown_context_fails_before_any_api_call(clean_env: Path, kubeconfig: Path, api: FakeAPIServer) -> None:
    opts = ClusterOptions(kubeconfig=str(kubeconfig))
    check_contexts(["prod", "cert", ""], opts)
    with pytest.raises(ConfigError, match=r"unknown kubeconfig context 'prod-eu' in kubeconfig .* "
                                          r"\(known: cert, prod\)"):
        check_contexts(["prod", "prod-eu"], opts)
    assert api.log == []


def test_kubeconfig_env_merges_files(clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                     pki: Pki, api: FakeAPIServer) -> None:
    first, second = _two_files(tmp_path, pki, api)
    missing = tmp_path / "missing" / "config"
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(first), str(missing), str(second)]))
    check_contexts(["east", "west", ""], ClusterOptions())
    # The second file's relative CA path resolves against its own directory.
    state = read_cluster("west", NS_SCOPE, ClusterOptions(deadline=10))
    assert [m.ref.name for m in state.objects] == ["payments", "shop"]
    assert state.identity == "u2 (context west)"
    # current-context comes from the first file that sets it.
    assert read_cluster("", NS_SCOPE, ClusterOptions(deadline=10)).identity == "u1 (context east)"


def test_explicit_kubeconfig_is_the_only_file(clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                              pki: Pki, api: FakeAPIServer) -> None:
    first, second = _two_files(tmp_path, pki, api)
    monkeypatch.setenv("KUBECONFIG", str(second))
    check_contexts(["east"], ClusterOptions(kubeconfig=str(first)))
    with pytest.raises(ConfigError, match="unknown kubeconfig context 'west'"):
        check_contexts(["west"], ClusterOptions(kubeconfig=str(first)))
    with pytest.raises(ConfigError, match="no such file"):
        check_contexts(["east"], ClusterOptions(kubeconfig=str(tmp_path / "nope")))


def test_home_kube_config_is_the_default(clean_env: Path, tmp_path: Path, pki: Pki, api: FakeAPIServer) -> None:
    first, _ = _two_files(tmp_path, pki, api)
    (clean_env / ".kube").mkdir()
    shutil.copy(first, clean_env / ".kube" / "config")
    check_contexts(["east"], ClusterOptions())
    with pytest.raises(ConfigError, match="unknown kubeconfig context 'west'"):
        check_contexts(["west"], ClusterOptions())


def test_no_kubeconfig_anywhere(clean_env: Path) -> None:
    with pytest.raises(ConfigError, match=r"none found .* not running in a cluster"):
        check_contexts(["prod"], ClusterOptions())
    with pytest.raises(ClusterError, match="read cluster prod: load kubeconfig: none found"):
        read_cluster("prod", NS_SCOPE, ClusterOptions())


def test_broken_kubeconfig(clean_env: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("apiVersion: v1\nclusters: [\n")
    with pytest.raises(ConfigError, match=r"load kubeconfig .*bad"):
        check_contexts(["x"], ClusterOptions(kubeconfig=str(bad)))
    no_current = write_kubeconfig(tmp_path / "nc", [cluster_entry("c", "https://127.0.0.1:1")],
                                  [{"name": "u", "user": {}}], [("c", "c", "u")], current="")
    text = no_current.read_text().replace("current-context: c", "current-context: ''")
    no_current.write_text(text)
    with pytest.raises(ConfigError, match="no current-context"):
        check_contexts([""], ClusterOptions(kubeconfig=str(no_current)))


def test_in_cluster_service_account(clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                    pki: Pki, api: FakeAPIServer) -> None:
    from kubernetes.config import incluster_config

    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text(TOKEN)
    shutil.copy(pki.ca_cert, sa / "ca.crt")
    (sa / "namespace").write_text("gitops-audit")
    monkeypatch.setattr(kc, "_SA_DIR", sa)
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(sa / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(sa / "ca.crt"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(api.port))
    check_contexts(["", "in-cluster"], ClusterOptions())
    with pytest.raises(ConfigError, match="unknown kubeconfig context 'prod'"):
        check_contexts(["prod"], ClusterOptions())
    state = read_cluster("in-cluster", NS_SCOPE, ClusterOptions(deadline=10))
    assert len(state.objects) == 2
    assert state.identity == "in-cluster service account"
    assert {r.auth for r in api.log} == {"bearer"}


def test_kubeconfig_is_parsed_once_per_version_of_its_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every target of a fleet reads the same kubeconfig: parsed once, again only when a file changes."""
    path = tmp_path / "config"

    def write(contexts: list[str], token: str) -> None:
        lines = ["apiVersion: v1", "kind: Config", "current-context: " + contexts[0], "clusters:"]
        lines += [f"- name: {c}\n  cluster: {{server: 'https://127.0.0.1:1'}}" for c in contexts]
        lines += ["users:", f"- name: u\n  user: {{token: {token}}}", "contexts:"]
        lines += [f"- name: {c}\n  context: {{cluster: {c}, user: u}}" for c in contexts]
        path.write_text("\n".join(lines) + "\n")

    parses: list[int] = []
    real = kc._parse
    monkeypatch.setattr(kc, "_parse", lambda s: parses.append(1) or real(s))
    write(["a", "b"], "t1")
    source = kc.KubeconfigSource((str(path),), in_cluster=False)
    for _ in range(5):
        known, current = kc.load_contexts(source)
        assert sorted(known) == ["a", "b"] and current == "a"
        assert kc.user_entry(source, "u") == {"token": "t1"}
    assert len(parses) == 1
    known["a"]["user"] = "changed by a caller"  # callers get copies
    assert kc.load_contexts(source)[0]["a"]["user"] == "u"
    write(["a", "b", "c"], "t2")  # the file changed (size): read again
    assert sorted(kc.load_contexts(source)[0]) == ["a", "b", "c"]
    assert kc.user_entry(source, "u") == {"token": "t2"}
    assert len(parses) == 2
