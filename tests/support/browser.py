"""Browser tests: Debian's Chromium for Playwright, and axe-core's accessibility checks."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import axe_playwright_python
from playwright.sync_api import Page

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
AXE = Path(axe_playwright_python.__file__).parent / "axe.min.js"
"""axe-core itself (the package ships it), run in the page as Deque documents."""
AXE_RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def chromium() -> str:
    """Debian's Chromium (scripts/bootstrap.sh installs it); Playwright's own download is never
    used."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise RuntimeError(
            "chromium is not installed: run make install (as root) or apt-get install chromium"
        )
    return found


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations of WCAG 2.1 A and AA and its best practices on the page as it is:
    each as its rule, impact and the elements that break it."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})",
        AXE_RULES,
    )
    assert result["passes"], "axe-core checked nothing: the page is empty or axe did not run"
    return [
        {"rule": v["id"], "impact": v["impact"], "help": v["help"],
         "nodes": [n["html"][:200] for n in v["nodes"]]}
        for v in result["violations"]
    ]  # fmt: skip
