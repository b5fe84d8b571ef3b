"""Issue 16 item 2: Secret values kustomize echoes into its errors never reach a report, a log or the terminal.

kustomize prints the node it choked on (``node contents:``) and a generator's literal sources. The
not-audited reason is stored in every report format and the bundle, printed in the summary and logged:
each goes through one masking (known secret values of the repository, object dumps cut).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from .hostile import (
    BASE_FILES,
    GEN_LITERAL,
    GIT_CANARIES,
    leaks,
    outputs,
    run_cli,
    snapshot_of,
    write_config,
)

ECHO = {
    # unable to find field …: wrong node kind … node contents: <the base64 value>
    "overlays/echo-data/kustomization.yaml": (
        "namespace: shop\nresources: [../../base]\n"
        "replacements:\n"
        "  - source: {kind: Secret, name: db, fieldPath: data.password}\n"
        "    targets:\n"
        "      - select: {kind: Secret, name: db}\n"
        "        fieldPaths: [data.password.x]\n"
    ),
    "overlays/echo-stringdata/kustomization.yaml": (
        "namespace: shop\nresources: [../../base]\n"
        "replacements:\n"
        "  - source: {kind: Secret, name: db, fieldPath: metadata.name}\n"
        "    targets:\n"
        "      - select: {kind: Secret, name: db}\n"
        "        fieldPaths: [stringData.token.x]\n"
    ),
    # loading KV pairs: literal sources [pw=<value> broken]: invalid literal source
    "overlays/echo-literal/kustomization.yaml": (
        "namespace: shop\nresources: [../../base]\n"
        "secretGenerator:\n"
        f"  - name: more\n    literals: [pw={GEN_LITERAL}, broken]\n"
    ),
}


def test_echoed_secret_values_are_masked_everywhere(make_repo: Callable[..., Path], tmp_path: Path) -> None:
    make_repo({**BASE_FILES, **ECHO})
    snapshot_of([], tmp_path / "snap")
    names = ("echo-data", "echo-stringdata", "echo-literal")
    cfg = write_config(tmp_path / "cfg.yaml", "repo: repo\nref: main\ntargets:\n" + "".join(
        f"  - {{name: {n}, path: overlays/{n}, snapshot: snap}}\n" for n in names))
    run = run_cli(["-v", "run", "--config", str(cfg), "--out", str(tmp_path / "reports")], cwd=tmp_path,
                  cache=tmp_path / "cache")
    assert run.code == 3, run.stderr
    doc = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())
    reasons = {t["target"]["name"]: t["skip_reason"] for t in doc["targets"]}
    assert set(reasons) == set(names) and all(reasons.values())
    # The explanation survives the masking: it still says what went wrong.
    assert "unable to find field" in reasons["echo-data"] and "node contents: (not shown)" in reasons["echo-data"]
    assert "invalid literal source" in reasons["echo-literal"]
    texts = outputs(tmp_path / "reports", tmp_path / "cache")
    texts |= {"stdout": run.stdout, "stderr": run.stderr}
    assert not leaks(texts, GIT_CANARIES)

    # `render` prints the same masked reason.
    render = run_cli(["render", "--config", str(cfg), "--target", "echo-data"], cwd=tmp_path, cache=tmp_path / "c2")
    assert render.code == 2 and "unable to find field" in render.stderr
    assert not leaks({"stdout": render.stdout, "stderr": render.stderr}, GIT_CANARIES)
