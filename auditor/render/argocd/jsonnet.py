"""Evaluate a ``.jsonnet`` file of a directory source with go-jsonnet (the implementation Argo CD uses).

The evaluation runs in a child Python process with a timeout (a Jsonnet program can loop forever or
exhaust memory; the audit must not hang). Imports resolve like the repo-server's (the file's
directory, the app directory, then ``jsonnet.libs`` relative to the repository root) and never leave
the repository: an import outside it is an error. ``extVars``/``tlas`` (``code: true`` for code) are
passed as the Application gives them.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from auditor.errors import RenderError, ToolError
from auditor.util import proc

_WORKER = r"""
import json, os, sys
try:
    import _gojsonnet as jsonnet
except ImportError:
    sys.stderr.write("the gojsonnet package is not installed")
    sys.exit(3)
req = json.loads(sys.stdin.read())
root = os.path.realpath(req["root"])
def inside(p):
    real = os.path.realpath(p)
    return real == root or real.startswith(root + os.sep)
def importer(base, rel):
    for d in [base, *req["jpaths"]]:
        cand = os.path.normpath(os.path.join(d, rel))
        if os.path.isfile(cand):
            if not inside(cand):
                raise RuntimeError("import %s leaves the repository" % rel)
            with open(cand, "rb") as fh:
                return cand, fh.read()
    raise RuntimeError("import %s: not found" % rel)
out = jsonnet.evaluate_file(req["file"], jpathdir=req["jpaths"], ext_vars=req["ext_vars"],
                            ext_codes=req["ext_codes"], tla_vars=req["tla_vars"], tla_codes=req["tla_codes"],
                            import_callback=importer)
sys.stdout.write(out)
"""


def available() -> bool:
    """True when the go-jsonnet Python binding is installed."""
    return importlib.util.find_spec("_gojsonnet") is not None


def evaluate(path: Path, repo_root: Path, app_dir: Path, spec: Mapping[str, Any], *, timeout: float) -> Any:
    """The JSON value of a jsonnet file; RenderError with go-jsonnet's message when it fails."""
    shown = path.relative_to(repo_root).as_posix()
    if not available():
        raise RenderError(f"evaluate {shown}: the gojsonnet package is not installed, jsonnet not rendered")
    jpaths = [str(app_dir)]
    for lib in spec.get("libs") or []:
        jpaths.append(str(repo_root / str(lib).lstrip("/")))
    req: dict[str, Any] = {"root": str(repo_root), "file": str(path), "jpaths": jpaths,
                           "ext_vars": {}, "ext_codes": {}, "tla_vars": {}, "tla_codes": {}}
    for key, vars_key, codes_key in (("extVars", "ext_vars", "ext_codes"), ("tlas", "tla_vars", "tla_codes")):
        for v in spec.get(key) or []:
            if isinstance(v, dict) and v.get("name"):
                req[codes_key if v.get("code") else vars_key][str(v["name"])] = str(v.get("value") or "")
    try:
        res = proc.run([sys.executable, "-I", "-c", _WORKER], action=f"evaluate {shown}", timeout=timeout,
                       check=False, input_bytes=json.dumps(req).encode(), network=False, cpu_bound=True)
    except ToolError as exc:
        raise RenderError(str(exc)) from None
    if res.returncode != 0:
        msg = proc.short_stderr(res.stderr).replace(str(repo_root) + "/", "")
        raise RenderError(f"evaluate {shown}: jsonnet: {msg}")
    try:
        return json.loads(res.stdout)
    except ValueError as exc:
        raise RenderError(f"evaluate {shown}: not JSON: {exc}") from None
