"""Open a report page in headless Chromium (playwright) and judge it: shared by the report tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        p = shutil.which(name)
        if p:
            return p
    return None


def open_in_chromium(page: Path, screenshot: Path) -> dict:
    """Load the page in headless Chromium (playwright): console errors, both videos played, plots shown."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright to drive the browser")
    exe = chromium_path()
    if exe is None:
        pytest.skip("no Chromium: apt-get install chromium (.ci/run does when it can)")
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        # every wait bounded (launch, load, clicks, screenshot): a browser that stalls fails the
        # test instead of holding the run (pytest-timeout bounds the rest, pyproject.toml)
        browser = pw.chromium.launch(executable_path=exe, args=["--no-sandbox"], timeout=60_000)
        try:
            pg = browser.new_page(viewport={"width": 1400, "height": 1600})
            pg.set_default_timeout(30_000)
            pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            pg.on("pageerror", lambda e: errors.append(str(e)))
            # media elements abort their own range requests as they buffer (net::ERR_ABORTED): not an error
            pg.on("requestfailed", lambda r: None if (r.resource_type == "media" and "ABORTED" in (r.failure or ""))
                  else errors.append(f"request failed: {r.url} ({r.failure})"))
            pg.goto(page.resolve().as_uri())
            pg.wait_for_function("['before','after'].every(id => document.getElementById(id).readyState >= 2)",
                                 timeout=30000)
            pg.click("#play")
            pg.wait_for_function("before.currentTime > 0.5 && after.currentTime > 0.5", timeout=30000)
            state = pg.evaluate("""() => ({
                times: [before.currentTime, after.currentTime],
                playing: [!before.paused, !after.paused],
                sizes: [before.videoWidth, after.videoWidth],
                plots: Array.from(document.querySelectorAll('.plot img')).filter(
                    i => i.complete && i.naturalWidth > 100 && i.getBoundingClientRect().height > 50).length,
                metrics: document.querySelectorAll('#metrics tr').length,
            })""")
            pg.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    state["errors"] = errors
    return state


def check_page(state: dict, screenshot: Path) -> None:
    assert state["errors"] == [], state["errors"]
    assert all(state["playing"]) and min(state["times"]) > 0.5, state
    assert abs(state["times"][0] - state["times"][1]) < 0.15, state  # one player: the two stay in step
    assert min(state["sizes"]) > 0, state
    assert state["plots"] >= 5, state
    assert screenshot.stat().st_size > 50_000
