"""``python -m auditor`` entry point."""

from __future__ import annotations

import sys

from auditor.cli import main

if __name__ == "__main__":
    sys.exit(main())
