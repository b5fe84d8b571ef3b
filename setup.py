"""Packaging shim: ships the top-level ``policies/`` pack inside the package (metadata is in pyproject.toml).

The built-in Rego pack lives at the repository root in conftest's layout, where users and
``conftest -p policies`` expect it; installed copies find it as ``auditor.policy._builtin_policies``.
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=[*find_namespace_packages(include=["auditor", "auditor.*"]), "auditor.policy._builtin_policies"],
    package_dir={"auditor.policy._builtin_policies": "policies"},
)
