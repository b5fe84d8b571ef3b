"""Flux target source: cluster discovery and rendering like kustomize-controller and helm-controller."""
