"""Evidence bundle: manifest checksums, deterministic bytes, verification and tampering."""

from __future__ import annotations

import argparse
import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from auditor.commands import bundle as bundle_cmd
from auditor.model import AuditReport
from auditor.report import bundle, history


@pytest.fixture
def bundle_path(tmp_path: Path, report: AuditReport) -> Path:
    return history.write_run(report, tmp_path / "reports", config_bytes=b"version: 1\n").bundle


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


def test_manifest_lists_every_file(bundle_path: Path, report: AuditReport) -> None:
    with zipfile.ZipFile(bundle_path) as zf:
        man = json.loads(zf.read("manifest.json"))
        names = set(zf.namelist()) - {"manifest.json"}
        assert {f["name"] for f in man["files"]} == names
        assert names == {"report.html", "report.json", "findings.csv", "junit.xml", "report.sarif"}
        for entry in man["files"]:
            assert entry["sha256"] == hashlib.sha256(zf.read(entry["name"])).hexdigest()
    assert man["commit"] == report.commit
    assert man["tool_version"] == report.tool_version
    assert man["config_sha256"] == hashlib.sha256(b"version: 1\n").hexdigest()
    assert man["created"] == report.finished


def test_bundle_is_deterministic(report: AuditReport) -> None:
    files = {"a.txt": b"a", "b.txt": b"b"}
    assert bundle.build(report, files) == bundle.build(report, dict(reversed(list(files.items()))))


def test_verify_ok(bundle_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = bundle.verify(bundle_path)
    assert result.ok, result.problems
    assert result.checked == 5
    assert bundle_cmd.handler(argparse.Namespace(file=str(bundle_path), quiet=False)) == 0
    assert capsys.readouterr().out.startswith("OK:")


def test_tampered_file_fails(bundle_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with zipfile.ZipFile(bundle_path) as zf:
        csv_text = zf.read("findings.csv").replace(b"high", b"low")
    bad = _rewrite(bundle_path, tmp_path / "bad.zip", {"findings.csv": csv_text})
    result = bundle.verify(bad)
    assert not result.ok
    assert any("findings.csv: sha256 mismatch" in p for p in result.problems)
    assert bundle_cmd.handler(argparse.Namespace(file=str(bad), quiet=False)) == 1
    assert "FAILED" in capsys.readouterr().out


def test_added_and_removed_members_fail(bundle_path: Path, tmp_path: Path) -> None:
    added = _rewrite(bundle_path, tmp_path / "added.zip", {"extra.txt": b"hello"})
    assert any("extra.txt: not listed" in p for p in bundle.verify(added).problems)
    removed = _rewrite(bundle_path, tmp_path / "removed.zip", {"junit.xml": None})
    assert any("junit.xml: listed in manifest but missing" in p for p in bundle.verify(removed).problems)
    no_manifest = _rewrite(bundle_path, tmp_path / "noman.zip", {"manifest.json": None})
    assert not bundle.verify(no_manifest).ok


# Positions inside the compressed members (the central directory at the end holds metadata such
# as timestamps, which the manifest does not cover: verification is about the evidence content).
@pytest.mark.parametrize("where", [0.02, 0.1, 0.2, 1 / 3, 0.5, 0.6, 0.7])
def test_flipped_byte_on_disk_fails(bundle_path: Path, tmp_path: Path, where: float) -> None:
    raw = bytearray(bundle_path.read_bytes())
    raw[int(len(raw) * where)] ^= 0xFF
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(raw))
    assert not bundle.verify(damaged).ok
    assert bundle_cmd.handler(argparse.Namespace(file=str(damaged), quiet=True)) == 1


def test_not_a_zip(tmp_path: Path) -> None:
    p = tmp_path / "x.zip"
    p.write_text("nope")
    assert not bundle.verify(p).ok
    assert not bundle.verify(tmp_path / "missing.zip").ok


def test_unsafe_names_refused(report: AuditReport) -> None:
    for name in ("../x", "/abs", "a\\b", "manifest.json"):
        with pytest.raises(ValueError):
            bundle.build(report, {name: b"x"})


def test_register_parses() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    bundle_cmd.register(sub)
    args = parser.parse_args(["verify-bundle", "x.zip"])
    assert args.func is bundle_cmd.handler and args.file == "x.zip"
