"""Finding and driving a real Chromium for the HTML report tests (Playwright with the system browser).

The browser is looked up as ``$CHROME`` or ``$GITOPS_AUDIT_CHROMIUM`` (a path or a name on PATH), else
``chromium``, ``chromium-browser``, ``google-chrome`` or ``google-chrome-stable`` on PATH. Playwright's
own browser download (``playwright install``) is never used.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def find_chromium(env: dict[str, str] | None = None) -> str:
    """Path of the browser to drive, or ``""`` when none is found."""
    env = dict(os.environ) if env is None else env
    path = env.get("PATH", os.defpath)
    for var in ("CHROME", "GITOPS_AUDIT_CHROMIUM"):
        given = env.get(var, "")
        if given:
            if Path(given).is_file():
                return given
            return shutil.which(given, path=path) or ""
    for name in CANDIDATES:
        found = shutil.which(name, path=path)
        if found:
            return found
    return ""


def missing() -> str:
    """Why the browser tests cannot run here (empty when they can)."""
    if not find_chromium():
        return "no Chromium: none of " + ", ".join(CANDIDATES) + " on PATH and $CHROME unset"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (Python package) not installed: pip install -e '.[test]'"
    return ""


class Watched:
    """A page plus every console error, page error and network request it made."""

    def __init__(self, browser: Any, allowed_prefix: str, **context: Any) -> None:
        self.context = browser.new_context(accept_downloads=True, **context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.allowed_prefix = allowed_prefix
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def open(self, url: str) -> Any:
        self.page.goto(url)
        self.page.wait_for_selector("html[data-ready='1']")
        return self.page

    def foreign_requests(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(self.allowed_prefix) and not u.startswith("data:")]

    def close(self) -> None:
        self.context.close()
