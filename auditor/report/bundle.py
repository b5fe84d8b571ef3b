"""Evidence bundle: a zip of the reports and the state judged, a signed manifest, and its verifier.

Layout (every member but the two manifest files is a subject of the signed statement)::

    manifest.json          in-toto Statement v1: subjects (name, sha256) + predicate (run metadata, exit code)
    manifest.sig           DSSE envelope (Ed25519) over manifest.json; absent in an unsigned bundle
    README.txt             what the bundle holds and whether it is signed
    reports/…              report.json, report.html, findings.csv, junit.xml, report.sarif, ledger.csv, oscal.json
    state/…                effective config, policies, change-control inputs, per-target desired/live state
                           (written by the run's evidence spool; Secret values as per-object keyed hashes)

The zip is deterministic (sorted members, fixed timestamps from the run's finish time). Members are
written and read in chunks: building or verifying a bundle never holds a member in memory, and
:func:`verify` refuses members or totals beyond fixed bounds (zip bombs) before reading them.
"""

from __future__ import annotations

import enum
import hashlib
import io
import json
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from auditor.model import AuditReport
from auditor.report import signing
from auditor.report._common import parse_time

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
README = "README.txt"
RESERVED = (MANIFEST, SIGNATURE)
MANIFEST_VERSION = 2
CHUNK = 1024 * 1024
MAX_MEMBER_BYTES = 1024 * 1024 * 1024
"""Largest member (uncompressed) a verifier reads."""
MAX_TOTAL_BYTES = 4 * 1024 * 1024 * 1024
"""Largest sum of declared member sizes a verifier reads."""
MAX_MEMBERS = 100_000
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
MAX_RATIO = 1100
"""Deflate cannot compress better than ~1032:1: a member claiming more is malformed or a bomb."""
# What reading a damaged or hostile zip member can raise (bad CRC, bad deflate stream,
# truncated file, unsupported compression, encryption).
_READ_ERRORS = (zipfile.BadZipFile, OSError, ValueError, zlib.error, EOFError, NotImplementedError, RuntimeError)

Source = bytes | Path
"""A member's content: bytes, or a file streamed from disk."""


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def _digest(src: Source) -> str:
    if isinstance(src, bytes):
        return sha256_hex(src)
    h = hashlib.sha256()
    with open(src, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def predicate(report: AuditReport, *, config_sha256: str = "", key_id: str = "") -> dict[str, Any]:
    """Run metadata signed with the subjects: what an auditor needs to tie the bundle to one run."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "tool": "gitops-audit",
        "tool_version": report.tool_version,
        "run_id": report.run_id,
        "scope": report.scope,
        "repo_url": report.repo_url,
        "commit": report.commit,
        "ref": report.ref,
        "config_path": report.config_path,
        "config_sha256": config_sha256 or report.config_sha256,
        "started": report.started,
        "finished": report.finished,
        "created": report.finished or report.started,
        "fail_on": report.fail_on.value,
        "exit_code": report.exit_code(),
        "partial": report.partial,
        "audit_window": report.audit_window,
        "targets": [{"name": r.target.name, "audited": r.audited} for r in report.results],
        "tools": [{"name": t.name, "version": t.version} for t in report.tools],
        "signed": bool(key_id),
        "key_id": key_id,
    }


def _zip_time(report: AuditReport) -> tuple[int, int, int, int, int, int]:
    dt = parse_time(report.finished) or parse_time(report.started)
    if dt is None or dt.year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    return (dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second)


def readme(report: AuditReport, key: signing.SigningKey | None) -> bytes:
    """README.txt: the bundle's contents and its signing status, in plain words."""
    status = (
        f"SIGNED: manifest.sig is a DSSE envelope (Ed25519, key id {key.key_id}) over manifest.json."
        if key is not None
        else "UNSIGNED: no signing key was configured for this run. The checksums in manifest.json show\n"
        "that members match the manifest, but anyone could have rewritten both: this bundle is not\n"
        "tamper-evident. Configure evidence.signing_key_* to sign bundles."
    )
    text = f"""gitops-audit evidence bundle
run {report.run_id} · commit {report.commit} · finished {report.finished} · exit code {report.exit_code()}

{status}

Verify:  gitops-audit verify-bundle evidence.zip --key PUBLIC_KEY.pem
Replay:  gitops-audit replay evidence.zip   (re-runs drift, policy and change control offline)

manifest.json   in-toto Statement v1: sha256 of every other member, and the run's metadata
reports/        the run's reports (JSON, HTML, CSV, JUnit, SARIF, change ledger, OSCAL)
state/          what was judged: effective config (credentials redacted), policies, change-control
                inputs, and per target the rendered desired state and the live state read.
                Secret values are never stored: only keyed hashes whose key was discarded.
"""
    return text.encode()


def build_to(
    out: IO[bytes],
    report: AuditReport,
    files: Mapping[str, Source],
    *,
    config_sha256: str = "",
    key: signing.SigningKey | None = None,
) -> None:
    """Write the evidence zip for ``files`` (name → bytes or a file path) to ``out``."""
    members: dict[str, Source] = dict(files)
    for name in members:
        _check_name(name)
        if name in RESERVED:
            raise ValueError(f"build evidence bundle: {name} is reserved")
    members.setdefault(README, readme(report, key))
    digests = [(name, _digest(src)) for name, src in sorted(members.items())]
    pred = predicate(report, config_sha256=config_sha256, key_id=key.key_id if key else "")
    man = signing.statement(digests, pred)
    extra: list[tuple[str, bytes]] = [(MANIFEST, man)]
    if key is not None:
        extra.append((SIGNATURE, signing.envelope(man, key)))
    when = _zip_time(report)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, src in [*sorted(members.items()), *extra]:
            info = zipfile.ZipInfo(name, date_time=when)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            if isinstance(src, bytes):
                zf.writestr(info, src)
                continue
            with open(src, "rb") as fh, zf.open(info, "w", force_zip64=True) as dst:
                while chunk := fh.read(CHUNK):
                    dst.write(chunk)


def build(
    report: AuditReport,
    files: Mapping[str, Source],
    *,
    config_sha256: str = "",
    key: signing.SigningKey | None = None,
) -> bytes:
    """The evidence zip as bytes (small bundles and tests; runs stream with :func:`build_to`)."""
    buf = io.BytesIO()
    build_to(buf, report, files, config_sha256=config_sha256, key=key)
    return buf.getvalue()


def _check_name(name: str) -> None:
    p = PurePosixPath(name)
    if not name or p.is_absolute() or ".." in p.parts or "\\" in name or name.startswith("./"):
        raise ValueError(f"build evidence bundle: unsafe member name {name!r}")


# --------------------------------------------------------------------------- verification


class Status(enum.IntEnum):
    """Verdict of :func:`verify`; the value is ``verify-bundle``'s exit code."""

    VERIFIED = 0
    SIGNATURE_INVALID = 1
    TAMPERED = 5
    MISSING_OR_ADDED = 6
    UNSIGNED = 7
    DAMAGED = 8
    """Not a readable bundle: not a zip, damaged, malformed manifest, or beyond the size bounds."""
    NOT_CHECKED = 9
    """Signed, but no public key was given, so the signature was not checked."""


_HEADLINE = {
    Status.VERIFIED: "verified",
    Status.SIGNATURE_INVALID: "signature invalid",
    Status.TAMPERED: "file tampered",
    Status.MISSING_OR_ADDED: "file missing or added",
    Status.UNSIGNED: "unsigned",
    Status.DAMAGED: "not a valid bundle",
    Status.NOT_CHECKED: "signature not checked",
}


@dataclass(frozen=True)
class Verification:
    """Result of verifying a bundle: the status, one line per problem, the manifest's predicate."""

    status: Status
    problems: tuple[str, ...]
    manifest: Mapping[str, Any]
    checked: int
    """Number of members whose digest matched."""
    key_id: str = ""
    """Key id whose signature verified (or that the envelope names, when no key was given)."""

    @property
    def ok(self) -> bool:
        """True only for a verified signature over an intact bundle."""
        return self.status is Status.VERIFIED

    @property
    def intact(self) -> bool:
        """True when every member matches the manifest (whatever the signature says)."""
        return self.status in (Status.VERIFIED, Status.UNSIGNED, Status.NOT_CHECKED)

    @property
    def headline(self) -> str:
        """The verdict in two or three words."""
        return _HEADLINE[self.status]


def _fail(status: Status, problem: str, man: Mapping[str, Any] | None = None) -> Verification:
    return Verification(status, (problem,), man or {}, 0)


def open_bundle(path: str | Path) -> zipfile.ZipFile:
    """Open a bundle zip after checking its member count and declared sizes (raises ValueError)."""
    zf = zipfile.ZipFile(path)
    try:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ValueError(f"{len(infos)} members (more than {MAX_MEMBERS})")
        total = 0
        for info in infos:
            if info.file_size > MAX_MEMBER_BYTES:
                raise ValueError(f"{info.filename}: {info.file_size} bytes uncompressed (limit {MAX_MEMBER_BYTES})")
            if info.file_size > CHUNK and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise ValueError(f"{info.filename}: compression ratio beyond what deflate can produce (zip bomb)")
            total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise ValueError(f"{total} bytes uncompressed in all (limit {MAX_TOTAL_BYTES})")
        if len({i.filename for i in infos}) != len(infos):
            raise ValueError("duplicate member names")
    except BaseException:
        zf.close()
        raise
    return zf


def read_member(zf: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """A member's bytes, refusing more than ``limit`` (raises ValueError)."""
    info = zf.getinfo(name)
    if info.file_size > limit:
        raise ValueError(f"{name}: {info.file_size} bytes (limit {limit})")
    with zf.open(info) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{name}: larger than {limit} bytes")
    return data


def stream_member(zf: zipfile.ZipFile, name: str) -> Iterator[bytes]:
    """A member's bytes in chunks (never more than its declared size: zipfile stops there and checks the CRC)."""
    with zf.open(name) as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def verify(path: str | Path, keys: Sequence[Ed25519PublicKey] = ()) -> Verification:
    """Check a bundle: signature over the manifest (with ``keys``), then every member's sha256.

    Order of verdicts when several apply: damaged, signature invalid, missing/added, tampered,
    not checked (signed but no key given), unsigned, verified.
    """
    try:
        zf = open_bundle(path)
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
        return _fail(Status.DAMAGED, f"open {path}: {exc}")
    with zf:
        names = set(zf.namelist())
        if MANIFEST not in names:
            return _fail(Status.DAMAGED, f"{MANIFEST} missing: not an evidence bundle")
        try:
            man_bytes = read_member(zf, MANIFEST, MAX_MANIFEST_BYTES)
            sig_bytes = read_member(zf, SIGNATURE, 1024 * 1024) if SIGNATURE in names else None
        except _READ_ERRORS as exc:
            return _fail(Status.DAMAGED, f"{MANIFEST}: unreadable (damaged bundle): {exc}")
        try:
            man = json.loads(man_bytes)
            subjects = {s["name"]: s["digest"]["sha256"] for s in man["subject"]}
            pred = man["predicate"]
            if man.get("_type") != signing.STATEMENT_TYPE or not isinstance(pred, dict):
                raise ValueError("not an in-toto Statement v1")
        except (ValueError, KeyError, TypeError) as exc:
            return _fail(Status.DAMAGED, f"{MANIFEST}: not a valid manifest ({exc})")

        status = Status.VERIFIED
        key_id = ""
        problems: list[str] = []
        if sig_bytes is None:
            status = Status.UNSIGNED
            problems.append("no manifest.sig: the bundle is unsigned (its checksums prove nothing on their own)")
        elif not keys:
            status = Status.NOT_CHECKED
            key_id = ",".join(signing.signer_ids(sig_bytes))
            problems.append(f"signed (key id {key_id or '?'}) but no --key given: signature not checked")
        else:
            try:
                payload, key_id = signing.open_envelope(sig_bytes, keys)
            except signing.EnvelopeError as exc:
                return Verification(Status.SIGNATURE_INVALID, (f"{SIGNATURE}: {exc}",), pred, 0)
            if payload != man_bytes:
                return Verification(
                    Status.SIGNATURE_INVALID,
                    (f"{MANIFEST} differs from the statement the signature covers (manifest edited)",), pred, 0,
                )

        listed = set(subjects)
        missing = sorted(listed - names)
        added = sorted(names - listed - set(RESERVED))
        bad: list[str] = []
        checked = 0
        for name in sorted(listed & names):
            try:
                _check_name(name)
                h = hashlib.sha256()
                for chunk in stream_member(zf, name):
                    h.update(chunk)
            except ValueError:
                return Verification(Status.DAMAGED, (f"{name}: unsafe member name",), pred, checked, key_id)
            except _READ_ERRORS as exc:
                return Verification(Status.DAMAGED, (f"{name}: unreadable (damaged bundle): {exc}",), pred, checked,
                                    key_id)
            if h.hexdigest() != subjects[name]:
                bad.append(name)
            else:
                checked += 1
        if missing or added:
            problems = [f"{n}: listed in manifest but missing from bundle" for n in missing]
            problems += [f"{n}: not listed in manifest (added after the run)" for n in added]
            problems += [f"{n}: sha256 mismatch (modified after the run)" for n in bad]
            return Verification(Status.MISSING_OR_ADDED, tuple(problems), pred, checked, key_id)
        if bad:
            problems = [f"{n}: sha256 mismatch (modified after the run)" for n in bad]
            return Verification(Status.TAMPERED, tuple(problems), pred, checked, key_id)
        return Verification(status, tuple(problems), pred, checked, key_id)
