"""Canary: no Secret value (clear, base64 or keyed hash) reaches any output, log or error of the drift stage."""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.commands import diff as diff_cmd
from auditor.diff.engine import DriftOutcome, diff_target
from auditor.diff.options import DriftOptions
from auditor.diff.render import render_json, render_text
from auditor.model import LiveState, Target
from auditor.util import secrets as usecrets

from .corpus_support import to_manifest

CANARY = "CANARY-7f3a9c-do-not-leak"
CANARY2 = "CANARY-b51e02-rotated-by-hand"
CANARY3 = "CANARY-0d9e77-orphan-value"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def forbidden(key: bytes) -> list[str]:
    out = []
    for c in (CANARY, CANARY2, CANARY3):
        out += [c, b64(c), usecrets.keyed_hash(key, c.encode())[len(usecrets.HASH_PREFIX):]]
    return [*out, usecrets.HASH_PREFIX]


def secret(name: str, data: dict[str, str] | None = None, string_data: dict[str, str] | None = None,
           **meta: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                            "metadata": {"name": name, "namespace": "shop", **meta}}
    if data is not None:
        body["data"] = data
    if string_data is not None:
        body["stringData"] = string_data
    return body


def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    last_applied = json.dumps({"apiVersion": "v1", "kind": "Secret", "stringData": {"password": CANARY}})
    desired = [
        secret("db", string_data={"password": CANARY}, data={"user": b64("shop")}),
        secret("api", data={"token": b64(CANARY)}),
        secret("gone", string_data={"key": CANARY}),
    ]
    live = [
        secret("db", data={"password": b64(CANARY2), "user": b64("shop"), "extra": b64(CANARY)},
               annotations={"kubectl.kubernetes.io/last-applied-configuration": last_applied},
               managedFields=[{"manager": "kubectl-edit", "operation": "Update", "time": "2026-11-18T02:50:00Z",
                               "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:password": {}, "f:extra": {}}}}]),
        secret("api", data={}),
        secret("orphan", data={"k": b64(CANARY3)},
               annotations={"kubectl.kubernetes.io/last-applied-configuration": last_applied}),
    ]
    return desired, live


def outputs(outcome: DriftOutcome) -> str:
    parts = [render_text(outcome), render_json(outcome), repr(outcome)]
    for f in outcome.findings:
        parts += [f.message, repr(f.expected), repr(f.actual), json.dumps(dict(f.details), default=str)]
    return "\n".join(parts)


@pytest.mark.parametrize("live_form", ["plain", "hashed-same-key", "hashed-other-key", "metadata-only"])
def test_no_secret_value_in_any_output(live_form: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    key = usecrets.new_run_key()
    desired, live = scenario()
    if live_form.startswith("hashed"):
        live = [usecrets.hash_secret_object(b, key) for b in live]
    if live_form == "metadata-only":
        live = [{k: v for k, v in b.items() if k in ("apiVersion", "kind", "metadata")} for b in live]
    opts = DriftOptions(secret_hash_key=key if live_form == "hashed-same-key" else b"")
    outcome = diff_target(Target("t", namespace="shop"), [to_manifest(b) for b in desired],
                          LiveState(tuple(to_manifest(b) for b in live), "x"), opts)
    text = outputs(outcome) + caplog.text
    for needle in forbidden(key):
        assert needle not in text, (live_form, needle)
    rules = {(f.rule_id, f.ref.name, f.path) for f in outcome.findings if f.counts}
    assert ("drift.missing", "gone", "") in rules
    assert ("drift.orphaned.unmanaged", "orphan", "") in rules
    if live_form in ("plain", "hashed-same-key"):
        # The engine still sees what changed: rotated password, extra key, emptied api token.
        assert ("drift.modified", "db", "data.password") in rules
        assert ("drift.added", "db", "data.extra") in rules
        assert ("drift.modified", "api", "data") in rules  # emptied: whole map gone
        pw = next(f for f in outcome.findings if f.path == "data.password")
        assert (pw.expected, pw.actual) == ("***", "*** (changed)")
        assert "data.password: *** → *** (changed) (kubectl-edit" in pw.message
    if live_form == "metadata-only":
        assert not any(f.ref.name in ("db", "api") for f in outcome.findings if f.counts)


def test_diff_command_never_prints_secret_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    desired, live = scenario()
    d, lv = tmp_path / "d.yaml", tmp_path / "l.yaml"
    d.write_text(yaml.safe_dump_all(desired))
    lv.write_text(yaml.safe_dump_all(live))
    parser = argparse.ArgumentParser()
    diff_cmd.register(parser.add_subparsers())
    for fmt in ("text", "json"):
        code = diff_cmd.handler(parser.parse_args(["diff", "--desired", str(d), "--live", str(lv), "-o", fmt]))
        assert code == 1
        captured = capsys.readouterr()
        for needle in (CANARY, CANARY2, CANARY3, b64(CANARY), b64(CANARY2), b64(CANARY3), usecrets.HASH_PREFIX):
            assert needle not in captured.out + captured.err
        assert "*** (changed)" in captured.out
    # A malformed live file that contains a value: the error names the file, never its content.
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"apiVersion: v1\nkind: Secret\nstringData:\n  password: {CANARY}\n   bad: [\n")
    assert diff_cmd.handler(parser.parse_args(["diff", "--desired", str(d), "--live", str(bad)])) == 2
    captured = capsys.readouterr()
    assert CANARY not in captured.out + captured.err
    assert "read live" in captured.err


def test_frozen_outcome_keeps_no_plaintext_reference() -> None:
    """Changes and findings hold masks, not the values or bodies they were computed from."""
    desired, live = scenario()
    outcome = diff_target(Target("t", namespace="shop"), [to_manifest(b) for b in desired],
                          LiveState(tuple(to_manifest(b) for b in live), "x"), DriftOptions())
    for d in outcome.drifts:
        for c in d.changes:
            assert c.expected in (None, "***") and c.actual in (None, "***", "*** (changed)")
    assert all(dataclasses.is_dataclass(f) for f in outcome.findings)
