"""The agent console in a real browser: headless Chromium (Debian's chromium and
chromium-driver) driven by Selenium, against the emulator and a running daemon.

One agent's day: accept the conversation syncd opened, see the published scan's thumbnail
appear by itself, send a PDF back, and find the PDF in the route's inbox.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syncd.emulator.server import RunningEmulator
from syncd.emulator.settings import EmulatorSettings
from syncd.state.model import InboundState
from tests.helpers.harness import running_daemon, write_config
from tests.helpers.images import jpeg_bytes
from tests.helpers.waiting import wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
TIMEOUT = 60

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="chromium and chromium-driver are not installed (apt-get install chromium "
    "chromium-driver; .ci/run does it)",
)

webdriver = pytest.importorskip("selenium.webdriver")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    """A headless Chromium with a fresh profile, closed after the test."""
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _click(browser: Any, selector: str) -> bool:
    """Click the element ``selector`` names; False when the page replaced it meanwhile."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        browser.find_element(By.CSS_SELECTOR, selector).click()
    except StaleElementReferenceException:
        return False
    return True


@pytest.mark.parametrize("emulator_settings", [EmulatorSettings(agent_accept="manual")])
def test_an_agent_accepts_sees_the_scan_and_sends_a_pdf_that_lands_in_the_inbox(
    tmp_path: Path, emulator: RunningEmulator, browser: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(browser, WebDriver)
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    pdf_path = tmp_path / "signed-contract.pdf"
    pdf_path.write_bytes(pdf)
    with running_daemon(config) as running:
        store = running.daemon.store
        route = running.config.routes[0]
        browser.get(f"{emulator.base_url}/_emulator/")
        assert "No conversations yet" in browser.page_source
        # The scan that opens the conversation; the page shows it without a reload.
        scan = route.outbox / "scan_0001.jpg"
        scan.write_bytes(jpeg_bytes(800, 600, seed=7))
        conversation = wait_until(
            lambda: store.open_conversation("scans"), TIMEOUT, "the conversation"
        )
        section_id = f"conversation-{conversation}"

        def query(selector: str, script: str) -> Any:
            # One script reads the element: the page may swap it for a fresh copy any time.
            return browser.execute_script(
                f"const e = document.querySelector(arguments[0]); return e && ({script});",
                selector,
            )

        badge = f"#{section_id} .badge"
        wait_until(
            lambda: query(badge, "e.dataset.state") == "waiting",
            TIMEOUT,
            "a waiting conversation on the page",
        )
        accept = f"#{section_id} button.accept"
        wait_until(lambda: _click(browser, accept), TIMEOUT, "a click on Accept")
        wait_until(
            lambda: query(badge, "e.dataset.state") == "active",
            TIMEOUT,
            "the conversation to be active",
        )
        thumbnail = f"#{section_id} figure.from-consumer img.thumbnail"
        wait_until(
            lambda: query(thumbnail, "e.complete && e.naturalWidth > 0"),
            TIMEOUT,
            "the scan's thumbnail, rendered",
        )
        assert str(query(thumbnail, "e.getAttribute('src')")).startswith("data:image/")
        assert "scan_0001.jpg" in query(f"#{section_id} figure .caption", "e.textContent")
        form = browser.find_element(By.CSS_SELECTOR, f"#{section_id} form.send-file")
        form.find_element(By.NAME, "file").send_keys(str(pdf_path))
        form.find_element(By.NAME, "caption").send_keys("signed contract")
        form.find_element(By.TAG_NAME, "button").click()
        wait_until(
            lambda: store.inbound_counts_by_state("scans")[InboundState.DONE] == 1,
            TIMEOUT,
            "the PDF in the inbox",
        )
        wait_until(
            lambda: browser.find_elements(By.CSS_SELECTOR, f"#{section_id} figure.from-agent"),
            TIMEOUT,
            "the PDF on the page",
        )
        screenshot = tmp_path / "console.png"
        browser.save_screenshot(str(screenshot))
    received = [p for p in route.inbox.iterdir() if not p.name.startswith(".")]
    assert [p.suffix for p in received] == [".pdf"]
    assert received[0].read_bytes() == pdf
    assert screenshot.stat().st_size > 0
