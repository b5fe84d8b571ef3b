"""End to end (issue 17): the demo's signed bundle verifies and replays; credit in every format; the ledger;
Secret drift replayed from hashes without any value in the bundle; scope-aware history."""

from __future__ import annotations

import base64
import csv
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditor.cli import main
from tests.test_cli import FLEET, render, snapshot, write_config

OVERLAY_LINE = ("overlays/production/common/kustomization.yaml", 16)
ALICE = "Alice Nguyen <alice@acme.example.com>"
PROTECTED_SHAS_OF_DEMO = 12  # non-merge commits since 2026-10-01 touching files that feed production


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The demo, audited once with a signing key from the environment: (run dir, public key, fleet)."""
    root = tmp_path_factory.mktemp("demo")
    priv = Ed25519PrivateKey.generate()
    pem = priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()
    pub = root / "signing.pub"
    pub.write_bytes(priv.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))
    mp = pytest.MonkeyPatch()
    mp.setenv("GITOPS_AUDIT_SIGNING_KEY", pem)
    mp.setenv("XDG_CACHE_HOME", str(root / "cache"))
    try:
        assert main(["demo", "--dir", str(root / "fleet"), "-q"]) == 0
    finally:
        mp.undo()
    run_dir = (root / "fleet" / "reports" / "latest").resolve()
    return run_dir, pub, root / "fleet"


def test_demo_bundle_verifies_and_replays(demo: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    run_dir, pub, _ = demo
    bundle = str(run_dir / "evidence.zip")
    capsys.readouterr()
    assert main(["verify-bundle", bundle, "--key", str(pub)]) == 0
    assert main(["replay", bundle, "--key", str(pub)]) == 0
    out = capsys.readouterr().out
    recorded = json.loads((run_dir / "report.json").read_text())
    count = sum(len(t["findings"]) for t in recorded["targets"])
    assert count > 50  # the demo's drift, policy and change-control findings
    assert "REPRODUCED" in out and f"{count} findings of 6 targets" in out


def test_replay_notices_a_changed_state(demo: tuple[Path, Path, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Replay judges the state again: a live object edited in an (unverified) copy gives other findings."""
    run_dir, pub, _ = demo
    src = run_dir / "evidence.zip"
    dst = tmp_path / "edited.zip"
    name = "state/targets/production-eu-west/live.json"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == name:
                data = data.replace(b"2.3.2-hotfix", b"2.3.1", 1)
            zout.writestr(info, data)
    capsys.readouterr()
    assert main(["replay", str(dst)]) == 1
    assert "recorded only" in capsys.readouterr().out
    assert main(["replay", str(dst), "--key", str(pub)]) == 5  # and the signature check refuses it first


def test_payments_drift_is_credited_to_the_overlay_line_and_the_live_change(demo: tuple[Path, Path, Path]) -> None:
    run_dir, _, _ = demo
    path = "spec.template.spec.containers[name=payments].image"
    doc = json.loads((run_dir / "report.json").read_text())
    f = next(x for t in doc["targets"] for x in t["findings"]
             if t["target"]["name"] == "production-eu-west" and x["path"] == path)
    assert (f["credit"]["git"]["path"], f["credit"]["git"]["line"]) == OVERLAY_LINE
    assert f"{f['credit']['git']['commit']['author_name']} <{f['credit']['git']['commit']['author_email']}>" == ALICE
    assert f["credit"]["live"]["manager"] == "kubectl-set" and f["credit"]["live"]["time"].endswith("Z")
    assert f["owners"] == ["@acme/sre-leads", "@alice"]
    # The object's own provenance stays the object's: the base file, not mixed with the credit.
    assert all(x["role"] != "field" for x in f["provenance"]["files"])

    rows = list(csv.DictReader(io.StringIO((run_dir / "findings.csv").read_text("utf-8-sig"))))
    row = next(r for r in rows if r["target"] == "production-eu-west" and r["field_path"] == path)
    assert (row["git_file"], int(row["git_line"])) == OVERLAY_LINE and row["git_author"] == ALICE
    assert row["live_manager"] == "kubectl-set" and row["live_time"].endswith("Z")
    assert row["object_file"] == "base/payments/deployment.yaml"
    assert row["approval"].startswith("author is owner") and row["first_seen"].endswith("Z")

    sarif = json.loads((run_dir / "report.sarif").read_text())
    res = next(r for run in sarif["runs"] for r in run["results"]
               if r["properties"]["target"] == "production-eu-west" and path in r["message"]["text"])
    loc = res["locations"][0]["physicalLocation"]
    assert (loc["artifactLocation"]["uri"], loc["region"]["startLine"]) == OVERLAY_LINE
    assert res["properties"]["liveManager"] == "kubectl-set" and res["properties"]["gitAuthor"] == ALICE

    junit = ET.parse(run_dir / "junit.xml")
    case = next(c for c in junit.iter("testcase") if path in c.get("name", "") and "payments" in c.get("name", ""))
    text = "".join(el.text or "" for el in case)
    assert f"git: {OVERLAY_LINE[0]}:{OVERLAY_LINE[1]}" in text and "live: kubectl-set" in text and ALICE in text

    html = (run_dir / "report.html").read_text()
    credit = html[html.index('id="credit"'):html.index('id="ledger"')]
    assert f"{OVERLAY_LINE[0]}:{OVERLAY_LINE[1]}" in credit and "kubectl-set" in credit and "Alice Nguyen" in credit

    oscal = json.loads((run_dir / "oscal.json").read_text())
    obs = next(o for o in oscal["assessment-results"]["results"][0]["observations"]
               if any(p["name"] == "path" and p["value"] == path for p in o["props"])
               and any(p["name"] == "target" and p["value"] == "production-eu-west" for p in o["props"]))
    props = {p["name"]: p["value"] for p in obs["props"]}
    assert props["git-file"] == f"{OVERLAY_LINE[0]}:{OVERLAY_LINE[1]}" and props["live-manager"] == "kubectl-set"


def test_ledger_lists_every_protected_commit_with_its_approval_source(demo: tuple[Path, Path, Path]) -> None:
    run_dir, _, fleet = demo
    import subprocess

    # Every non-merge commit since the window start that touched a file feeding production, per git itself.
    files = set()
    doc = json.loads((run_dir / "report.json").read_text())
    for t in doc["targets"]:
        if t["target"]["env"] == "production":
            for item in t["inventory"]:
                files.update(f["path"] for f in item["files"])
    files.add(".github/CODEOWNERS")
    out = subprocess.run(["git", "-C", str(fleet), "log", "--no-merges", "--format=%H",
                          "--since=2026-10-01T00:00:00+00:00", "main", "--", *sorted(files)],
                         capture_output=True, text=True, check=True).stdout.split()
    rows = list(csv.DictReader(io.StringIO((run_dir / "ledger.csv").read_text("utf-8-sig"))))
    assert {r["sha"] for r in rows} == set(out)
    assert len(rows) == PROTECTED_SHAS_OF_DEMO == len(out)
    assert all(r["approval_source"] in ("trailer", "merge-commit", "author-is-owner", "none") for r in rows)
    assert all(r["author_date"].endswith("Z") and r["commit_date"].endswith("Z") for r in rows)
    by_subject = {r["subject"]: r for r in rows}
    dave = by_subject["payments: raise memory limit to 2Gi in eu-west"]
    assert dave["verdict"] == "unapproved" and dave["approval_source"] == "none"
    legacy = by_subject["Remove legacy-gateway: all traffic is served by shop-api (SHOP-412)"]
    assert legacy["verdict"] == "approved" and legacy["approval_source"] == "merge-commit"
    assert legacy["pull_request"] == "#42" and legacy["independent_approval"] == "true"
    assert by_subject["CODEOWNERS: payments team owns base/payments"]["approval_source"] == "trailer"
    assert len(doc["ledger"]) == len(rows)


SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: db
type: Opaque
stringData:
  password: git-canary-s3cret-value
"""


def test_secret_drift_replays_from_hashes_without_values(make_repo: Callable[..., Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    files = dict(FLEET)
    files["base/secret.yaml"] = SECRET
    files["base/kustomization.yaml"] = "resources: [deployment.yaml, service.yaml, secret.yaml]\n"
    repo = make_repo(files)
    live = render(repo, "overlays/prod")
    for obj in live:
        if obj["kind"] == "Secret":
            obj.pop("stringData")
            obj["data"] = {"password": base64.b64encode(b"live-canary-other-value").decode()}
    snapshot(tmp_path / "snap", live)
    cfg = write_config(tmp_path / "gitops-audit.yaml",
                       "  - {name: prod, env: production, path: overlays/prod, snapshot: snap}\n")
    cfg.write_text(cfg.read_text() + "cluster: {secrets: hash}\n")
    main(["run", "--config", str(cfg), "--out", str(tmp_path / "r"), "-q"])
    run_dir = (tmp_path / "r" / "latest").resolve()
    doc = json.loads((run_dir / "report.json").read_text())
    assert any(f["path"] == "data.password" and f["rule_id"] == "drift.modified"
               for t in doc["targets"] for f in t["findings"])
    canaries = [b"git-canary-s3cret-value", b"live-canary-other-value"]
    canaries += [base64.b64encode(c) for c in canaries]
    with zipfile.ZipFile(run_dir / "evidence.zip") as zf:
        blobs = {n: zf.read(n) for n in zf.namelist()}
    assert [(n, c) for n, b in blobs.items() for c in canaries if c in b] == []
    desired = json.loads(blobs["state/targets/prod/desired.json"])
    observed = json.loads(blobs["state/targets/prod/live.json"])
    d_hash = next(o for o in desired["objects"] if o["ref"]["kind"] == "Secret")["body"]["data"]["password"]
    l_hash = next(o for o in observed["objects"] if o["ref"]["kind"] == "Secret")["body"]["data"]["password"]
    assert d_hash.startswith("hmac-sha256:") and l_hash.startswith("hmac-sha256:") and d_hash != l_hash
    capsys.readouterr()
    assert main(["replay", str(run_dir / "evidence.zip")]) == 0
    assert "REPRODUCED" in capsys.readouterr().out


def test_adhoc_run_of_another_scope_does_not_resolve_the_nightly_findings(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    repo = make_repo(FLEET)
    prod = render(repo, "overlays/prod")
    for obj in prod:
        if obj["kind"] == "Deployment":
            obj["spec"]["replicas"] = 5
    snapshot(tmp_path / "snap-prod", [o for o in prod if o["kind"] != "Service"])
    snapshot(tmp_path / "snap-dev", render(repo, "overlays/dev"))
    cfg = str(write_config(
        tmp_path / "gitops-audit.yaml",
        "  - {name: prod, env: production, path: overlays/prod, snapshot: snap-prod}\n"
        "  - {name: dev, env: dev, path: overlays/dev, snapshot: snap-dev}\n",
    ))
    out = str(tmp_path / "reports")
    main(["run", "--config", cfg, "--out", out, "-q"])
    first = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())
    # An ad-hoc run of dev only, into the same directory: another scope.
    main(["run", "--config", cfg, "--target", "dev", "--out", out, "-q"])
    adhoc = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())
    assert adhoc["previous_run_id"] == "" and adhoc["resolved"] == [] and adhoc["scope"] != first["scope"]
    main(["run", "--config", cfg, "--out", out, "-q"])
    third = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())
    assert third["previous_run_id"] == first["run_id"] and third["resolved"] == []
    findings = [f for t in third["targets"] for f in t["findings"]]
    assert findings and all(f["status"] == "persisting" for f in findings)
    assert all(f["first_seen"] == first["started"] and f["last_seen"] == third["started"] for f in findings)
    index = (tmp_path / "reports" / "index.html").read_text()
    assert adhoc["run_id"] in index  # listed, though not charted


def test_demo_oscal_is_valid_against_the_published_schema(demo: tuple[Path, Path, Path]) -> None:
    import jsonschema

    from tests.report.test_report_oscal import SCHEMA, _python_patterns

    run_dir, _, _ = demo
    schema = _python_patterns(json.loads(SCHEMA.read_text()))
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    doc = json.loads((run_dir / "oscal.json").read_text())
    assert [e.message for e in validator.iter_errors(doc)] == []
    states = {f["target"]["target-id"]: f["target"]["status"]["state"]
              for f in doc["assessment-results"]["results"][0]["findings"]}
    # Control ids as the rule catalogue spells them (soc2:CC8.1), once each.
    assert states["soc2_CC8.1"] == "not-satisfied"  # Dave's unapproved production commit
    assert "soc2_cc8.1" not in states
