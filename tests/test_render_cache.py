"""The render cache holds no Secret value and never serves a render made under other security settings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from auditor import render_cache
from auditor.model import Manifest, ObjectRef, RenderedSet
from auditor.render.flux.options import FluxOptions
from auditor.repo.options import SourceOptions


def test_security_settings_are_part_of_the_key() -> None:
    strict = render_cache.security_settings(SourceOptions(), FluxOptions())
    remote = render_cache.security_settings(SourceOptions(allow_remote_bases=("https://github.com/acme/",)),
                                            FluxOptions())
    helm = render_cache.security_settings(SourceOptions(), FluxOptions(kustomize_helm=True))
    assert len({strict, remote, helm}) == 3
    keys = {render_cache.cache_key(["v5", "tree", "overlay", "ns", s]) for s in (strict, remote, helm)}
    assert len(keys) == 3


def test_secret_values_are_not_stored(tmp_path: Path) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
              "data": {"password": "c2VjcmV0LXZhbHVl"}, "stringData": {"token": "tok-value-123"}}
    rs = RenderedSet(path="o", commit="c" * 40, tree_hash="h",
                     objects=(Manifest(ObjectRef("", "Secret", "ns", "db"), "v1", secret),))
    render_cache.store(tmp_path, "k" * 64, rs)
    text = (tmp_path / f"{'k' * 64}.json").read_text()
    assert "c2VjcmV0LXZhbHVl" not in text and "tok-value-123" not in text
    loaded = render_cache.load(tmp_path, "k" * 64)
    assert loaded is not None
    assert loaded.objects[0].body["data"] == {"password": "***"}  # keys kept for policies and drift of keys
    assert render_cache.load(tmp_path, "k" * 64, need_secret_values=True) is None
    plain = replace(rs, objects=(Manifest(ObjectRef("", "ConfigMap", "ns", "c"), "v1",
                                          {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}}),))
    render_cache.store(tmp_path, "p" * 64, plain)
    assert render_cache.load(tmp_path, "p" * 64, need_secret_values=True) is not None
