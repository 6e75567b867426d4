"""Chromium through Playwright for the page tests: launched from Debian's `chromium`, or skipped
on a laptop and failed in CI (CI=true) when Playwright or Chromium is missing."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

import pytest

from tests.support.environment import IN_CI
from tests.support.processes import ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT_DIR = ROOT / "test-output"


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright for Python is not installed: pip install playwright")
    executable = shutil.which("chromium")
    if executable is None:
        unavailable("Chromium is not installed: apt-get install -y chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def unavailable(reason: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"{reason} (with CI=true the browser tests must run)", pytrace=False)
    pytest.skip(reason)


def screenshot(page: Page, name: str) -> None:
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOT_DIR / name, full_page=True)


@contextlib.contextmanager
def watched_page(
    context: BrowserContext, base_url: str, *, also: tuple[str, ...] = ()
) -> Iterator[Page]:
    """A page of `context` that may call no host but its own (and the origins `also` names), may
    raise no script error and may meet no refusal of its Content-Security-Policy, checked once
    the block ends (the context is closed first)."""
    opened = context.new_page()
    outside: list[str] = []
    script_errors: list[str] = []
    refused: list[str] = []
    allowed = (base_url, *also)
    opened.on("request", lambda request: _note_outside(request.url, allowed, outside))
    opened.on("pageerror", lambda error: script_errors.append(str(error)))
    opened.on("console", lambda message: _note_refused(message.text, refused))
    try:
        yield opened
    finally:
        context.close()
    assert outside == [], "the page called hosts other than its own"
    assert script_errors == [], "uncaught errors in the page's script"
    assert refused == [], "the page needs what its Content-Security-Policy refuses"


def _note_outside(url: str, allowed: tuple[str, ...], outside: list[str]) -> None:
    if not url.startswith((*allowed, "data:", "blob:")):
        outside.append(url)


def _note_refused(text: str, refused: list[str]) -> None:
    # Chromium reports each refusal on the console: "Refused to ... Content Security Policy ..."
    if "Content Security Policy" in text:
        refused.append(text)
