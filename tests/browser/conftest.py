"""Browser fixtures: the session's test app served by werkzeug on a free loopback port, Debian's Chromium driven
headless by Playwright's sync API, one signed-in browser context per user, and a screenshot of every
scenario's final page under ``$CMSFLOW_ARTIFACTS_DIR/screenshots/<test>.png`` (default ``test-artifacts``).

Chromium missing: the tests skip with the reason on a developer's machine and fail when ``CI=true``, so CI
cannot pass without running them. Nothing is downloaded (no ``playwright install``): the browser is the one
apt installs at ``/usr/bin/chromium`` (``CMSFLOW_CHROMIUM`` names another binary).
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import PASSWORD

CHROMIUM = os.environ.get("CMSFLOW_CHROMIUM", "/usr/bin/chromium")
TIMEOUT_MS = 10_000  # one step (navigation, click, expectation); a scenario takes a few seconds in all


def _unavailable(reason: str, module: bool = False) -> None:
    """Skip on a developer's machine, fail in CI (``CI=true``): CI must not pass without the browser tests."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=module)


def playwright_api():
    """``playwright.sync_api`` for a test module to import at collection; without the package the module is
    skipped, or fails in CI."""
    try:
        import playwright.sync_api
    except ImportError:
        _unavailable("the Python package playwright is not installed (pip install -e '.[test]')", module=True)
    return playwright.sync_api


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium (Debian's package) for the module; closed at the end."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set CMSFLOW_CHROMIUM)")
    pw = playwright_api().sync_playwright().start()
    try:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
    except Exception as exc:  # a broken install: same rule as a missing one
        pw.stop()
        _unavailable(f"Chromium at {CHROMIUM} does not start: {exc}")
    yield chromium
    chromium.close()
    pw.stop()


@pytest.fixture(scope="module")
def live_server(app):
    """The session's app (SQLite or PostgreSQL) served on 127.0.0.1:<free port> in a thread; yields the base URL.

    CSRF protection stays on: the browser posts the real forms with their tokens."""
    assert app.config.get("WTF_CSRF_ENABLED", True), "the browser tests post real forms: CSRF must stay on"
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="cmsflow-live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def _artifacts_dir(config) -> Path:
    base = Path(os.environ.get("CMSFLOW_ARTIFACTS_DIR", "test-artifacts"))
    if not base.is_absolute():
        base = config.rootpath / base
    return base / "screenshots"


class Browse:
    """Browser contexts for one test: ``sign_in(username)`` gives a page of a user signed in through the login
    form; the page used last is screenshot when the test ends (passed or failed)."""

    def __init__(self, browser, base_url: str):
        self.browser, self.base_url = browser, base_url
        self.contexts: list = []
        self.last = None

    def page(self, path: str = "/login"):
        """A fresh context (own cookies, Chinese browser locale) at ``path``; returns the Playwright page."""
        context = self.browser.new_context(base_url=self.base_url, locale="zh-CN",
                                           viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        page = context.new_page()
        page.goto(path)
        self.last = page
        return page

    def sign_in(self, username: str, password: str = PASSWORD):
        """Sign in through the login form; returns the page on the home dashboard."""
        page = self.page("/login")
        page.get_by_label("用户名").fill(username)
        page.get_by_label("密码").fill(password)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url(f"{self.base_url}/")
        return page

    def final(self, page) -> None:
        """Screenshot ``page`` at the end instead of the page opened last (a test that switches users)."""
        self.last = page

    def close(self, shot: Path | None) -> None:
        """Save the final page as PNG at ``shot`` (the folder is made), then close every context."""
        try:
            if shot is not None and self.last is not None and not self.last.is_closed():
                shot.parent.mkdir(parents=True, exist_ok=True)
                self.last.screenshot(path=str(shot), full_page=True)
        finally:
            for context in self.contexts:
                context.close()


@pytest.fixture
def browse(request, browser, live_server, org):
    """A ``Browse`` for this test (the ``org`` fixture's departments and users exist); screenshot at the end."""
    b = Browse(browser, live_server)
    yield b
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    b.close(_artifacts_dir(request.config) / f"{name}.png")
