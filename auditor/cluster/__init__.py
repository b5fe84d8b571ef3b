"""Cluster stage: live state from kube API servers or offline snapshots."""
