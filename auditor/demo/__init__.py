"""The bundled demo fleet: a git repository with history, overlays and drifted cluster snapshots."""
