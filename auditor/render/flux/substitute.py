"""Flux ``postBuild`` variable substitution, as kustomize-controller does it after ``kustomize build``.

Semantics (kustomize-controller with Flux's envsubst fork):
- only the braced form is replaced: ``${var}``; a bare ``$var`` is left alone (shell scripts inside
  ConfigMaps survive);
- ``${var:=default}`` / ``${var:-default}`` use the default when the variable is unset or empty,
  ``${var=default}`` / ``${var-default}`` only when it is unset;
- ``$${var}`` is the escape: it yields the literal text ``${var}``;
- an unset variable without default becomes the empty string, unless ``strict`` (Flux's
  ``StrictPostBuildSubstitutions`` feature gate), where it is an error;
- variable names must match ``^[_a-zA-Z][_a-zA-Z0-9]*$``; Flux refuses other keys in ``substitute``;
- an object labelled or annotated ``kustomize.toolkit.fluxcd.io/substitute: disabled`` is skipped.

Substitution runs on each object's YAML text, then the text is parsed again: ``replicas: ${N}`` with
``N=3`` becomes the integer 3, exactly as in Flux (a dict-level replacement would leave the string "3").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from auditor.errors import RenderError
from auditor.util import yamlio

try:  # libyaml when present; the pure-Python dumper otherwise
    from yaml import CSafeDumper as _Dumper
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]

SUBSTITUTE_KEY = "kustomize.toolkit.fluxcd.io/substitute"
"""Label or annotation that opts an object out of substitution (value ``disabled``)."""

VAR_NAME_RE = re.compile(r"^[_a-zA-Z][_a-zA-Z0-9]*$")

# $${...} (escape) | ${name} | ${name<op>default} with op in := :- = -
_TOKEN_RE = re.compile(r"\$\$\{|\$\{([^{}]*)\}")
_EXPR_RE = re.compile(r"^([_a-zA-Z][_a-zA-Z0-9]*)(?:(:=|:-|=|-)(.*))?$", re.S)


class SubstitutionError(RenderError):
    """An invalid variable name or expression, or (strict mode) an unset variable."""


def check_names(variables: Mapping[str, str], where: str) -> None:
    """Reject variable names Flux would reject (``where`` names the source for the message)."""
    for name in variables:
        if not VAR_NAME_RE.match(str(name)):
            raise SubstitutionError(f"substitute {where}: invalid variable name {name!r} "
                                    "(must match ^[_a-zA-Z][_a-zA-Z0-9]*$)")


def substitute_text(text: str, variables: Mapping[str, str], *, strict: bool = False, where: str = "") -> str:
    """Replace ``${var}`` expressions in ``text`` (see the module docstring for the exact rules)."""

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$${":
            return "${"
        expr = m.group(1)
        em = _EXPR_RE.match(expr)
        if em is None:
            raise SubstitutionError(f"substitute {where}: unsupported expression ${{{expr}}}")
        name, op, default = em.group(1), em.group(2), em.group(3)
        value = variables.get(name)
        if op in (":=", ":-") and not value:
            return default or ""
        if op in ("=", "-") and value is None:
            return default or ""
        if value is None:
            if strict:
                raise SubstitutionError(f"substitute {where}: variable {name} is not set")
            return ""
        return str(value)

    return _TOKEN_RE.sub(repl, text)


def substitution_disabled(obj: Mapping[str, Any]) -> bool:
    """True when the object opts out with ``kustomize.toolkit.fluxcd.io/substitute: disabled``."""
    meta = obj.get("metadata") or {}
    for key in ("labels", "annotations"):
        values = meta.get(key) or {}
        if isinstance(values, Mapping) and str(values.get(SUBSTITUTE_KEY, "")).lower() == "disabled":
            return True
    return False


def substitute_object(obj: Mapping[str, Any], variables: Mapping[str, str], *, strict: bool = False,
                      where: str = "") -> dict[str, Any]:
    """Substitute one object through its YAML text; returns a new dict (the input is not changed).

    Objects that opt out, or whose text holds no ``${``, are returned as an unchanged copy.
    """
    if substitution_disabled(obj):
        return dict(obj)
    # No line wrapping: a folded scalar could split a ``${var:=a b}`` expression across lines.
    text = yaml.dump(dict(obj), Dumper=_Dumper, sort_keys=False, width=1 << 30, allow_unicode=True)
    if "${" not in text:
        return dict(obj)
    out = substitute_text(text, variables, strict=strict, where=where)
    try:
        doc = yamlio.load_one(out, f"substituted {where}")
    except yamlio.YamlError as exc:
        raise SubstitutionError(f"substitute {where}: result is not valid YAML: {exc.problem}") from None
    if not isinstance(doc, dict):
        raise SubstitutionError(f"substitute {where}: result is not an object")
    return doc
