"""Desired state: kustomize and helm rendering, and the Flux and Argo CD target sources beside them."""
