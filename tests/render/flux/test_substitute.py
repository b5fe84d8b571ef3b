"""Flux postBuild substitution semantics (text level, like kustomize-controller)."""

from __future__ import annotations

import pytest

from auditor.render.flux.substitute import (
    SubstitutionError,
    check_names,
    substitute_object,
    substitute_text,
    substitution_disabled,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${a}", "A"),
        ("x-${a}-${b}", "x-A-"),  # unset without default: empty (Flux without strict mode)
        ("${b:=dflt}", "dflt"),
        ("${b:-dflt}", "dflt"),
        ("${empty:=dflt}", "dflt"),  # := also replaces an empty value
        ("${empty=dflt}", ""),  # = only replaces an unset one
        ("${b=dflt}", "dflt"),
        ("${a:=dflt}", "A"),
        ("${b:=with spaces and: colons}", "with spaces and: colons"),
        ("$${a}", "${a}"),  # the escape
        ("$a ${a}", "$a A"),  # bare $var is never substituted
        ("no vars $ here", "no vars $ here"),
    ],
)
def test_substitute_text(text: str, expected: str) -> None:
    assert substitute_text(text, {"a": "A", "empty": ""}) == expected


def test_strict_mode_and_bad_expressions() -> None:
    with pytest.raises(SubstitutionError, match="variable b is not set"):
        substitute_text("${b}", {}, strict=True, where="ks")
    assert substitute_text("${b:=x}", {}, strict=True) == "x"
    with pytest.raises(SubstitutionError, match="unsupported expression"):
        substitute_text("${a/b/c}", {"a": "1"})


def test_variable_names() -> None:
    check_names({"ok_1": "", "_x": "", "A": ""}, "x")
    for bad in ("1a", "a-b", "a.b", ""):
        with pytest.raises(SubstitutionError, match="invalid variable name"):
            check_names({bad: "v"}, "x")


def test_object_substitution_reparses_types() -> None:
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "${name}"},
           "spec": {"replicas": "${n}", "paused": "${p:=false}", "note": "${long:=a b c d e f g h i j k l m n o p q r "
                                                                             "s t u v w x y z a b c d e f g h i j}"}}
    out = substitute_object(obj, {"name": "web", "n": "3"})
    assert out["metadata"]["name"] == "web"
    assert out["spec"]["replicas"] == 3 and out["spec"]["paused"] is False
    assert out["spec"]["note"].startswith("a b c") and out["spec"]["note"].endswith("i j")
    assert obj["spec"]["replicas"] == "${n}"  # input untouched


def test_opt_out_by_label_or_annotation() -> None:
    for where in ("labels", "annotations"):
        obj = {"kind": "ConfigMap", "metadata": {"name": "s", where: {"kustomize.toolkit.fluxcd.io/substitute":
                                                                      "disabled"}}, "data": {"x": "${a}"}}
        assert substitution_disabled(obj)
        assert substitute_object(obj, {"a": "A"})["data"] == {"x": "${a}"}
    assert not substitution_disabled({"metadata": {}})


def test_result_must_stay_an_object() -> None:
    with pytest.raises(SubstitutionError, match="not valid YAML"):
        substitute_object({"kind": "ConfigMap", "data": {"x": "${a}"}}, {"a": "[unclosed"})
