"""Evidence bundle: a zip of every report format plus ``manifest.json`` with checksums; and its verifier.

The manifest records the sha256 of every other member, the tool version, the commit audited,
the config hash and the time, so an auditor can show later that the evidence was not altered.
The zip is deterministic (members sorted, timestamps taken from the run's finish time), so
the same report always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from auditor.model import AuditReport
from auditor.report._common import parse_time

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
# What reading a damaged or hostile zip member can raise (bad CRC, bad deflate stream,
# truncated file, unsupported compression, encryption).
_READ_ERRORS = (zipfile.BadZipFile, OSError, ValueError, zlib.error, EOFError, NotImplementedError, RuntimeError)
MAX_MEMBER_BYTES = 2 * 1024 * 1024 * 1024
"""Refuse to hash members claiming to be larger than this (zip bombs)."""


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def manifest(report: AuditReport, files: Mapping[str, bytes], *, config_sha256: str = "") -> dict[str, Any]:
    """The manifest dict for a bundle holding ``files`` (name → bytes)."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "tool": "gitops-audit",
        "tool_version": report.tool_version,
        "run_id": report.run_id,
        "repo_url": report.repo_url,
        "commit": report.commit,
        "ref": report.ref,
        "config_path": report.config_path,
        "config_sha256": config_sha256 or report.config_sha256,
        "started": report.started,
        "finished": report.finished,
        "created": report.finished or report.started,
        "exit_code": report.exit_code(),
        "partial": report.partial,
        "tools": [{"name": t.name, "version": t.version} for t in report.tools],
        "files": [
            {"name": name, "sha256": sha256_hex(data), "size": len(data)} for name, data in sorted(files.items())
        ],
    }


def _zip_time(report: AuditReport) -> tuple[int, int, int, int, int, int]:
    dt = parse_time(report.finished) or parse_time(report.started)
    if dt is None or dt.year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    return (dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second)


def build(report: AuditReport, files: Mapping[str, bytes], *, config_sha256: str = "") -> bytes:
    """The evidence zip: ``files`` plus ``manifest.json``, deterministic bytes."""
    for name in files:
        _check_name(name)
        if name == MANIFEST:
            raise ValueError(f"build evidence bundle: {MANIFEST} is reserved")
    man = json.dumps(manifest(report, files, config_sha256=config_sha256), indent=2, sort_keys=True) + "\n"
    when = _zip_time(report)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in [(MANIFEST, man.encode()), *sorted(files.items())]:
            info = zipfile.ZipInfo(name, date_time=when)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def _check_name(name: str) -> None:
    p = PurePosixPath(name)
    if not name or p.is_absolute() or ".." in p.parts or "\\" in name or name.startswith("./"):
        raise ValueError(f"build evidence bundle: unsafe member name {name!r}")


@dataclass(frozen=True)
class Verification:
    """Result of verifying a bundle: ``ok`` and one line per problem."""

    ok: bool
    problems: tuple[str, ...]
    manifest: Mapping[str, Any]
    checked: int
    """Number of members whose checksum matched."""


def verify(path: str | Path) -> Verification:
    """Check a bundle file against its manifest.

    Checks: manifest present and well-formed, every listed file present with the same sha256 and
    size, no member missing from the manifest, no unsafe member names.
    """
    problems: list[str] = []
    man: dict[str, Any] = {}
    checked = 0
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
        return Verification(False, (f"open {path}: {exc}",), {}, 0)
    with zf:
        infos = {i.filename: i for i in zf.infolist()}
        if len(infos) != len(zf.infolist()):
            problems.append("duplicate member names")
        if MANIFEST not in infos:
            return Verification(False, (f"{MANIFEST} missing",), {}, 0)
        try:
            man = json.loads(zf.read(MANIFEST))
        except _READ_ERRORS as exc:
            return Verification(False, (f"{MANIFEST}: unreadable (damaged bundle): {exc}",), {}, 0)
        except ValueError as exc:
            return Verification(False, (f"{MANIFEST}: invalid JSON: {exc}",), {}, 0)
        if not isinstance(man, dict) or not isinstance(man.get("files"), list):
            return Verification(False, (f"{MANIFEST}: no files list",), {}, 0)
        if man.get("manifest_version") != MANIFEST_VERSION:
            problems.append(f"{MANIFEST}: unsupported manifest_version {man.get('manifest_version')!r}")
        listed: set[str] = set()
        for entry in man["files"]:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                problems.append(f"{MANIFEST}: malformed file entry")
                continue
            name = entry["name"]
            listed.add(name)
            try:
                _check_name(name)
            except ValueError:
                problems.append(f"{name}: unsafe member name")
                continue
            info = infos.get(name)
            if info is None:
                problems.append(f"{name}: listed in manifest but missing from bundle")
                continue
            if info.file_size > MAX_MEMBER_BYTES:
                problems.append(f"{name}: too large to verify")
                continue
            try:
                data = zf.read(info)
            except _READ_ERRORS as exc:
                problems.append(f"{name}: unreadable (damaged bundle): {exc}")
                continue
            if sha256_hex(data) != entry.get("sha256"):
                problems.append(f"{name}: sha256 mismatch (modified after the run)")
            elif len(data) != entry.get("size", len(data)):
                problems.append(f"{name}: size mismatch")
            else:
                checked += 1
        for name in sorted(set(infos) - listed - {MANIFEST}):
            problems.append(f"{name}: not listed in manifest (added after the run)")
        if not listed:
            problems.append(f"{MANIFEST}: lists no files")
    return Verification(not problems, tuple(problems), man, checked)
