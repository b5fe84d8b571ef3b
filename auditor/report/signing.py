"""Ed25519 signing of the evidence manifest: an in-toto Statement v1 inside a DSSE envelope.

The manifest (``manifest.json``) is an in-toto Statement whose subjects are every other member of
the bundle with its sha256, and whose predicate is the run's metadata (exit code included). The
envelope (``manifest.sig``) signs exactly those bytes with DSSE's pre-authentication encoding
(PAE), so editing any member, the statement (even with recomputed digests) or the envelope breaks
verification. Keys: PEM (PKCS#8 private, SubjectPublicKeyInfo public) as ``openssl genpkey
-algorithm ed25519`` writes them, or the raw 32 bytes in base64. The key id is the sha256 of the raw
public key, so a verifier holding several public keys (key rotation) picks the right one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from auditor.errors import ConfigError
from auditor.report.options import KEY_FILE_NAMES, EvidenceOptions

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://gitops-audit.io/evidence/v1"
MAX_KEY_BYTES = 64 * 1024


@dataclass(frozen=True)
class SigningKey:
    """A loaded private key, its key id and where it came from (never its bytes in messages)."""

    key: Ed25519PrivateKey
    key_id: str
    source: str


def key_id(public: Ed25519PublicKey) -> str:
    """sha256 (hex) of the raw 32-byte public key."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def _private_from_bytes(data: bytes, where: str) -> Ed25519PrivateKey:
    text = data.strip()
    try:
        if text.startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(text, password=None)
        else:
            raw = base64.b64decode(text, validate=True)
            if len(raw) != 32:
                raise ValueError("expected 32 bytes")
            key = Ed25519PrivateKey.from_private_bytes(raw)
    except Exception as exc:
        raise ConfigError(f"load signing key {where}: not an Ed25519 private key ({type(exc).__name__})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"load signing key {where}: not an Ed25519 key")
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file or a file holding the base64 raw key."""
    try:
        data = Path(path).read_bytes()[: MAX_KEY_BYTES + 1]
    except OSError as exc:
        raise ConfigError(f"read public key {path}: {exc.strerror or exc}") from None
    text = data.strip()
    try:
        if text.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(text)
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except Exception as exc:
        raise ConfigError(f"read public key {path}: not an Ed25519 public key ({type(exc).__name__})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"read public key {path}: not an Ed25519 public key")
    return key


def _read_key_file(path: Path, what: str) -> bytes:
    try:
        if path.stat().st_size > MAX_KEY_BYTES:
            raise ConfigError(f"load signing key {what}: file too large")
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"load signing key {what}: {exc.strerror or exc}") from None


def load_signing_key(options: EvidenceOptions, env: Mapping[str, str] | None = None) -> SigningKey | None:
    """The signing key from the file, the mounted Secret directory or the env var (in that order); None if none.

    A configured source that cannot be read is a ConfigError (exit 2): a run that was meant to be
    signed must not quietly produce unsigned evidence.
    """
    environ = os.environ if env is None else env
    if options.signing_key_file:
        path = Path(options.signing_key_file).expanduser()
        key = _private_from_bytes(_read_key_file(path, str(path)), str(path))
        return SigningKey(key, key_id(key.public_key()), f"file {path}")
    if options.signing_key_dir:
        d = Path(options.signing_key_dir).expanduser()
        for name in KEY_FILE_NAMES:
            candidate = d / name
            if candidate.is_file():
                key = _private_from_bytes(_read_key_file(candidate, str(candidate)), str(candidate))
                return SigningKey(key, key_id(key.public_key()), f"secret {candidate}")
        raise ConfigError(f"load signing key {d}: no {' or '.join(KEY_FILE_NAMES)} in the directory")
    if options.signing_key_env:
        value = environ.get(options.signing_key_env, "")
        if value.strip():
            key = _private_from_bytes(value.encode(), f"${options.signing_key_env}")
            return SigningKey(key, key_id(key.public_key()), f"env {options.signing_key_env}")
    return None


def statement(subjects: Sequence[tuple[str, str]], predicate: Mapping[str, Any]) -> bytes:
    """The in-toto Statement v1 bytes for (member name, sha256 hex) subjects (canonical: sorted keys)."""
    doc = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": n, "digest": {"sha256": d}} for n, d in sorted(subjects)],
        "predicateType": PREDICATE_TYPE,
        "predicate": dict(predicate),
    }
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def envelope(payload: bytes, key: SigningKey) -> bytes:
    """A DSSE envelope signing ``payload`` (the statement bytes)."""
    sig = key.key.sign(pae(PAYLOAD_TYPE, payload))
    doc = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": key.key_id, "sig": base64.b64encode(sig).decode()}],
    }
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


class EnvelopeError(ValueError):
    """The envelope is malformed or no signature verifies."""


def open_envelope(raw: bytes, keys: Sequence[Ed25519PublicKey]) -> tuple[bytes, str]:
    """(signed payload, key id that verified it); raises EnvelopeError."""
    try:
        doc = json.loads(raw)
        payload_type = doc["payloadType"]
        payload = base64.b64decode(doc["payload"], validate=True)
        sigs = doc["signatures"]
        if not isinstance(sigs, list) or not sigs:
            raise ValueError("no signatures")
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise EnvelopeError(f"malformed envelope ({exc})") from None
    if payload_type != PAYLOAD_TYPE:
        raise EnvelopeError(f"unexpected payloadType {payload_type!r}")
    message = pae(payload_type, payload)
    by_id = {key_id(k): k for k in keys}
    for entry in sigs:
        if not isinstance(entry, dict):
            continue
        try:
            sig = base64.b64decode(str(entry.get("sig", "")), validate=True)
        except (ValueError, binascii.Error):
            continue
        candidates = [by_id[entry["keyid"]]] if entry.get("keyid") in by_id else list(keys)
        for k in candidates:
            try:
                k.verify(sig, message)
            except InvalidSignature:
                continue
            return payload, key_id(k)
    raise EnvelopeError("no signature verifies with the given key(s)")


def signer_ids(raw: bytes) -> list[str]:
    """Key ids named by an envelope's signatures (for messages when no key was given)."""
    try:
        doc = json.loads(raw)
        return [str(s.get("keyid", "")) for s in doc.get("signatures", ()) if isinstance(s, dict)]
    except (ValueError, AttributeError):
        return []
