"""A labelled reference set: manifests with the verdict Polaris or Kubescape gives them, per check.

Each case re-creates, in our own YAML, a scenario of the reference tool's public check definition and its
test fixtures (Polaris ``test/checks/<check>/{success,failure}*.yaml``; Kubescape regolibrary
``rules/<rule>/test/*``), labelled with the verdict *that tool* gives for the named object. The pack's
rules that claim the check as an equivalent (``equivalents`` in their METADATA) must agree; where we
decided otherwise on purpose the case carries ``deviation`` with the reason (also in the README), and
still counts against precision/recall. ``test_reference.py`` computes both per tool.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

RBAC = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class Case:
    """One labelled scenario."""

    tool: str
    """``polaris`` or ``kubescape``."""
    check: str
    """The tool's check id (Polaris check name, Kubescape control id)."""
    fails: bool
    """The tool's verdict for ``subject``: True when the check fails."""
    docs: list[dict[str, Any]]
    subject: tuple[str, str] = ("", "")
    """(kind, name) the verdict is about; default: the first document."""
    note: str = ""
    deviation: str = ""
    """Why our verdict differs on purpose (empty: we must agree)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def target(self) -> tuple[str, str]:
        """(kind, name) of the object the verdict is about."""
        if self.subject[0]:
            return self.subject
        return self.docs[0]["kind"], self.docs[0]["metadata"]["name"]


# ----------------------------------------------------------------------------------------- builders


def container(**fields: Any) -> dict[str, Any]:
    """A container named nginx; `name=None` drops the name."""
    c: dict[str, Any] = {"name": "nginx", "image": "nginx:1.27.0"}
    for k, v in fields.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def pod(
    *containers: dict[str, Any],
    name: str = "test-pod",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    meta: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A Pod in namespace default with the containers (one nginx by default) and spec fields."""
    metadata: dict[str, Any] = {"name": name, "namespace": "default", "labels": labels or {"app": "test"}}
    if annotations:
        metadata["annotations"] = annotations
    metadata.update(meta or {})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {"containers": list(containers) or [container()], **spec},
    }


def deployment(
    *containers: dict[str, Any],
    name: str = "test-deploy",
    replicas: int | None = 3,
    labels: dict[str, str] | None = None,
    template_meta: dict[str, Any] | None = None,
    meta_labels: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A Deployment in namespace default."""
    pod_labels = labels if labels is not None else {"app": name}
    tmeta = template_meta if template_meta is not None else {"labels": pod_labels}
    d: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": meta_labels or {"app": name}},
        "spec": {
            "selector": {"matchLabels": pod_labels or {"app": name}},
            "template": {"metadata": tmeta, "spec": {"containers": list(containers) or [container()], **spec}},
        },
    }
    if replicas is not None:
        d["spec"]["replicas"] = replicas
    return d


def cronjob(*containers: dict[str, Any], name: str = "hello") -> dict[str, Any]:
    """A CronJob in namespace default."""
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "schedule": "* * * * *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {"restartPolicy": "OnFailure", "containers": list(containers) or [container()]}
                    }
                }
            },
        },
    }


def service_account(name: str = "test", automount: bool | None = None, ns: str = "default") -> dict[str, Any]:
    """A ServiceAccount; automountServiceAccountToken only when given."""
    sa: dict[str, Any] = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}}
    if automount is not None:
        sa["automountServiceAccountToken"] = automount
    return sa


def role(
    rules: list[dict[str, Any]], name: str = "test", kind: str = "ClusterRole", ns: str = "default"
) -> dict[str, Any]:
    """A Role or ClusterRole."""
    meta: dict[str, Any] = {"name": name}
    if kind == "Role":
        meta["namespace"] = ns
    return {"apiVersion": f"{RBAC}/v1", "kind": kind, "metadata": meta, "rules": rules}


def rule(groups: list[str], resources: list[str], verbs: list[str], **extra: Any) -> dict[str, Any]:
    """A PolicyRule."""
    return {"apiGroups": groups, "resources": resources, "verbs": verbs, **extra}


USER = {"apiGroup": RBAC, "kind": "User", "name": "testuser"}


def binding(
    role_name: str,
    role_kind: str = "ClusterRole",
    kind: str = "ClusterRoleBinding",
    name: str = "test",
    subjects: list[dict[str, Any]] | None = None,
    ns: str = "default",
) -> dict[str, Any]:
    """A RoleBinding or ClusterRoleBinding to testuser (or the given subjects)."""
    meta: dict[str, Any] = {"name": name}
    if kind == "RoleBinding":
        meta["namespace"] = ns
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role_name},
        "subjects": subjects if subjects is not None else [USER],
    }


def sa_subject(name: str = "default", ns: str = "default") -> dict[str, Any]:
    """A ServiceAccount subject."""
    return {"kind": "ServiceAccount", "name": name, "namespace": ns}


def with_ctx(ctx: dict[str, Any] | None, **fields: Any) -> dict[str, Any]:
    """A container with this securityContext (None: `securityContext:` with nothing after it)."""
    c = container(**fields)
    c["securityContext"] = copy.deepcopy(ctx)
    return c


def hpa(target: str, min_replicas: int | None, max_replicas: int = 10, name: str = "test-hpa") -> dict[str, Any]:
    """An autoscaling/v2 HPA scaling Deployment `target`."""
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "maxReplicas": max_replicas,
    }
    if min_replicas is not None:
        spec["minReplicas"] = min_replicas
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


def pdb(selector: dict[str, Any] | None, name: str = "test-pdb", ns: str = "default", **spec: Any) -> dict[str, Any]:
    """A policy/v1 PodDisruptionBudget."""
    body: dict[str, Any] = dict(spec)
    if selector is not None:
        body["selector"] = selector
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": ns},
        "spec": body,
    }


def netpol(selector: dict[str, Any], name: str = "test", **spec: Any) -> dict[str, Any]:
    """A NetworkPolicy in namespace default."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"podSelector": selector, **spec},
    }


def configmap(data: dict[str, str] | None) -> dict[str, Any]:
    """A ConfigMap with this data (None: no data field)."""
    cm: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "test-config", "namespace": "default"},
    }
    if data is not None:
        cm["data"] = data
    return cm


PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nxxxxxxxx\n-----END OPENSSH PRIVATE KEY-----\n"
INSECURE = [
    "NET_ADMIN",
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
]


def _polaris() -> list[Case]:
    P = "polaris"
    c: list[Case] = []

    def add(check: str, fails: bool, *docs: dict[str, Any], **kw: Any) -> None:
        c.append(Case(P, check, fails, list(docs), **kw))

    # Controller checks
    add("deploymentMissingReplicas", True, deployment(replicas=1))
    add("deploymentMissingReplicas", True, deployment(replicas=None), note="replicas unset means 1")
    add("deploymentMissingReplicas", False, deployment(replicas=3))
    add(
        "deploymentMissingReplicas",
        True,
        deployment(replicas=None),
        hpa("test-deploy", 2),
        deviation="an HPA scales the Deployment: with GitOps spec.replicas must stay unset, "
        "or every sync undoes the HPA",
    )
    # Pod checks
    for check, fld in (("hostIPCSet", "hostIPC"), ("hostPIDSet", "hostPID"), ("hostNetworkSet", "hostNetwork")):
        add(check, True, pod(**{fld: True}))
        add(check, False, pod())
        add(check, False, pod(**{fld: False}))
        add(check, True, deployment(**{fld: True}))
    add("hostPathSet", True, pod(volumes=[{"name": "v", "hostPath": {"path": "/var/run/docker.sock"}}]))
    add("hostPathSet", False, pod(volumes=[{"name": "v", "emptyDir": {}}]))
    add(
        "hostProcess",
        True,
        pod(
            container(ports=[{"containerPort": 80, "hostPort": 8080}]),
            securityContext={"windowsOptions": {"hostProcess": True}},
        ),
    )
    add("hostProcess", True, pod(with_ctx({"windowsOptions": {"hostProcess": True}})))
    add("hostProcess", False, pod(with_ctx({"windowsOptions": {"hostProcess": False}})))
    add("hostProcess", False, pod(securityContext={"windowsOptions": {"hostProcess": False}}))
    # automountServiceAccountToken: pod value wins, else the ServiceAccount's, else mounted.
    add(
        "automountServiceAccountToken",
        True,
        pod(automountServiceAccountToken=True, serviceAccountName="test"),
        service_account("test", True),
    )
    add(
        "automountServiceAccountToken",
        True,
        pod(automountServiceAccountToken=True, serviceAccountName="test"),
        service_account("test", False),
    )
    add("automountServiceAccountToken", True, pod(serviceAccountName="test"), service_account("test"))
    add("automountServiceAccountToken", False, pod(automountServiceAccountToken=False))
    add(
        "automountServiceAccountToken",
        False,
        pod(automountServiceAccountToken=False, serviceAccountName="test"),
        service_account("test"),
    )
    add(
        "automountServiceAccountToken",
        False,
        pod(automountServiceAccountToken=False, serviceAccountName="test"),
        service_account("test", False),
    )
    add(
        "automountServiceAccountToken",
        False,
        pod(automountServiceAccountToken=False, serviceAccountName="test"),
        service_account("test", True),
    )
    add("automountServiceAccountToken", False, pod(serviceAccountName="test"), service_account("test", False))
    add("topologySpreadConstraint", True, deployment(topologySpreadConstraints=[]))
    add("topologySpreadConstraint", True, deployment())
    add(
        "topologySpreadConstraint",
        False,
        deployment(
            topologySpreadConstraints=[
                {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"}
            ]
        ),
    )
    add(
        "topologySpreadConstraint",
        True,
        pod(),
        deviation="a bare Pod is one replica: there is nothing to spread (checked on Deployments, StatefulSets, "
        "ReplicaSets)",
    )
    # Container checks
    add("procMount", True, pod(with_ctx({"procMount": "Other"}, ports=[{"containerPort": 80, "hostPort": 8080}])))
    add("procMount", False, pod(with_ctx({"procMount": "Default"})))
    res = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}
    for check, kind, key in (
        ("memoryLimitsMissing", "limits", "memory"),
        ("memoryRequestsMissing", "requests", "memory"),
        ("cpuLimitsMissing", "limits", "cpu"),
        ("cpuRequestsMissing", "requests", "cpu"),
    ):
        add(check, True, pod(container(name=None)))
        partial = copy.deepcopy(res)
        del partial[kind][key]
        add(check, True, pod(container(resources=partial)))
        add(check, False, pod(container(resources=res)))
    add("memoryLimitsMissing", True, pod(container(resources={"limits": {"cpu": "100m"}})))
    add(
        "memoryLimitsMissing",
        False,
        pod(container(resources=res), initContainers=[container(name="init")]),
        deviation="initContainers are checked too: the scheduler reserves their requests and an unbounded init "
        "container can exhaust node memory like any other",
    )
    for check, probe in (("readinessProbeMissing", "readinessProbe"), ("livenessProbeMissing", "livenessProbe")):
        p = {"exec": {"command": ["cat", "/tmp/healthy"]}, "initialDelaySeconds": 5}
        add(check, True, pod(container(image="k8s.gcr.io/busybox:1.36")))
        add(check, False, pod(container(image="k8s.gcr.io/busybox:1.36", **{probe: p})))
        add(check, True, deployment())
        add(check, False, cronjob(), note="Jobs and CronJobs run to completion")
    add("pullPolicyNotAlways", True, pod())
    add("pullPolicyNotAlways", True, deployment(container(imagePullPolicy="IfNotPresent")))
    add("pullPolicyNotAlways", True, cronjob())
    add("pullPolicyNotAlways", False, pod(container(imagePullPolicy="Always")))
    add("pullPolicyNotAlways", False, deployment(container(imagePullPolicy="Always")))
    add("pullPolicyNotAlways", False, cronjob(container(imagePullPolicy="Always")))
    add("tagNotSpecified", True, pod(container(image="nginx:latest")))
    add("tagNotSpecified", True, pod(container(image="nginx")))
    add("tagNotSpecified", False, pod(container(image="nginx:v1.2.3")))
    add("hostPortSet", True, pod(container(ports=[{"containerPort": 80, "hostPort": 8080}])))
    add("hostPortSet", False, pod(container(ports=[{"containerPort": 80}])))
    add("runAsRootAllowed", True, deployment(with_ctx({"runAsNonRoot": False})))
    add("runAsRootAllowed", False, deployment(with_ctx({"runAsNonRoot": True})))
    add("runAsRootAllowed", False, deployment(with_ctx({"runAsUser": 1200})))
    add("runAsRootAllowed", True, pod())
    add("runAsRootAllowed", False, pod(securityContext={"runAsNonRoot": True}))
    add("runAsRootAllowed", True, pod(with_ctx({"runAsNonRoot": False}), securityContext={"runAsNonRoot": True}))
    add("runAsPrivileged", True, pod(with_ctx({"privileged": True})))
    add("runAsPrivileged", True, pod(with_ctx({"privileged": True}), with_ctx({"privileged": False}, name="other")))
    add("runAsPrivileged", True, pod(with_ctx({"privileged": True}), container(name="other")))
    add("runAsPrivileged", False, pod(with_ctx({"privileged": False})))
    add("runAsPrivileged", False, pod(with_ctx(None, name=None)), note="null securityContext, container without a name")
    add("notReadOnlyRootFilesystem", True, pod(with_ctx({"readOnlyRootFilesystem": False})))
    add(
        "notReadOnlyRootFilesystem",
        True,
        pod(
            with_ctx({"readOnlyRootFilesystem": True}, name=None),
            with_ctx({"readOnlyRootFilesystem": False}, name=None),
        ),
    )
    add("notReadOnlyRootFilesystem", True, pod(with_ctx({"readOnlyRootFilesystem": True}), container(name="other")))
    add("notReadOnlyRootFilesystem", False, pod(with_ctx({"readOnlyRootFilesystem": True})))
    add("notReadOnlyRootFilesystem", False, pod(with_ctx({"readOnlyRootFilesystem": True}, name=None)))
    add("privilegeEscalationAllowed", True, pod(with_ctx({"allowPrivilegeEscalation": True})))
    add("privilegeEscalationAllowed", True, pod())
    add("privilegeEscalationAllowed", True, pod(with_ctx(None)), note="`securityContext:` with nothing after it")
    add("privilegeEscalationAllowed", False, pod(with_ctx({"allowPrivilegeEscalation": False})))
    for cap in ("SYS_ADMIN", "NET_ADMIN", "ALL", "sys_admin"):
        add("dangerousCapabilities", True, pod(with_ctx({"capabilities": {"add": [cap]}})))
    add("dangerousCapabilities", False, pod(with_ctx({"capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}})))
    add("dangerousCapabilities", False, pod())
    add("insecureCapabilities", True, pod(with_ctx({"capabilities": {"add": ["ALL"]}})))
    add("insecureCapabilities", True, pod(with_ctx({"capabilities": {"drop": INSECURE[:-1]}})))
    add("insecureCapabilities", True, pod())
    add("insecureCapabilities", False, pod(with_ctx({"capabilities": {"drop": ["All"]}})))
    add("insecureCapabilities", False, pod(with_ctx({"capabilities": {"drop": [x.lower() for x in INSECURE]}})))
    add("insecureCapabilities", False, pod(with_ctx({"capabilities": {"drop": ["ALL"]}})))
    add("priorityClassNotSet", True, pod())
    add("priorityClassNotSet", False, pod(priorityClassName="high-priority"))
    # linuxHardening: seccomp (container over pod, not Unconfined), SELinux, AppArmor, dropped capabilities.
    add("linuxHardening", True, pod(container(name="nginx"), container(name="nginx2")))
    add("linuxHardening", True, pod(with_ctx({"capabilities": {"drop": ["ALL"], "add": ["all"]}})))
    add(
        "linuxHardening",
        True,
        pod(
            with_ctx({"seccompProfile": {"type": "Unconfined"}}),
            securityContext={"seccompProfile": {"type": "RuntimeDefault"}},
        ),
    )
    add("linuxHardening", True, pod(securityContext={"seccompProfile": None}))
    add("linuxHardening", True, pod(securityContext={"seccompProfile": {"type": "Unconfined"}}))
    add("linuxHardening", True, pod(with_ctx({"seLinuxOptions": None})))
    add("linuxHardening", True, pod(securityContext={"seLinuxOptions": None}))
    add(
        "linuxHardening",
        True,
        pod(
            container(name="nginx"),
            container(name="nginx2"),
            annotations={"container.apparmor.security.beta.kubernetes.io/nginx3": "runtime/default"},
        ),
    )
    add("linuxHardening", False, pod(with_ctx({"capabilities": {"drop": ["ALL"], "add": ["someCapabilities"]}})))
    add("linuxHardening", False, pod(with_ctx({"seccompProfile": {"type": "RuntimeDefault"}})))
    add("linuxHardening", False, pod(securityContext={"seccompProfile": {"type": "RuntimeDefault"}}))
    add(
        "linuxHardening",
        False,
        pod(
            with_ctx({"seccompProfile": {"type": "RuntimeDefault"}}),
            securityContext={"seccompProfile": {"type": "Unconfined"}},
        ),
    )
    add("linuxHardening", False, pod(with_ctx({"seLinuxOptions": {"level": "s0:c123,c456"}})))
    add("linuxHardening", False, pod(securityContext={"seLinuxOptions": {"level": "s0:c123,c456"}}))
    add(
        "linuxHardening",
        False,
        pod(
            container(name="nginx"),
            container(name="nginx2"),
            annotations={
                "container.apparmor.security.beta.kubernetes.io/nginx": "runtime/default",
                "container.apparmor.security.beta.kubernetes.io/nginx2": "runtime/default",
            },
        ),
    )
    for name in ("AWS_SECRET_ACCESS_KEY", "AZURE_BATCH_KEY", "OCI_CLI_KEY_CONTENT", "my_password"):
        add(
            "sensitiveContainerEnvVar",
            True,
            pod(container(env=[{"name": "user_name", "value": "postgres"}, {"name": name, "value": "xxx"}])),
        )
    add("sensitiveContainerEnvVar", True, pod(container(env=[{"name": "the_good_stuff", "value": PRIVATE_KEY}])))
    add("sensitiveContainerEnvVar", False, pod())
    add(
        "sensitiveContainerEnvVar",
        False,
        pod(container(env=[{"name": "token", "valueFrom": {"secretKeyRef": {"key": "token", "name": "a-secret"}}}])),
    )
    add("sensitiveContainerEnvVar", False, pod(container(env=[{"name": "greeting", "value": "hello"}])))
    for key in ("AWS_SECRET_ACCESS_KEY", "AZURE_BATCH_KEY", "OCI_CLI_KEY_CONTENT", "db_password"):
        add("sensitiveConfigmapContent", True, configmap({"db_username": "postgres", key: "abc123"}))
    add("sensitiveConfigmapContent", True, configmap({"a_key": "and value that are ok", "ssh_access": PRIVATE_KEY}))
    add("sensitiveConfigmapContent", False, configmap(None))
    add("sensitiveConfigmapContent", False, configmap({"message": "This is a test", "db_user": "postgres"}))
    # Other checks
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "test-ingress", "namespace": "default"},
        "spec": {"rules": [{"host": "example.com"}]},
    }
    add("tlsSettingsMissing", True, ingress)
    add(
        "tlsSettingsMissing",
        False,
        {**ingress, "spec": {**ingress["spec"], "tls": [{"hosts": ["example.com"], "secretName": "t"}]}},
    )
    for spec, fails in (
        ({"minAvailable": "100%", "maxUnavailable": 5}, True),
        ({"maxUnavailable": 0}, True),
        ({"minAvailable": "100%"}, True),
        ({"minAvailable": 5, "maxUnavailable": "10%"}, False),
        ({"maxUnavailable": "5%"}, False),
        ({"minAvailable": 5}, False),
        ({}, False),
    ):
        add("pdbDisruptionsIsZero", fails, pdb({"matchLabels": {"app": "nginx"}}, **spec))
    add("metadataAndInstanceMismatched", True, pod(name="nginx"))
    add("metadataAndInstanceMismatched", True, pod(name="nginx", labels={"app.kubernetes.io/instance": "not-nginx"}))
    add("metadataAndInstanceMismatched", False, pod(name="nginx", labels={"app.kubernetes.io/instance": "nginx"}))
    zk = {"app.kubernetes.io/name": "zookeeper"}
    add(
        "missingPodDisruptionBudget",
        True,
        deployment(name="zookeeper", labels={"app": "zookeeper"}),
        {**pdb({"matchLabels": {"app": "zookeeper"}}, minAvailable=2, ns="wrongnamespace")},
    )
    add(
        "missingPodDisruptionBudget",
        True,
        deployment(name="zookeeper", labels={"app": "zookeeper"}),
        pdb({"matchLabels": {"app": "asdfasf"}}, minAvailable=2),
    )
    add(
        "missingPodDisruptionBudget",
        True,
        deployment(name="zookeeper", labels={}),
        pdb({"matchLabels": zk}, minAvailable=2),
    )
    add(
        "missingPodDisruptionBudget",
        True,
        deployment(name="zookeeper", template_meta={}),
        pdb({"matchLabels": zk}, minAvailable=2),
    )
    add("missingPodDisruptionBudget", True, deployment(name="zookeeper", labels={"app": "zookeeper"}))
    add(
        "missingPodDisruptionBudget",
        True,
        deployment(name="zookeeper", labels={"foo": "bar"}, meta_labels={**zk, "foo": "bar"}),
        pdb({"matchLabels": zk}, minAvailable=2),
        note="the labels are on the Deployment, not its pod template",
    )
    add(
        "missingPodDisruptionBudget",
        False,
        deployment(name="zookeeper", labels=zk),
        pdb({"matchLabels": zk}, minAvailable=2),
        pdb({"matchLabels": {"app.kubernetes.io/name": "abcd"}}, name="abcd-pdb", minAvailable=2),
    )
    add(
        "missingPodDisruptionBudget",
        False,
        deployment(name="zookeeper", labels={**zk, "foo": "bar"}),
        pdb({"matchLabels": zk}, minAvailable=2),
    )
    zkd = deployment(name="zookeeper", labels={**zk, "foo": "bar"})
    add(
        "pdbMinAvailableGreaterThanHPAMinReplicas",
        True,
        zkd,
        pdb({"matchLabels": zk}, minAvailable=10),
        hpa("zookeeper", 5),
    )
    add(
        "pdbMinAvailableGreaterThanHPAMinReplicas",
        True,
        zkd,
        pdb({"matchLabels": zk}, minAvailable="150%"),
        hpa("zookeeper", 10),
    )
    add(
        "pdbMinAvailableGreaterThanHPAMinReplicas",
        False,
        zkd,
        pdb({"matchLabels": zk}, minAvailable="50%"),
        hpa("zookeeper", 10),
    )
    add(
        "pdbMinAvailableGreaterThanHPAMinReplicas",
        False,
        zkd,
        pdb({"matchLabels": zk}, maxUnavailable=5),
        hpa("zookeeper", 5),
    )
    add(
        "pdbMinAvailableGreaterThanHPAMinReplicas",
        False,
        zkd,
        pdb({"matchLabels": zk}, minAvailable=5),
        hpa("zookeeper", 5),
    )
    add(
        "pdbMinAvailableGreaterThanHPAMinReplicas",
        False,
        zkd,
        pdb({"matchLabels": zk}, minAvailable=5),
        hpa("no-match", 5),
    )
    add(
        "pdbMinAvailableGreaterThanHPAMinReplicas",
        False,
        zkd,
        pdb({"matchLabels": zk}, minAvailable=2),
        hpa("zookeeper", 5),
    )
    add("pdbMinAvailableGreaterThanHPAMinReplicas", False, zkd, pdb({"matchLabels": zk}, minAvailable=5))
    add(
        "pdbMinAvailableGreaterThanHPAMinReplicas",
        False,
        zkd,
        pdb({"matchLabels": {"app.kubernetes.io/name": "no-match"}}, minAvailable=5),
        hpa("zookeeper", 2),
    )
    add(
        "pdbMinAvailableGreaterThanHPAMinReplicas",
        False,
        zkd,
        pdb({"matchLabels": zk}, minAvailable=2),
        hpa("zookeeper", None),
    )
    add("pdbMinAvailableGreaterThanHPAMinReplicas", False, zkd, hpa("zookeeper", 5))
    add("hpaMaxAvailability", True, hpa("x", 5, 5))
    add("hpaMaxAvailability", False, hpa("x", None, 10))
    add("hpaMaxAvailability", False, hpa("x", 5, 10))
    add("hpaMinAvailability", True, hpa("x", 1, 10))
    add("hpaMinAvailability", False, hpa("x", 2, 10))
    add(
        "hpaMinAvailability",
        False,
        hpa("x", None, 10),
        deviation="minReplicas unset defaults to 1, so the HPA can scale to a single pod",
    )
    # missingNetworkPolicy: a NetworkPolicy selecting the pod's labels, isolating ingress and egress.
    medium = {"security": "medium"}
    rules = {
        "ingress": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}],
        "egress": [{"to": [{"podSelector": {"matchLabels": medium}}]}],
    }
    add(
        "missingNetworkPolicy",
        False,
        pod(labels=medium),
        netpol({"matchLabels": medium}, policyTypes=["Egress", "Ingress"], **rules),
    )
    add(
        "missingNetworkPolicy",
        True,
        pod(labels=medium),
        netpol({"matchLabels": medium}, policyTypes=["Ingress"], **rules),
    )
    add(
        "missingNetworkPolicy",
        True,
        pod(labels=medium),
        netpol({"matchLabels": medium}, policyTypes=["Egress"], **rules),
    )
    add(
        "missingNetworkPolicy",
        True,
        pod(labels=medium),
        netpol({"matchLabels": {"security": "high"}}, policyTypes=["Egress", "Ingress"], **rules),
    )
    add(
        "missingNetworkPolicy",
        True,
        pod(labels=medium),
        netpol({"matchLabels": medium}, policyTypes=["Egress", "Ingress"], ingress=rules["ingress"]),
        deviation="policyTypes Egress without egress rules denies all egress: the pod is isolated, which is the "
        "point of the check",
    )
    add(
        "missingNetworkPolicy",
        True,
        pod(labels=medium),
        netpol({"matchLabels": medium}, policyTypes=["Egress", "Ingress"], egress=rules["egress"]),
        deviation="policyTypes Ingress without ingress rules denies all ingress: the pod is isolated",
    )
    add("missingNetworkPolicy", True, pod(labels=medium))
    # RBAC: roles that allow exec/attach, bindings to them, bindings to cluster-admin equivalents.
    exec_fail = [
        rule(["*"], ["*"], ["*"]),
        rule([""], ["pods/attach"], ["create"]),
        rule([""], ["pods/attach"], ["*"]),
        rule([""], ["*"], ["create"]),
        rule(["*"], ["pods/attach"], ["create"]),
        rule(["*"], ["pods/exec"], ["create"]),
        rule([""], ["pods/exec"], ["create"]),
        rule([""], ["pods/exec"], ["*"]),
        rule([""], ["*"], ["get"]),
        rule(["*"], ["pods/attach"], ["get"]),
        rule(["*"], ["pods/exec"], ["get"]),
    ]
    exec_pass = [
        rule([""], ["pods"], ["get", "create"]),
        rule([""], ["pods/attach"], ["list"]),
        rule([""], ["pods/exec"], ["list"]),
    ]
    for r in exec_fail:
        add("clusterrolePodExecAttach", True, role([r]))
        add("rolePodExecAttach", True, role([r], kind="Role"))
        add("clusterrolebindingPodExecAttach", True, role([r]), binding("test"), subject=("ClusterRoleBinding", "test"))
        add(
            "rolebindingClusterRolePodExecAttach",
            True,
            role([r]),
            binding("test", kind="RoleBinding"),
            subject=("RoleBinding", "test"),
        )
        add(
            "rolebindingRolePodExecAttach",
            True,
            role([r], kind="Role"),
            binding("test", "Role", "RoleBinding"),
            subject=("RoleBinding", "test"),
        )
    for r in exec_pass:
        add("clusterrolePodExecAttach", False, role([r]))
        add("rolePodExecAttach", False, role([r], kind="Role"))
        add(
            "clusterrolebindingPodExecAttach", False, role([r]), binding("test"), subject=("ClusterRoleBinding", "test")
        )
        add(
            "rolebindingClusterRolePodExecAttach",
            False,
            role([r]),
            binding("test", kind="RoleBinding"),
            subject=("RoleBinding", "test"),
        )
        add(
            "rolebindingRolePodExecAttach",
            False,
            role([r], kind="Role"),
            binding("test", "Role", "RoleBinding"),
            subject=("RoleBinding", "test"),
        )
    everything = rule(["*"], ["*"], ["*"])
    for name in ("admin", "cluster-admin", "edit", "system:aggregate-to-edit", "gce:podsecuritypolicy:calico-sa"):
        add("clusterrolePodExecAttach", False, role([everything], name=name), note="default roles are exempt")
    add("rolePodExecAttach", False, role([everything], name="system:controller", kind="Role"))
    for kind, check in (
        ("ClusterRoleBinding", "clusterrolebindingPodExecAttach"),
        ("RoleBinding", "rolebindingClusterRolePodExecAttach"),
    ):
        add(check, True, binding("does-not-exist", kind=kind), subject=(kind, "test"), note="the role does not exist")
        add(
            check,
            True,
            role([everything], name="system:test"),
            binding("system:test", kind=kind, name="test-binding"),
            subject=(kind, "test-binding"),
            note="a user binding to a system: role is not exempt",
        )
        add(
            check,
            False,
            role([everything]),
            binding("test", kind=kind, name="system:test"),
            subject=(kind, "system:test"),
        )
        add(
            check,
            False,
            role([everything]),
            binding("test", kind=kind, name="gce:podsecuritypolicy:calico-sa"),
            subject=(kind, "gce:podsecuritypolicy:calico-sa"),
        )
    add(
        "clusterrolebindingPodExecAttach",
        False,
        binding("cluster-admin", name="cluster-admin"),
        subject=("ClusterRoleBinding", "cluster-admin"),
        note="the default cluster-admin binding",
    )
    add(
        "rolebindingRolePodExecAttach", True, binding("missing", "Role", "RoleBinding"), subject=("RoleBinding", "test")
    )
    # cluster-admin equivalents
    admin_fail = [
        rule(["*"], ["*"], ["*"]),
        rule(["*"], ["*"], ["get", "list", "watch", "create", "update", "patch", "delete"]),
        rule(["*"], ["*"], ["get", "list", "delete", "update", "create", "patch", "watch"]),
    ]
    admin_pass = [
        rule([""], ["deployments"], ["get", "list"]),
        rule(["*"], ["pods"], ["*"]),
        rule(["*"], ["*"], ["get", "list"]),
    ]
    for r in admin_fail:
        add("clusterrolebindingClusterAdmin", True, role([r]), binding("test"), subject=("ClusterRoleBinding", "test"))
        add(
            "rolebindingClusterAdminClusterRole",
            True,
            role([r]),
            binding("test", kind="RoleBinding"),
            subject=("RoleBinding", "test"),
        )
        add(
            "rolebindingClusterAdminRole",
            True,
            role([r], kind="Role"),
            binding("test", "Role", "RoleBinding"),
            subject=("RoleBinding", "test"),
        )
    for r in admin_pass:
        add("clusterrolebindingClusterAdmin", False, role([r]), binding("test"), subject=("ClusterRoleBinding", "test"))
        add(
            "rolebindingClusterAdminClusterRole",
            False,
            role([r]),
            binding("test", kind="RoleBinding"),
            subject=("RoleBinding", "test"),
        )
        add(
            "rolebindingClusterAdminRole",
            False,
            role([r], kind="Role"),
            binding("test", "Role", "RoleBinding"),
            subject=("RoleBinding", "test"),
        )
    add(
        "clusterrolebindingClusterAdmin",
        True,
        binding("cluster-admin"),
        role([rule([""], ["deployments"], ["get"])], name="cluster-admin"),
        subject=("ClusterRoleBinding", "test"),
        note="the default cluster-admin ClusterRole, whatever git defines under its name",
    )
    add(
        "rolebindingClusterAdminClusterRole",
        True,
        binding("cluster-admin", kind="RoleBinding"),
        subject=("RoleBinding", "test"),
    )
    add(
        "clusterrolebindingClusterAdmin",
        True,
        role([everything], name="system:test"),
        binding("system:test", name="user-binding"),
        subject=("ClusterRoleBinding", "user-binding"),
    )
    add(
        "clusterrolebindingClusterAdmin",
        False,
        role([everything]),
        binding("test", name="system:test"),
        subject=("ClusterRoleBinding", "system:test"),
    )
    add(
        "clusterrolebindingClusterAdmin",
        False,
        role([everything]),
        binding("test", name="gce:podsecuritypolicy:calico-sa"),
        subject=("ClusterRoleBinding", "gce:podsecuritypolicy:calico-sa"),
    )
    add("clusterrolebindingClusterAdmin", False, binding("view"), subject=("ClusterRoleBinding", "test"))
    add(
        "clusterrolebindingClusterAdmin",
        False,
        role([rule([""], ["*"], ["*"])]),
        binding("test"),
        subject=("ClusterRoleBinding", "test"),
        deviation="every verb on every core resource (Secrets, Pods, ServiceAccount tokens) is enough to become "
        "cluster-admin; Kubescape counts it too (C-0035)",
    )
    add(
        "rolebindingClusterAdminRole",
        False,
        role([everything], kind="Role"),
        binding("test", "Role", "RoleBinding", name="system:test"),
        subject=("RoleBinding", "system:test"),
    )
    return c


def _kubescape() -> list[Case]:
    K = "kubescape"
    c: list[Case] = []

    def add(check: str, fails: bool, *docs: dict[str, Any], **kw: Any) -> None:
        c.append(Case(K, check, fails, list(docs), **kw))

    def rbac_cases(check: str, passing: list[dict[str, Any]], failing: list[dict[str, Any]], **kw: Any) -> None:
        # The control's three scenarios: ClusterRole + ClusterRoleBinding, ClusterRole + RoleBinding,
        # Role + RoleBinding.
        for fails, rs in ((True, failing), (False, passing)):
            for r in rs:
                add(check, fails, role([r]), binding("test"), subject=("ClusterRoleBinding", "test"), **kw)
                add(check, fails, role([r]), binding("test", kind="RoleBinding"), subject=("RoleBinding", "test"), **kw)
                add(
                    check,
                    fails,
                    role([r], kind="Role"),
                    binding("test", "Role", "RoleBinding"),
                    subject=("RoleBinding", "test"),
                    **kw,
                )

    rbac_cases(
        "C-0035",
        [rule(["*"], ["pods"], ["*"]), rule(["*"], ["*"], ["get", "list"])],
        [rule(["*"], ["*"], ["*"]), rule([""], ["*"], ["*"])],
    )
    add("C-0035", True, binding("cluster-admin"), subject=("ClusterRoleBinding", "test"))
    add(
        "C-0035",
        False,
        binding("cluster-admin", subjects=[{"apiGroup": RBAC, "kind": "Group", "name": "system:masters"}]),
        subject=("ClusterRoleBinding", "test"),
        note="system:masters is in Kubescape's default exceptions",
    )
    add("C-0185", True, binding("cluster-admin"), subject=("ClusterRoleBinding", "test"))
    add("C-0185", False, binding("view"), subject=("ClusterRoleBinding", "test"))
    add(
        "C-0185",
        False,
        binding("cluster-admin", kind="RoleBinding"),
        subject=("RoleBinding", "test"),
        deviation="a RoleBinding to cluster-admin still uses the role (full control of the namespace); CIS 5.1.1 "
        "asks to limit every use",
    )
    rbac_cases(
        "C-0002",
        [rule([""], ["pods/log"], ["get"]), rule(["apps"], ["pods/exec"], ["create"])],
        [rule([""], ["pods/exec"], ["create"]), rule([""], ["pods/*"], ["create"]), rule(["*"], ["*"], ["*"])],
    )
    add(
        "C-0002",
        False,
        role([rule([""], ["pods/exec"], ["get"])], kind="Role"),
        binding("test", "Role", "RoleBinding"),
        subject=("RoleBinding", "test"),
        deviation="the API server authorizes exec over WebSocket as `get`, so get on pods/exec is exec "
        "(Polaris agrees)",
    )
    rbac_cases(
        "C-0063",
        [rule([""], ["pods"], ["create"]), rule([""], ["pods/portforward"], ["list"])],
        [rule([""], ["pods/portforward"], ["create"]), rule([""], ["pods/*"], ["*"]), rule(["*"], ["*"], ["create"])],
    )
    rbac_cases(
        "C-0015",
        [rule([""], ["configmaps"], ["get", "list"]), rule(["apps"], ["deployments"], ["*"])],
        [rule([""], ["secrets"], ["list"]), rule([""], ["secrets"], ["watch"]), rule(["*"], ["*"], ["get"])],
    )
    add(
        "C-0015",
        True,
        role([rule([""], ["secrets"], ["get"], resourceNames=["tls"])], kind="Role"),
        binding("test", "Role", "RoleBinding"),
        subject=("RoleBinding", "test"),
        deviation="resourceNames limits the rule to the named Secrets, CIS 5.1.2's own remediation",
    )
    rbac_cases(
        "C-0007",
        [rule([""], ["configmaps"], ["delete"]), rule(["apps"], ["deployments"], ["get", "list"])],
        [
            rule(["apps"], ["deployments"], ["delete"]),
            rule([""], ["pods"], ["deletecollection"]),
            rule(["batch"], ["*"], ["*"]),
            rule([""], ["secrets"], ["*"]),
        ],
    )
    rbac_cases(
        "C-0031",
        [rule([""], ["events"], ["get", "list", "watch"])],
        [rule([""], ["events"], ["delete"]), rule([""], ["events"], ["deletecollection"]), rule(["*"], ["*"], ["*"])],
    )
    rbac_cases(
        "C-0065",
        [rule(["apps"], ["deployments"], ["*"]), rule([""], ["users"], ["get"])],
        [
            rule([""], ["users"], ["impersonate"]),
            rule([""], ["serviceaccounts"], ["*"]),
            rule([""], ["groups"], ["impersonate"]),
        ],
    )
    rbac_cases(
        "C-0191",
        [rule([RBAC], ["roles"], ["get", "list"]), rule([""], ["pods"], ["*"])],
        [rule([RBAC], ["clusterroles"], ["bind"]), rule([RBAC], ["roles"], ["escalate"]), rule([RBAC], ["*"], ["*"])],
    )
    rbac_cases(
        "C-0188",
        [rule([""], ["pods"], ["get", "list"]), rule(["apps"], ["deployments"], ["create"])],
        [rule([""], ["pods"], ["create"]), rule([""], ["*"], ["*"])],
    )
    # Workloads whose ServiceAccount is bound to administrative / takeover roles (token mounted).
    wl = pod(name="test-pd", automountServiceAccountToken=True)
    add(
        "C-0272",
        True,
        wl,
        service_account("default"),
        role([rule(["*"], ["*"], ["*"])]),
        binding("test", subjects=[sa_subject()]),
        subject=("Pod", "test-pd"),
    )
    add(
        "C-0272",
        True,
        pod(name="test-pd"),
        service_account("default", True),
        role([rule([""], ["*"], ["*"])]),
        binding("test", subjects=[sa_subject()]),
        subject=("Pod", "test-pd"),
    )
    add(
        "C-0272",
        False,
        wl,
        service_account("default"),
        role([rule([""], ["pods"], ["get"])]),
        binding("test", subjects=[sa_subject()]),
        subject=("Pod", "test-pd"),
    )
    add(
        "C-0272",
        False,
        pod(name="test-pd", automountServiceAccountToken=False),
        service_account("default"),
        role([rule(["*"], ["*"], ["*"])]),
        binding("test", subjects=[sa_subject()]),
        subject=("Pod", "test-pd"),
    )
    add(
        "C-0272",
        False,
        wl,
        service_account("default", True),
        role([rule([""], ["*"], ["*"])]),
        binding("test", kind="RoleBinding", ns="kube-system"),
        subject=("Pod", "test-pd"),
        note="bound to a user, not the pod's account",
    )
    add(
        "C-0267",
        True,
        wl,
        service_account("default"),
        role([rule([""], ["pods"], ["create"])]),
        binding("test", subjects=[sa_subject()]),
        subject=("Pod", "test-pd"),
    )
    add(
        "C-0267",
        True,
        wl,
        service_account("default"),
        role([rule([""], ["secrets"], ["get"])]),
        binding("test", subjects=[sa_subject()]),
        subject=("Pod", "test-pd"),
    )
    add(
        "C-0267",
        False,
        wl,
        service_account("default"),
        role([rule([""], ["configmaps"], ["get"])]),
        binding("test", subjects=[sa_subject()]),
        subject=("Pod", "test-pd"),
    )
    add(
        "C-0267",
        False,
        pod(name="test-pd", automountServiceAccountToken=False),
        service_account("default"),
        role([rule([""], ["pods"], ["create"])]),
        binding("test", subjects=[sa_subject()]),
        subject=("Pod", "test-pd"),
    )
    add(
        "C-0267",
        False,
        wl,
        service_account("default", True),
        role([rule([""], ["secrets"], ["get"])]),
        binding("test", kind="RoleBinding", ns="kube-system"),
        subject=("Pod", "test-pd"),
    )
    # Token mounting, network policies, bare pods.
    add("C-0034", True, pod(serviceAccountName="test"), service_account("test"))
    add(
        "C-0034",
        True,
        pod(automountServiceAccountToken=True, serviceAccountName="test"),
        service_account("test", False),
    )
    add("C-0034", True, deployment(), note="no ServiceAccount in the input: Kubernetes mounts by default")
    add("C-0034", False, pod(serviceAccountName="test"), service_account("test", False))
    add("C-0034", False, deployment(automountServiceAccountToken=False))
    add("C-0260", True, deployment())
    add("C-0260", False, deployment(labels={"app": "web"}), netpol({"matchLabels": {"app": "web"}}))
    add("C-0260", False, deployment(), netpol({}), note="an empty podSelector selects every pod of the namespace")
    add("C-0260", True, deployment(labels={"app": "web"}), netpol({"matchLabels": {"app": "api"}}))
    add("C-0073", True, pod())
    add(
        "C-0073",
        False,
        pod(meta={"ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "1"}]}),
    )
    return c


CASES: list[Case] = _polaris() + _kubescape()
