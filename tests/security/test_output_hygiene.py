"""Issue 16 items 14 and 15: hostile text from repositories and clusters in every output format.

A live ConfigMap value and object names carry terminal escape sequences (title change, screen clear, 8-bit
CSI), U+FFFF, a lone surrogate and a bidi override; one target's snapshot path carries an escape sequence
(it is in the not-audited reason). junit.xml must stay well-formed XML, the terminal must receive no escape
sequence, CSV cells and the HTML must show controls and bidi characters instead of obeying them, and bidi
characters in names are a finding.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from .hostile import run_cli, write_config

EVIL = "\x1b]0;pwned\x07\x1b[2J\x9b31m\u202eexe.txt\uffff\ud800 end"
BIDI_NAME = "cfg-\u202etxt.exe"
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: ok\n"


def test_hostile_text_in_every_format(make_repo: Callable[..., Path], tmp_path: Path) -> None:
    make_repo({
        "app/weird.yaml": CM.format(name="weird"),
        "app/bidi.yaml": CM.format(name=f'"{BIDI_NAME}"'),
        "app/kustomization.yaml": "namespace: shop\nresources: [weird.yaml, bidi.yaml]\n",
    })
    snap = tmp_path / "snap"
    snap.mkdir()
    live = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "weird", "namespace": "shop",
                                                               "annotations": {"note": EVIL}}, "data": {"v": EVIL}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": BIDI_NAME, "namespace": "shop"},
         "data": {"v": "ok"}},
    ]
    (snap / "live.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": live}))  # \ud800 escaped
    cfg = write_config(tmp_path / "cfg.yaml", "repo: repo\nref: main\ntargets:\n"
                       "  - {name: app, path: app, snapshot: snap}\n"
                       '  - {name: gone, path: app, snapshot: "snap-\\e[2J\\e]0;x\\a"}\n')
    run = run_cli(["run", "--config", str(cfg), "--out", str(tmp_path / "r"), "--no-color"], cwd=tmp_path,
                  cache=tmp_path / "cache")
    assert run.code == 3, run.stderr
    run_dir = tmp_path / "r" / "latest"

    ET.fromstring((run_dir / "junit.xml").read_bytes())  # well-formed (expat refuses U+FFFF and controls)
    doc = json.loads((run_dir / "report.json").read_bytes())
    findings = [f for t in doc["targets"] for f in t["findings"]]
    bidi = [f for f in findings if f["rule_id"] == "input.bidi-characters"]
    assert {f["path"] for f in bidi} == {"desired", "live"}, bidi
    assert any(f["rule_id"] == "drift.modified" for f in findings)

    for name in ("stdout", "stderr"):
        text = getattr(run, name)
        assert not set(text) & {"\x1b", "\x9b", "\x07", "\u202e", "\uffff"}, (name, text)
    assert "<U+202E>" in run.stdout or "snap-" in run.stdout
    for file in ("findings.csv", "report.html", "report.json", "report.sarif", "junit.xml"):
        text = (run_dir / file).read_text("utf-8")
        raw = {"\x1b", "\x9b", "\x07", "\u202e"} if file != "report.json" else {"\u202e"}
        assert not set(text) & raw, file
    csv_text = (run_dir / "findings.csv").read_text("utf-8")
    assert "<U+202E>" in csv_text and "<U+001B>" in csv_text
