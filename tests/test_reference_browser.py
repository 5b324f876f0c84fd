"""The chat page in a real browser (headless Chromium through Playwright).

This is the only test that runs the page's JavaScript: it proves the page finds the server on
its own host, shows replies as text, clears the input and notices the close.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
TIMEOUT_MS = 10_000

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def chromium_path() -> Path:
    """Chromium's path; missing it skips locally but fails in CI, where it must be there."""
    if not CHROMIUM.exists():
        message = (f"Chromium not found at {CHROMIUM}: install it with "
                   "`sudo apt-get install chromium`")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture
def page(chromium_path: Path) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium_path), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(viewport={"width": 900, "height": 640})
            context.set_default_timeout(TIMEOUT_MS)
            yield context.new_page()
        finally:
            browser.close()


def test_chat_page_in_a_browser(reference_server: LiveServer, page: object) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    dialogs: list[str] = []

    def record_dialog(dialog: object) -> None:
        dialogs.append(getattr(dialog, "message", "?"))
        dialog.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", record_dialog)
    page.goto(reference_server.http("/"))

    status = page.locator("#status")
    text = page.locator("#messageText")
    send = page.locator("#send")
    items = page.locator("#messages li")
    expect(status).to_have_text("Connected")

    text.fill("Hello, 世界 👋")
    send.click()
    expect(items).to_have_text(["接收到的消息是:Hello, 世界 👋"])
    expect(text).to_have_value("")  # every send clears the input

    text.fill(XSS)
    text.press("Enter")  # the form submits on Enter as well
    expect(items.nth(1)).to_have_text("接收到的消息是:" + XSS)
    expect(page.locator("#messages img")).to_have_count(0)  # text, not markup
    page.wait_for_timeout(300)  # an onerror handler would fire within this
    assert dialogs == []

    text.fill("bye")
    send.click()
    expect(items).to_have_text([
        "接收到的消息是:Hello, 世界 👋",
        "接收到的消息是:" + XSS,
        "请注意:窗口即将关闭",
        "窗口已关闭",
    ])
    expect(status).to_have_text("Connection closed (code 1000)")
    expect(text).to_be_disabled()
    expect(send).to_be_disabled()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "reference-chat.png"), full_page=True)
    assert dialogs == []
