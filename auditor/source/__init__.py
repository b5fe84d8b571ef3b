"""Source stage: git access, rendering (kustomize/flux/helm), provenance, CODEOWNERS."""
