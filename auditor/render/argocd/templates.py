"""ApplicationSet templating: fasttemplate (``{{path.basename}}``) and Go templates (``goTemplate: true``).

Argo CD renders every string field of the Application template separately with the generator's
parameters. fasttemplate replaces ``{{ key }}`` with the flattened parameter value and leaves unknown
tags as they are. Go templates run here through ``helm template`` — the same text/template engine and
Sprig functions Argo CD uses (Argo CD removes ``env``/``expandenv``/``getHostByName``, as Helm does) — one
helm run per ApplicationSet for all parameter sets. Where this differs from Argo CD: Argo CD's own
``normalize``/``slugify`` functions are not available (the ApplicationSet is reported as not rendered),
and a missing key prints nothing instead of ``<no value>``.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from auditor.errors import RenderError, ToolError
from auditor.render import helm as helmmod
from auditor.util import proc, yamlio

_FAST_RE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested parameters as fasttemplate sees them: ``{"path": {"basename": "x"}}`` → ``{"path.basename": "x"}``."""
    out: dict[str, str] = {}
    for k, v in params.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        elif isinstance(v, list):
            for i, item in enumerate(v):
                out[f"{key}[{i}]"] = item if isinstance(item, str) else json.dumps(item)
        elif v is not None:
            out[key] = v if isinstance(v, str) else json.dumps(v) if not isinstance(v, bool) else str(v).lower()
    return out


def fast(text: str, params: Mapping[str, str]) -> str:
    """fasttemplate: known tags replaced, unknown ones left untouched."""
    return _FAST_RE.sub(lambda m: params.get(m.group(1), m.group(0)), text)


def walk_strings(value: Any, fn: Callable[[str], str]) -> Any:
    """A copy of ``value`` with ``fn`` applied to every string (map keys included, as Argo CD renders them)."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, Mapping):
        return {walk_strings(k, fn) if isinstance(k, str) else k: walk_strings(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [walk_strings(v, fn) for v in value]
    return value


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        if "{{" in value:
            out.append(value)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            _strings(k, out)
            _strings(v, out)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out)


def go_render(helm: helmmod.HelmTool, template: Any, param_sets: Sequence[Mapping[str, Any]], *,
              options: Sequence[str] = (), timeout: float = 60.0, action: str = "") -> list[Any]:
    """``template`` rendered once per parameter set with Go templates (one helm run for all of them)."""
    texts = sorted(set(_collect(template)))
    if not texts or not param_sets:
        return [template for _ in param_sets]
    lines = ["{{- $sets := .Values.sets }}"]
    for i, t in enumerate(texts):
        lines.append(f'{{{{- define "s{i}" }}}}{t}{{{{- /* end */ -}}}}{{{{ end }}}}')
    lines.append("{{- range $i, $p := $sets }}")
    lines.append("{{ $i }}: [" + ", ".join(f'{{{{ include "s{i}" $p | toJson }}}}' for i in range(len(texts))) + "]")
    lines.append("{{- end }}")
    with tempfile.TemporaryDirectory(prefix="gitops-audit-gotmpl-") as tmp:
        chart = Path(tmp) / "appset"
        (chart / "templates").mkdir(parents=True)
        (chart / "Chart.yaml").write_text("apiVersion: v2\nname: appset\nversion: 0.0.0\n", encoding="utf-8")
        (chart / "templates" / "out.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        values = Path(tmp) / "values.json"
        values.write_text(json.dumps({"sets": [dict(p) for p in param_sets]}), encoding="utf-8")
        env = {"HELM_CACHE_HOME": f"{tmp}/c", "HELM_CONFIG_HOME": f"{tmp}/g", "HELM_DATA_HOME": f"{tmp}/d",
               "HELM_NO_PLUGINS": "1"}
        try:
            res = proc.run([helm.path, "template", "x", str(chart), "--values", str(values)], action=action,
                           env=env, timeout=timeout, check=False, network=False)  # sprig has getHostByName
        except ToolError as exc:
            raise RenderError(str(exc)) from None
    if res.returncode != 0:
        msg = proc.short_stderr(res.stderr)
        msg = re.sub(r"template: appset/templates/out\.yaml:\d+:\d+: executing \"appset/templates/out\.yaml\" at "
                     r"<include \"s\d+\" \$p>: error calling include: ", "", msg)
        raise RenderError(f"{action}: Go template: {msg}")
    text = res.stdout.decode("utf-8", "replace")
    text = text.split("\n", 2)[2] if text.startswith("---\n# Source:") else text
    try:
        doc = yamlio.load_one(text, "Go template output") or {}
    except yamlio.YamlError as exc:
        raise RenderError(f"{action}: Go template output: {exc}") from None
    out = []
    for i in range(len(param_sets)):
        rendered: dict[str, str] = dict(zip(texts, doc.get(i) or [], strict=False))
        out.append(walk_strings(template, _lookup(rendered)))
    return out


def _lookup(rendered: Mapping[str, str]) -> Callable[[str], str]:
    def get(text: str) -> str:
        return rendered.get(text, text)

    return get


def _collect(value: Any) -> list[str]:
    out: list[str] = []
    _strings(value, out)
    return out


def dump(value: Any) -> str:
    """YAML text of a value (for messages)."""
    return yaml.safe_dump(value, sort_keys=True)
