"""Git provenance and change control: file history index, field blame, CODEOWNERS, approvals."""
