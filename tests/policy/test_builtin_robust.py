"""No valid manifest makes the built-in pack error: every field of every kind it reads, null, empty or missing.

Issue 14: `resources.limits:` with nothing after it (YAML null) stopped evaluation at resources.rego, an
empty `securityContext:` at pod_security.rego, and containers without a name were skipped. Here every
field of a representative document of each kind the pack reads is, in turn, set to null, an empty map,
an empty list or an empty string, or removed; the pack must answer (findings, never `policy.error`), per
document and for the combined packages.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from reference_cases import binding, configmap, hpa, netpol, pdb, role, rule, sa_subject, service_account
from test_builtin import FIXTURES, manifest

from auditor.model import Target
from auditor.policy.audit import evaluate_target, load_policies
from auditor.policy.options import PolicyOptions

_KEEP = {("kind",), ("apiVersion",), ("metadata",), ("metadata", "name"), ("metadata", "namespace")}
"""Identity fields: a manifest without them is not a Kubernetes object."""


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


def _variants(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path in _paths(doc):
        if path in _KEEP:
            continue
        original = _get(doc, path)
        empty: Any = type(original)() if isinstance(original, dict | list | str) else None
        for label, value in (("null", None), ("empty", empty), ("removed", KeyError)):
            out = copy.deepcopy(doc)
            parent = out
            for k in path[:-1]:
                parent = parent[k]
            if value is KeyError:
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
            yield f"{'.'.join(map(str, path))}={label}", out


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def _documents() -> list[dict[str, Any]]:
    good = copy.deepcopy(FIXTURES["good"])
    pod_spec = good["spec"]["template"]["spec"]
    pod_spec["initContainers"] = [copy.deepcopy(FIXTURES["init"])]
    pod_spec["volumes"] = [{"name": "tmp", "emptyDir": {}}]
    pod_spec["containers"][0]["env"] = [{"name": "A", "value": "b"}]
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "cron", "namespace": "shop"},
        "spec": {
            "schedule": "* * * * *",
            "jobTemplate": {"spec": {"template": copy.deepcopy(good["spec"]["template"])}},
        },
    }
    bare = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "bare",
            "namespace": "shop",
            "labels": {"app": "web"},
            "ownerReferences": [{"kind": "Job", "name": "j"}],
        },
        "spec": copy.deepcopy(pod_spec),
    }
    return [
        good,
        cron,
        bare,
        role([rule([""], ["pods/exec"], ["create"], resourceNames=["x"])], kind="Role", ns="shop"),
        binding("test", "Role", "RoleBinding", subjects=[sa_subject("web", "shop")], ns="shop"),
        role([rule(["*"], ["*"], ["*"])]),
        binding("test", subjects=[sa_subject("web", "shop")]),
        service_account("web", False, ns="shop"),
        pdb(
            {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]},
            ns="shop",
            minAvailable="50%",
        ),
        {**hpa("web", 2), "metadata": {"name": "web", "namespace": "shop"}},
        {
            **netpol({"matchLabels": {"app": "web"}}, policyTypes=["Ingress"], egress=[{}]),
            "metadata": {"name": "np", "namespace": "shop"},
        },
        configmap({"password": "x", "key": "-----BEGIN PRIVATE KEY-----"}),
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "i", "namespace": "shop"},
            "spec": {"tls": [{"hosts": ["a"]}], "rules": [{"host": "a"}]},
        },
    ]


@pytest.mark.parametrize("index", range(len(_documents())))
def test_null_empty_and_missing_fields_never_error(index: int) -> None:
    base = _documents()[index]
    policies = load_policies(PolicyOptions(namespaces=(), workers=0))
    docs, labels = [], {}
    for i, (label, doc) in enumerate(_variants(base)):
        doc["metadata"]["name"] = f"{doc['metadata']['name']}-{i}"
        labels[doc["metadata"]["name"]] = label
        docs.append(doc)
    # Companions give the combined packages something to join the variants with.
    others = [d for j, d in enumerate(_documents()) if j != index]
    findings = evaluate_target(policies, Target("t", env="production"), [manifest(d) for d in (*docs, *others)], [])
    errors = [
        f"{labels.get(f.ref.name, f.ref.name) if f.ref else 'combined'}: {f.message}"
        for f in findings
        if f.rule_id == "policy.error"
    ]
    assert errors == []
    assert docs
