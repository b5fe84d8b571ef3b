# syntax=docker/dockerfile:1
# gitops-audit container image: the CLI plus pinned kubectl, kustomize and helm.
#
#   docker build -t gitops-audit:dev .
#   docker run --rm --read-only --tmpfs /tmp gitops-audit:dev --help
#
# Runs as a numeric non-root user (65532) with a read-only root filesystem: everything that must be
# written (HOME, caches, temporary render trees) lives under /tmp, which Kubernetes mounts as an
# emptyDir (deploy/cronjob.yaml). Reports go to /reports (a PVC in deploy/).
#
# Tool checksums are for linux/amd64. For another architecture pass TARGETARCH and the three
# *_SHA256 build arguments of that architecture's release files; a mismatch fails the build.
# lint: tests/test_dockerfile.py

ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm

# ---- tools: download and verify the external programs ------------------------------------------
FROM ${PYTHON_IMAGE} AS tools
ARG TARGETARCH=amd64
ARG KUBECTL_VERSION=v1.30.4
ARG KUBECTL_SHA256=2ffd023712bbc1a9390dbd8c0c15201c165a69d394787ef03eda3eccb4b9ac06
ARG KUSTOMIZE_VERSION=v5.4.3
ARG KUSTOMIZE_SHA256=3669470b454d865c8184d6bce78df05e977c9aea31c30df3c669317d43bcc7a7
ARG HELM_VERSION=v3.16.2
ARG HELM_SHA256=9318379b847e333460d33d291d4c088156299a26cd93d570a7f5d0c36e50b5bb
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /tools
RUN curl -fsSLo kubectl "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl" \
    && echo "${KUBECTL_SHA256}  kubectl" | sha256sum -c - \
    && chmod 0755 kubectl
RUN curl -fsSLo kustomize.tar.gz \
       "https://github.com/kubernetes-sigs/kustomize/releases/download/kustomize%2F${KUSTOMIZE_VERSION}/kustomize_${KUSTOMIZE_VERSION}_linux_${TARGETARCH}.tar.gz" \
    && echo "${KUSTOMIZE_SHA256}  kustomize.tar.gz" | sha256sum -c - \
    && tar -xzf kustomize.tar.gz kustomize \
    && rm kustomize.tar.gz \
    && chmod 0755 kustomize
RUN curl -fsSLo helm.tar.gz "https://get.helm.sh/helm-${HELM_VERSION}-linux-${TARGETARCH}.tar.gz" \
    && echo "${HELM_SHA256}  helm.tar.gz" | sha256sum -c - \
    && tar -xzf helm.tar.gz --strip-components=1 "linux-${TARGETARCH}/helm" \
    && rm helm.tar.gz \
    && chmod 0755 helm

# ---- build: install the package into a virtual environment -------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY auditor ./auditor
COPY policies ./policies
RUN /opt/venv/bin/pip install . \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# ---- runtime -----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="gitops-audit" \
      org.opencontainers.image.description="Agentless, read-only GitOps auditor (drift, policy, change control)" \
      org.opencontainers.image.licenses="Apache-2.0"
# git: GitPython and provenance need the git program; nothing else is installed.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git \
    && rm -rf /var/lib/apt/lists/*
COPY --from=tools /tools/kubectl /tools/kustomize /tools/helm /usr/local/bin/
COPY --from=build /opt/venv /opt/venv
# Every writable location is under /tmp (an emptyDir in Kubernetes): the root filesystem stays read-only.
# HOME is /tmp itself because a fresh emptyDir has no subdirectories; tools create their own.
ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    XDG_CONFIG_HOME=/tmp/.config \
    TMPDIR=/tmp \
    HELM_CACHE_HOME=/tmp/.cache/helm \
    HELM_CONFIG_HOME=/tmp/.config/helm \
    HELM_DATA_HOME=/tmp/.local/share/helm \
    GIT_CONFIG_NOSYSTEM=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /reports
USER 65532:65532
ENTRYPOINT ["gitops-audit"]
CMD ["--help"]
