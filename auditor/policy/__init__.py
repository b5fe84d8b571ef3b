"""Policy stage: conftest-compatible Rego evaluation and waivers."""
