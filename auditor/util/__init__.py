"""Small helpers shared by every stage (process runner, safe YAML, atomic files)."""
