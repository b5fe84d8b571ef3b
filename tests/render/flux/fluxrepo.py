"""Files of a Flux-layout fleet repository for tests (clusters/, apps/, infrastructure/, charts/).

Layout (what each part exercises):
- ``clusters/<env>/flux-system/``: bootstrap (GitRepository + self-referencing Kustomization, with a
  kustomization.yaml as ``flux bootstrap`` writes it);
- ``clusters/<env>/*.yaml`` without kustomization.yaml: Flux generates one (all YAML files);
- ``infrastructure/controllers`` (HelmReleases: local chart in ``charts/podinfo`` via the flux-system
  GitRepository, remote chart via a HelmRepository) and ``infrastructure/configs`` (no kustomization,
  nested directory) with ``dependsOn`` controllers;
- ``apps/base`` + ``apps/<env>`` overlays; the Flux Kustomization adds targetNamespace, namePrefix,
  patches, images, components, commonMetadata and postBuild substitution (with defaults and
  substituteFrom a ConfigMap rendered from git);
- ``apps/extras`` applied by a nested Kustomization; ``apps/legacy`` applied by a suspended one.
"""

from __future__ import annotations

GOTK_SYNC = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m0s
  ref:
    branch: main
  url: ssh://git@github.com/example/fleet
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 10m0s
  path: ./clusters/{env}
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
"""

FLUX_SYSTEM_KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - gotk-components.yaml
  - gotk-sync.yaml
"""

GOTK_COMPONENTS = """\
apiVersion: v1
kind: Namespace
metadata:
  name: flux-system
"""

INFRA = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: infra-controllers
  namespace: flux-system
  labels:
    gitops-audit.io/region: {region}
spec:
  interval: 1h
  path: ./infrastructure/controllers
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: infra-configs
  namespace: flux-system
spec:
  dependsOn:
    - name: infra-controllers
  interval: 1h
  path: ./infrastructure/configs
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
"""

APPS = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  dependsOn:
    - name: infra-configs
  interval: 10m
  path: ./apps/{env}
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  targetNamespace: shop
  namePrefix: {prefix}
  commonMetadata:
    labels:
      team: shop
    annotations:
      owner: shop-team
  images:
    - name: ghcr.io/example/web
      newTag: "{tag}"
  components:
    - ../components/monitoring
  patches:
    - target:
        kind: Deployment
        name: web
      patch: |
        - op: add
          path: /spec/template/spec/containers/0/env
          value:
            - name: FLUX_PATCHED
              value: "yes"
  postBuild:
    substitute:
      cluster_env: {env}
    substituteFrom:
      - kind: ConfigMap
        name: cluster-vars
      - kind: Secret
        name: optional-vars
        optional: true
"""

EXTRAS_AND_LEGACY = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: legacy
  namespace: flux-system
spec:
  suspend: true
  interval: 10m
  path: ./apps/legacy
  prune: false
  sourceRef:
    kind: GitRepository
    name: flux-system
"""

CLUSTER_VARS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cluster-vars
  namespace: flux-system
data:
  replicas: "{replicas}"
  domain: {env}.example.com
"""

SCRIPT = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: script
  annotations:
    kustomize.toolkit.fluxcd.io/substitute: disabled
data:
  run.sh: echo ${HOME}
"""

BASE = {
    "apps/base/kustomization.yaml": """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
  - service.yaml
  - ingress.yaml
""",
    "apps/base/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: ${replicas:=1}
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: ghcr.io/example/web:1.0.0
          args: ["--env=${cluster_env}", "--region=${region:=global}", "--literal=$${HOME}", "$PATH"]
""",
    "apps/base/service.yaml": """\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
    - port: 80
""",
    "apps/base/ingress.yaml": """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
spec:
  rules:
    - host: shop.${domain}
""",
    "apps/components/monitoring/kustomization.yaml": """\
apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
resources:
  - servicemonitor.yaml
""",
    "apps/components/monitoring/servicemonitor.yaml": """\
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: web
spec:
  selector:
    matchLabels:
      app: web
""",
    "apps/extras/worker.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker
  namespace: shop
  annotations:
    kustomize.toolkit.fluxcd.io/ssa: IfNotPresent
spec:
  selector:
    matchLabels:
      app: worker
  template:
    metadata:
      labels:
        app: worker
    spec:
      containers:
        - name: worker
          image: ghcr.io/example/worker:2.0.0
""",
    "apps/legacy/old.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: legacy
  namespace: shop
data:
  a: b
""",
    "infrastructure/controllers/kustomization.yaml": """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - namespace.yaml
  - podinfo.yaml
  - ingress-nginx.yaml
""",
    "infrastructure/controllers/namespace.yaml": """\
apiVersion: v1
kind: Namespace
metadata:
  name: infra
""",
    "infrastructure/controllers/podinfo.yaml": """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  namespace: infra
spec:
  interval: 1h
  chart:
    spec:
      chart: ./charts/podinfo
      sourceRef:
        kind: GitRepository
        name: flux-system
        namespace: flux-system
  valuesFrom:
    - kind: ConfigMap
      name: podinfo-values
  values:
    replicaCount: 2
""",
    "infrastructure/controllers/ingress-nginx.yaml": """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: ingress-nginx
  namespace: infra
spec:
  interval: 24h
  url: https://kubernetes.github.io/ingress-nginx
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: ingress-nginx
  namespace: infra
spec:
  interval: 1h
  chart:
    spec:
      chart: ingress-nginx
      version: "4.11.3"
      sourceRef:
        kind: HelmRepository
        name: ingress-nginx
""",
    "infrastructure/configs/values.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: podinfo-values
  namespace: infra
data:
  values.yaml: |
    message: from-git
    replicaCount: 5
""",
    "infrastructure/configs/nested/quota.yaml": """\
apiVersion: v1
kind: ResourceQuota
metadata:
  name: infra-quota
  namespace: infra
spec:
  hard:
    pods: "50"
""",
    "infrastructure/configs/README.txt": "not yaml\n",
    "charts/podinfo/Chart.yaml": """\
apiVersion: v2
name: podinfo
version: 6.5.0
""",
    "charts/podinfo/values.yaml": """\
replicaCount: 1
message: default
""",
    "charts/podinfo/templates/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      app: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app: {{ .Release.Name }}
    spec:
      containers:
        - name: podinfo
          image: ghcr.io/stefanprodan/podinfo:6.5.0
          env:
            - name: MESSAGE
              value: {{ .Values.message | quote }}
""",
    "charts/podinfo/templates/test-hook.yaml": """\
apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-test
  annotations:
    helm.sh/hook: test
spec:
  containers:
    - name: t
      image: busybox
""",
}


def overlay(env: str, replicas: int) -> dict[str, str]:
    """``apps/<env>``: the base plus an env patch."""
    return {
        f"apps/{env}/kustomization.yaml": """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../base
  - script.yaml
  - nested.yaml
patches:
  - path: replicas.yaml
""",
        f"apps/{env}/replicas.yaml": f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    env: {env}
spec:
  template:
    metadata:
      annotations:
        min-replicas: "{replicas}"
""",
        f"apps/{env}/script.yaml": SCRIPT,
        f"apps/{env}/nested.yaml": """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: extras
  namespace: flux-system
spec:
  interval: 10m
  path: ./apps/extras
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
    namespace: flux-system
""",
    }


def cluster(env: str, *, region: str, replicas: int, prefix: str, tag: str) -> dict[str, str]:
    """``clusters/<env>``: bootstrap files plus infrastructure/apps Kustomizations (no kustomization.yaml)."""
    d = f"clusters/{env}"
    files = {
        f"{d}/flux-system/gotk-components.yaml": GOTK_COMPONENTS,
        f"{d}/flux-system/gotk-sync.yaml": GOTK_SYNC.format(env=env),
        f"{d}/flux-system/kustomization.yaml": FLUX_SYSTEM_KUSTOMIZATION,
        f"{d}/infrastructure.yaml": INFRA.format(region=region),
        f"{d}/apps.yaml": APPS.format(env=env, prefix=prefix, tag=tag),
        f"{d}/vars/cluster-vars.yaml": CLUSTER_VARS.format(env=env, replicas=replicas),
    }
    if env == "production":
        files[f"{d}/legacy.yaml"] = EXTRAS_AND_LEGACY
    return files


def fleet_files() -> dict[str, str]:
    """The whole repository."""
    files = dict(BASE)
    files.update(overlay("production", 3))
    files.update(overlay("staging", 1))
    files.update(cluster("production", region="us-east", replicas=3, prefix="prod-", tag="1.2.3"))
    files.update(cluster("staging", region="eu-west", replicas=1, prefix="stg-", tag="1.3.0-rc1"))
    return files
