"""The evidence spool: what a run judged, written to disk as it goes, for the bundle and for ``replay``.

Members (all under ``state/`` in the bundle)::

    state/run.json                     run id, start, scope, and per target: repository key, audited
    state/config.yaml                  the config file as read (credentials in URLs redacted)
    state/effective-config.json        what the run used: config plus command-line overrides (redacted)
    state/policies/<n>/…               every Rego module and data file the policies were loaded from
    state/policies.json                how they were loaded (namespaces, builtin, waivers)
    state/change/<n>.json              change-control inputs of one repository (window commits, CODEOWNERS,
                                       platform approvals) and its protected targets' paths
    state/targets/<name>/desired.json  rendered desired objects (with their source files) and render gaps
    state/targets/<name>/live.json     live objects as read, with the reads and coverage gaps

Secret values: desired Secrets are stored as the run's keyed hashes (what drift compared), live
Secrets as read (already hashed, or metadata only); both are then re-keyed per object with a
second random key that is discarded with the run. Replay compares hash with hash and reaches the
same verdicts; nobody holding the bundle can test a guessed value (no key), nor see that two
Secrets share a value (per-object keys).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re
import secrets
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from auditor.model import CoverageGap, ListRecord, LiveState, Manifest, RenderedSet, Target
from auditor.provenance.changeinputs import to_json
from auditor.util.fs import atomic_write
from auditor.util.redact import redact_text
from auditor.util.secrets import HASH_PREFIX, hash_secret_object, is_secret

PREFIX = "state/"
def safe_name(name: str) -> str:
    """A target name as a member path segment (config validates names; Flux-discovered ones may differ)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "_"
    if cleaned != name:
        cleaned += "-" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return cleaned


def manifest_dict(m: Manifest) -> dict[str, Any]:
    """A manifest with its identity and source files (paths, roles, lines; commits are in the reports)."""
    return {
        "ref": m.ref.as_dict(),
        "api_version": m.api_version,
        "body": m.body,
        "files": [{"path": f.path, "role": f.role, "line": f.line} for f in m.provenance.files],
    }


def _gap(g: CoverageGap) -> dict[str, Any]:
    return {"group_kind": g.group_kind, "namespace": g.namespace, "reason": g.reason, "name": g.name,
            "informational": g.informational}


def _record(r: ListRecord) -> dict[str, Any]:
    return dataclasses.asdict(r)


def rekey_secret(body: Mapping[str, Any], subject: str, key: bytes) -> dict[str, Any]:
    """A Secret whose keyed hashes are hashed again with ``key`` and the object's identity."""
    data = body.get("data")
    if not isinstance(data, Mapping):
        return dict(body)
    out: dict[str, Any] = {}
    for name, value in data.items():
        if isinstance(value, str) and value.startswith(HASH_PREFIX):
            msg = f"{subject}\0{name}\0{value}".encode()
            out[name] = HASH_PREFIX + hmac.new(key, msg, hashlib.sha256).hexdigest()
        else:
            out[name] = "***"  # never stored in clear, whatever reached here
    return {**body, "data": out}


class Spool:
    """Collects a run's evidence state in a directory; thread-safe (targets are audited in a pool)."""

    def __init__(self, root: Path) -> None:
        """Write under ``root`` (a private temporary directory owned by the caller)."""
        self.root = Path(root)
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._targets: dict[str, dict[str, Any]] = {}

    def _write(self, name: str, value: Any) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(value, sort_keys=True, separators=(",", ":"), default=str))

    def _protect(self, m: Manifest, run_key: bytes, desired: bool) -> Manifest:
        if not is_secret(m.body):
            return m
        body: Mapping[str, Any] = m.body
        if desired:
            body = hash_secret_object(body, run_key)
        return dataclasses.replace(m, body=rekey_secret(body, m.ref.subject, self._key))

    def write_target(self, target: Target, rendered: RenderedSet, live: LiveState, secret_key: bytes) -> None:
        """Keep one audited target's desired and live state."""
        name = safe_name(target.name)
        desired = {
            "target": {**dataclasses.asdict(target), "repo": redact_text(target.repo)},
            "commit": rendered.commit,
            "path": rendered.path,
            "gaps": [_gap(g) for g in rendered.gaps],
            "objects": [manifest_dict(self._protect(m, secret_key, True)) for m in rendered.objects],
        }
        observed = {
            "source": redact_text(live.source),
            "identity": live.identity,
            "reads": [{**_record(r), "source": redact_text(r.source)} for r in live.reads],
            "gaps": [_gap(g) for g in live.gaps],
            "objects": [manifest_dict(self._protect(m, secret_key, False)) for m in live.objects],
        }
        self._write(f"targets/{name}/desired.json", desired)
        self._write(f"targets/{name}/live.json", observed)
        with self._lock:
            self._targets[target.name] = {"dir": name, "repo": redact_text(target.repo), "ref": target.ref}

    def write_change(self, repos: Mapping[tuple[str, str], Any], policies: Any) -> None:
        """Keep each repository's change-control inputs and the policy sources the run loaded."""
        for n, ((location, ref), work) in enumerate(sorted(repos.items())):
            if work.change is None:
                continue
            self._write(f"change/{n}.json", {
                "repo": redact_text(location), "ref": ref, "key": [redact_text(location), ref],
                "protected_paths": work.protected_paths,
                "inputs": to_json(work.change),
            })
        if policies is not None:
            self._write_policies(policies)

    def _write_policies(self, policies: Any) -> None:
        from auditor.policy.builtin import builtin_policy_dir
        from auditor.policy.loader import load_data

        opts = policies.options
        roots = ([str(builtin_policy_dir())] if opts.builtin else []) + list(opts.dirs)
        modules = []
        for mod in policies.modules:
            where = _relative_to_roots(mod.path, roots)
            self._write_text(f"policies/{where}", mod.source)
            modules.append(where)
        data = load_data(opts.data) if opts.data else {}
        self._write("policies.json", {
            "modules": modules,
            "data": data,
            "builtin": opts.builtin,
            "namespaces": list(opts.namespaces),
            "all_namespaces": opts.all_namespaces,
            "engine": opts.engine,
            "waivers": [dataclasses.asdict(w) for w in opts.waivers],
        })

    def _write_text(self, name: str, text: str) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text)

    def write_config(self, raw: bytes, effective: Mapping[str, Any]) -> None:
        """Keep the config file (credentials in URLs redacted) and the effective settings."""
        if raw:
            self._write_text("config.yaml", redact_text(raw.decode("utf-8", "replace")))
        self._write("effective-config.json", json.loads(redact_text(json.dumps(effective, default=str))))

    def finish(self, run: Mapping[str, Any]) -> dict[str, Path]:
        """Write ``run.json`` and return every member (bundle name → file)."""
        self._write("run.json", {**run, "targets": dict(sorted(self._targets.items()))})
        return {
            PREFIX + p.relative_to(self.root).as_posix(): p
            for p in sorted(self.root.rglob("*"))
            if p.is_file() and not p.name.startswith(".")
        }


def _relative_to_roots(path: str, roots: list[str]) -> str:
    """``<n>/<path inside root n>`` for a module under one of the policy roots (root n), else ``x/<name>``."""
    p = Path(path).resolve()
    for n, root in enumerate(roots):
        r = Path(root).resolve()
        if p == r:
            return f"{n}/{p.name}"
        if r in p.parents:
            return f"{n}/{p.relative_to(r).as_posix()}"
    return f"x/{hashlib.sha256(str(p).encode()).hexdigest()[:8]}-{p.name}"
