"""Server defaults recorded for an object's creator are not "added out-of-band"."""

from __future__ import annotations

import pytest

from auditor.diff.defaults import is_server_default

C = ("spec", "template", "spec", "containers", "[name=web]")


@pytest.mark.parametrize(("kind", "path", "value", "parent", "expected"), [
    ("Deployment", (*C, "imagePullPolicy"), "IfNotPresent", {"image": "nginx:1.25"}, True),
    ("Deployment", (*C, "imagePullPolicy"), "Always", {"image": "nginx:1.25"}, False),
    ("Deployment", (*C, "imagePullPolicy"), "Always", {"image": "nginx"}, True),
    ("Deployment", (*C, "imagePullPolicy"), "Always", {"image": "reg:5000/nginx:latest"}, True),
    ("Deployment", (*C, "imagePullPolicy"), "IfNotPresent", {"image": "reg:5000/nginx@sha256:ab"}, True),
    ("Deployment", ("spec", "progressDeadlineSeconds"), 600, None, True),
    ("Deployment", ("spec", "progressDeadlineSeconds"), 60, None, False),
    ("Deployment", ("spec", "strategy", "rollingUpdate", "maxSurge"), "25%", None, True),
    ("DaemonSet", ("spec", "updateStrategy", "rollingUpdate", "maxSurge"), 0, None, True),
    ("Deployment", (*C, "livenessProbe", "httpGet", "scheme"), "HTTP", None, True),
    ("Deployment", (*C, "livenessProbe", "httpGet", "scheme"), "HTTPS", None, False),
    ("Service", ("spec", "clusterIP"), "10.0.0.1", None, True),
    ("Service", ("spec", "ports", "[port=80,protocol=TCP]", "targetPort"), 80, {"port": 80}, True),
    ("Service", ("spec", "ports", "[port=80,protocol=TCP]", "targetPort"), 8080, {"port": 80}, False),
    ("Service", ("spec", "type"), "ClusterIP", None, True),
    ("Service", ("spec", "type"), "LoadBalancer", None, False),
    ("Secret", ("type",), "Opaque", None, True),
    ("ConfigMap", ("data", "dnsPolicy"), "ClusterFirst", None, False),  # defaults are per kind
    ("Deployment", ("spec", "template", "spec", "serviceAccount"), "web", {"serviceAccountName": "web"}, True),
    ("Deployment", ("spec", "template", "spec", "serviceAccount"), "admin", {"serviceAccountName": "web"}, False),
    ("Deployment", (), None, None, False),
])
def test_is_server_default(kind: str, path: tuple[str, ...], value: object, parent: object, expected: bool) -> None:
    assert is_server_default(kind, path, value, parent) is expected
