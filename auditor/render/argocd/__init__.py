"""Argo CD target source: Applications and ApplicationSets rendered like Argo CD's repo-server."""
