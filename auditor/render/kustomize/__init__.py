"""Render a kustomize overlay with the real kustomize, with file provenance from its build annotations."""
