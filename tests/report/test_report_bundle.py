"""Evidence bundle: signed in-toto manifest, tampering with every part, distinct verdicts, bounded reading."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditor.commands import bundle as bundle_cmd
from auditor.errors import ConfigError
from auditor.model import AuditReport
from auditor.report import bundle, history, signing
from auditor.report.bundle import Status
from auditor.report.options import EvidenceOptions

STATE = {"state/targets/t/live.json": b'{"objects": []}', "state/config.yaml": b"version: 1\n"}


def _keypair(tmp_path: Path, name: str = "k") -> tuple[signing.SigningKey, Path, Path]:
    priv = Ed25519PrivateKey.generate()
    key_file = tmp_path / f"{name}.key"
    key_file.write_bytes(priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    pub_file = tmp_path / f"{name}.pub"
    pub_file.write_bytes(priv.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo))
    key = signing.load_signing_key(EvidenceOptions(signing_key_file=str(key_file)))
    assert key is not None
    return key, key_file, pub_file


@pytest.fixture
def keys(tmp_path: Path) -> tuple[signing.SigningKey, Path, Path]:
    return _keypair(tmp_path)


@pytest.fixture
def signed(tmp_path: Path, report: AuditReport, keys: tuple[signing.SigningKey, Path, Path]) -> Path:
    state_files = {}
    for name, data in STATE.items():
        p = tmp_path / "spool" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        state_files[name] = p
    return history.write_run(report, tmp_path / "reports", config_bytes=b"version: 1\n", state=state_files,
                             signing_key=keys[0]).bundle


def _rewrite(src: Path, dst: Path, change: dict[str, bytes | None]) -> Path:
    """Copy a zip, replacing (bytes) or dropping (None) members, adding new ones."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in change:
                data = change[info.filename]
                if data is not None:
                    zout.writestr(info.filename, data)
                continue
            zout.writestr(info, zin.read(info))
        for name, data in change.items():
            if name not in zin.namelist() and data is not None:
                zout.writestr(name, data)
    return dst


def _read(path: Path, name: str) -> bytes:
    with zipfile.ZipFile(path) as zf:
        return zf.read(name)


def _cli(path: Path, *keys: Path) -> int:
    return bundle_cmd.handler(argparse.Namespace(file=str(path), key=[str(k) for k in keys], quiet=False, all=False))


def _verify(path: Path, pub: Path) -> Status:
    return bundle.verify(path, [signing.load_public_key(pub)]).status


def test_manifest_is_an_in_toto_statement_over_every_member(signed: Path, report: AuditReport) -> None:
    with zipfile.ZipFile(signed) as zf:
        man = json.loads(zf.read("manifest.json"))
        names = set(zf.namelist()) - {"manifest.json", "manifest.sig"}
        assert man["_type"] == "https://in-toto.io/Statement/v1"
        assert {s["name"] for s in man["subject"]} == names
        assert {"reports/report.json", "reports/ledger.csv", "reports/oscal.json", "README.txt", *STATE} <= names
        for s in man["subject"]:
            assert s["digest"]["sha256"] == hashlib.sha256(zf.read(s["name"])).hexdigest()
        env = json.loads(zf.read("manifest.sig"))
        assert base64.b64decode(env["payload"]) == zf.read("manifest.json")
        assert env["payloadType"] == "application/vnd.in-toto+json"
        assert b"SIGNED" in zf.read("README.txt")
    pred = man["predicate"]
    assert pred["commit"] == report.commit and pred["exit_code"] == report.exit_code()
    assert pred["config_sha256"] == hashlib.sha256(b"version: 1\n").hexdigest()
    assert pred["signed"] is True and len(pred["key_id"]) == 64


def test_verified(signed: Path, keys: tuple[signing.SigningKey, Path, Path],
                  capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(signed, keys[2]) == 0
    out = capsys.readouterr().out
    assert out.startswith("VERIFIED:") and out.count("\n") == 1


def test_bundle_is_deterministic(report: AuditReport, keys: tuple[signing.SigningKey, Path, Path]) -> None:
    files: dict[str, bundle.Source] = {"a.txt": b"a", "b.txt": b"b"}
    assert bundle.build(report, files, key=keys[0]) == bundle.build(report, dict(reversed(list(files.items()))),
                                                                     key=keys[0])


@pytest.mark.parametrize("member", ["reports/findings.csv", "reports/report.json", "state/targets/t/live.json",
                                    "README.txt"])
def test_tampered_member(signed: Path, tmp_path: Path, keys: tuple[signing.SigningKey, Path, Path],
                         member: str, capsys: pytest.CaptureFixture[str]) -> None:
    data = _read(signed, member) + b" "
    bad = _rewrite(signed, tmp_path / "bad.zip", {member: data})
    assert _cli(bad, keys[2]) == Status.TAMPERED == 5
    assert capsys.readouterr().out.startswith("FILE TAMPERED:")


def test_recomputed_manifest_fails_the_signature(signed: Path, tmp_path: Path,
                                                 keys: tuple[signing.SigningKey, Path, Path]) -> None:
    # The forger edits a finding's severity and recomputes every digest in manifest.json.
    text = _read(signed, "reports/report.json").replace(b'"severity": "high"', b'"severity": "low"', 1)
    man = json.loads(_read(signed, "manifest.json"))
    for s in man["subject"]:
        if s["name"] == "reports/report.json":
            s["digest"]["sha256"] = hashlib.sha256(text).hexdigest()
    forged = _rewrite(signed, tmp_path / "forged.zip",
                      {"reports/report.json": text, "manifest.json": json.dumps(man).encode()})
    assert _cli(forged, keys[2]) == Status.SIGNATURE_INVALID == 1


def test_edited_exit_code_fails(signed: Path, tmp_path: Path, keys: tuple[signing.SigningKey, Path, Path]) -> None:
    man = json.loads(_read(signed, "manifest.json"))
    man["predicate"]["exit_code"] = 0
    forged = _rewrite(signed, tmp_path / "forged.zip", {"manifest.json": json.dumps(man, indent=2).encode()})
    assert _verify(forged, keys[2]) is Status.SIGNATURE_INVALID


def test_edited_envelope_fails(signed: Path, tmp_path: Path, keys: tuple[signing.SigningKey, Path, Path]) -> None:
    env = json.loads(_read(signed, "manifest.sig"))
    # 1) payload swapped for an edited statement (manifest.json edited the same way)
    man = json.loads(_read(signed, "manifest.json"))
    man["predicate"]["exit_code"] = 0
    new = json.dumps(man).encode()
    env1 = dict(env, payload=base64.b64encode(new).decode())
    forged1 = _rewrite(signed, tmp_path / "f1.zip", {"manifest.sig": json.dumps(env1).encode(), "manifest.json": new})
    assert _verify(forged1, keys[2]) is Status.SIGNATURE_INVALID
    # 2) one bit of the signature flipped
    sig = bytearray(base64.b64decode(env["signatures"][0]["sig"]))
    sig[0] ^= 1
    env2 = dict(env, signatures=[{"keyid": env["signatures"][0]["keyid"], "sig": base64.b64encode(sig).decode()}])
    forged2 = _rewrite(signed, tmp_path / "f2.zip", {"manifest.sig": json.dumps(env2).encode()})
    assert _verify(forged2, keys[2]) is Status.SIGNATURE_INVALID
    # 3) garbage envelope
    forged3 = _rewrite(signed, tmp_path / "f3.zip", {"manifest.sig": b"{not json"})
    assert _verify(forged3, keys[2]) is Status.SIGNATURE_INVALID
    # 4) re-signed by another key
    other, _, _ = _keypair(tmp_path, "other")
    env4 = signing.envelope(new, other)
    forged4 = _rewrite(signed, tmp_path / "f4.zip", {"manifest.sig": env4, "manifest.json": new})
    assert _verify(forged4, keys[2]) is Status.SIGNATURE_INVALID


def test_missing_and_added_members(signed: Path, tmp_path: Path, keys: tuple[signing.SigningKey, Path, Path],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    added = _rewrite(signed, tmp_path / "added.zip", {"extra.txt": b"hello"})
    assert _cli(added, keys[2]) == Status.MISSING_OR_ADDED == 6
    assert "extra.txt: not listed" in capsys.readouterr().out
    removed = _rewrite(signed, tmp_path / "removed.zip", {"reports/junit.xml": None})
    assert _cli(removed, keys[2]) == 6
    assert "reports/junit.xml: listed in manifest but missing" in capsys.readouterr().out


def test_unsigned_and_stripped_signature(signed: Path, tmp_path: Path, report: AuditReport,
                                         keys: tuple[signing.SigningKey, Path, Path],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    stripped = _rewrite(signed, tmp_path / "stripped.zip", {"manifest.sig": None})
    assert _cli(stripped, keys[2]) == Status.UNSIGNED == 7
    assert capsys.readouterr().out.startswith("UNSIGNED:")
    plain = history.write_run(report, tmp_path / "plain").bundle
    assert _cli(plain, keys[2]) == 7
    assert b"UNSIGNED" in _read(plain, "README.txt")
    assert json.loads(_read(plain, "manifest.json"))["predicate"]["signed"] is False
    # Unsigned and tampered: the tampering is what is reported.
    assert _verify(_rewrite(plain, tmp_path / "pt.zip", {"reports/junit.xml": b"x"}), keys[2]) is Status.TAMPERED


def test_signed_without_key_is_not_checked(signed: Path) -> None:
    result = bundle.verify(signed, [])
    assert result.status is Status.NOT_CHECKED and not result.ok and result.intact


def test_key_rotation_accepts_any_listed_key(signed: Path, tmp_path: Path,
                                             keys: tuple[signing.SigningKey, Path, Path]) -> None:
    _, _, old_pub = _keypair(tmp_path, "old")
    assert _cli(signed, old_pub, keys[2]) == 0
    assert _cli(signed, old_pub) == 1


@pytest.mark.parametrize("member", ["README.txt", "reports/report.json", "state/config.yaml", "manifest.json",
                                    "manifest.sig"])
def test_flipped_byte_on_disk_fails(signed: Path, tmp_path: Path, member: str,
                                    keys: tuple[signing.SigningKey, Path, Path]) -> None:
    # A byte inside a member's compressed data (zip headers hold metadata the manifest does not cover).
    raw = bytearray(signed.read_bytes())
    with zipfile.ZipFile(signed) as zf:
        info = zf.getinfo(member)
    start = info.header_offset + 30 + int.from_bytes(raw[info.header_offset + 26: info.header_offset + 28], "little")
    start += int.from_bytes(raw[info.header_offset + 28: info.header_offset + 30], "little")
    raw[start + info.compress_size // 2] ^= 0xFF
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(raw))
    assert _verify(damaged, keys[2]) is not Status.VERIFIED


def test_not_a_zip(tmp_path: Path) -> None:
    p = tmp_path / "x.zip"
    p.write_text("nope")
    assert bundle.verify(p).status is Status.DAMAGED
    assert bundle.verify(tmp_path / "missing.zip").status is Status.DAMAGED


def test_size_bounds_refuse_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", b"{}")
        zf.writestr("big.bin", b"\0" * (8 * 1024 * 1024))
    monkeypatch.setattr(bundle, "MAX_MEMBER_BYTES", 4 * 1024 * 1024)
    result = bundle.verify(bomb)
    assert result.status is Status.DAMAGED and "limit" in result.problems[0]


@pytest.mark.slow
def test_verify_streams_members_in_bounded_memory(tmp_path: Path, report: AuditReport,
                                                  keys: tuple[signing.SigningKey, Path, Path]) -> None:
    """Issue 16.13: a small zip whose member inflates to ~700 MB verifies within a 400 MB address space."""
    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        chunk = b"\0" * (1024 * 1024)
        for _ in range(700):
            fh.write(chunk)
    path = tmp_path / "evidence.zip"
    with open(path, "wb") as out:
        bundle.build_to(out, report, {"state/big.bin": big}, key=keys[0])
    big.unlink()
    assert path.stat().st_size < 2 * 1024 * 1024
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (400 * 1024 * 1024, 400 * 1024 * 1024))\n"
        "from auditor.cli import main\n"
        f"sys.exit(main(['verify-bundle', {str(path)!r}, '--key', {str(keys[2])!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("VERIFIED:")


def test_unsafe_names_refused(report: AuditReport) -> None:
    for name in ("../x", "/abs", "a\\b", "manifest.json", "manifest.sig"):
        with pytest.raises(ValueError):
            bundle.build(report, {name: b"x"})


def test_signing_key_sources(tmp_path: Path, keys: tuple[signing.SigningKey, Path, Path]) -> None:
    key, key_file, _ = keys
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir()
    (secret_dir / "signing.key").write_bytes(key_file.read_bytes())
    from_dir = signing.load_signing_key(EvidenceOptions(signing_key_dir=str(secret_dir)))
    from_env = signing.load_signing_key(EvidenceOptions(), {"GITOPS_AUDIT_SIGNING_KEY": key_file.read_text()})
    assert from_dir is not None and from_env is not None
    assert from_dir.key_id == from_env.key_id == key.key_id
    assert signing.load_signing_key(EvidenceOptions(), {}) is None
    (tmp_path / "bad.key").write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError) as err:
        signing.load_signing_key(EvidenceOptions(signing_key_file=str(tmp_path / "bad.key")))
    assert "nope" not in str(err.value)
    with pytest.raises(ConfigError):
        signing.load_signing_key(EvidenceOptions(signing_key_dir=str(tmp_path / "empty")))


def test_register_parses() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    bundle_cmd.register(sub)
    args = parser.parse_args(["verify-bundle", "x.zip", "--key", "a.pub", "--key", "b.pub"])
    assert args.func is bundle_cmd.handler and args.file == "x.zip" and args.key == ["a.pub", "b.pub"]
