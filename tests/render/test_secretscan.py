"""The clear-text secret values of a tree, used to mask render errors (issue 16 item 2)."""

from __future__ import annotations

import base64
from pathlib import Path

from auditor.render.secretscan import scan

GIT_DATA, GIT_STRINGDATA, GEN_LITERAL = "CANARY-git-data-7f3a91", "CANARY-git-stringdata-91bd2c", "CANARY-lit-4c2e55"
GEN_ENV, GEN_FILE, SUBST = "CANARY-gen-env-d81f07", "CANARY-gen-file-0a9c3e", "CANARY-subst-5e6b48"
BASE_FILES = {
    "base/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\n"
    f"data: {{password: {base64.b64encode(GIT_DATA.encode()).decode()}}}\nstringData: {{token: {GIT_STRINGDATA}}}\n",
    "base/app.env": f"API_KEY={GEN_ENV}\n",
    "base/cert.pem": f"-----BEGIN-----\n{GEN_FILE}\n-----END-----\n",
    "base/kustomization.yaml": "resources: [secret.yaml]\nsecretGenerator:\n  - name: gen\n"
    f"    literals: [pw={GEN_LITERAL}]\n    envs: [app.env]\n    files: [cert.pem]\n",
}


def test_scan_finds_every_clear_text_secret_of_a_tree(tmp_path: Path) -> None:
    for rel, text in BASE_FILES.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    (tmp_path / "clusters/prod").mkdir(parents=True)
    (tmp_path / "clusters/prod/apps.yaml").write_text(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps}\n"
        f"spec:\n  path: ./apps\n  postBuild:\n    substitute: {{DB_PW: {SUBST}, CLUSTER: prod-eu}}\n")
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps/db.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: db2}\nstringData: {pw: '${DB_PW}'}\n")
    found = scan(tmp_path)
    masked = found.mask(" ".join([GIT_DATA, GIT_STRINGDATA, GEN_LITERAL, GEN_ENV, GEN_FILE, SUBST, "prod-eu"]))
    assert masked == " ".join(["***"] * 6 + ["prod-eu"])  # a variable no Secret uses stays readable
