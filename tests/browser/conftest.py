"""Browser tests: Playwright (sync API) driving Debian's Chromium against the app served by
werkzeug in a daemon thread, on the same database as the test session.

The test's own session must commit before the browser acts (`pages` does it when a page is
opened; call `session.commit()` after further setup). Screenshots go to
tests/browser/screenshots/ (gitignored). Without /usr/bin/chromium every test here is skipped
with the reason; CI installs it (apt-get install chromium fonts-wqy-microhei).
"""
from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.factories import PASSWORD
from workflow import clock

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SCREENSHOTS = Path(__file__).parent / "screenshots"
# The school clock of every browser test: a Wednesday in the first term.
NOW = dt.datetime(2026, 10, 14, 10, 0, tzinfo=clock.SCHOOL_TZ)
TODAY = NOW.date()
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def live_server(app):
    """The app on 127.0.0.1:<free port>, served by threads of this process."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium fonts-wqy-microhei")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(autouse=True)
def school_clock(monkeypatch):
    """Every request the browser makes sees the same day (the server runs in this process)."""
    monkeypatch.setattr(clock, "now", lambda: NOW.astimezone(dt.UTC))
    return NOW


@pytest.fixture
def term(world, factory, session):
    t = factory.term(world.center)
    session.commit()
    return t


@pytest.fixture
def pages(browser, live_server, session):
    """pages(viewport=DESKTOP) -> a new Playwright page in its own browser context (own cookies),
    after committing the test's session."""
    contexts = []

    def new_page(viewport=None):
        session.commit()
        ctx = browser.new_context(base_url=live_server, viewport=viewport or DESKTOP, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
        ctx.set_default_timeout(15000)
        contexts.append(ctx)
        return ctx.new_page()

    yield new_page
    for ctx in contexts:
        ctx.close()


def login(page, username: str, password: str = PASSWORD):
    """Sign in through the login form; returns the page on the landing page."""
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    return page


def logout(page):
    with page.expect_navigation():
        page.click("form[data-nav=logout] button[type=submit]")


def shot(page, name: str, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def overflowing(page) -> list[str]:
    """Elements sticking out to the right of the viewport (to say what breaks the layout)."""
    return page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
        .slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""")
