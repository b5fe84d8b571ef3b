"""The corpus objects are valid Kubernetes objects (strict OpenAPI schemas, unknown fields rejected).

Runs where the ``kubernetes-validate`` package is installed (it is only needed to regenerate the
merge-key table); a typo in a hand-written live object would otherwise pass unnoticed.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import pytest
import yaml

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(CORPUS.glob("*/desired.yaml")) + sorted(CORPUS.glob("*/live.yaml"))


@pytest.mark.skipif(importlib.util.find_spec("kubernetes_validate") is None,
                    reason="kubernetes-validate not installed")
@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_corpus_objects_validate(path: Path) -> None:
    kv = importlib.import_module("kubernetes_validate")
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc or doc["apiVersion"].split("/")[0].endswith("example.com"):
            continue  # custom resource: validated by its CRD, not the built-in schemas
        kv.validate(doc, "1.31.0", strict=True)
