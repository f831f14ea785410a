"""/docs in a real headless Chromium, against a real `python -m service serve` with API keys on.

As a new user would: open the page, put a write key in the Authorize dialog, create a user with
"Try it out", see the 201 in the page; then a plain HTTP GET finds that user. Meanwhile the
browser's console must show no Content-Security-Policy violation and no failed load, and every
request the page made must have gone to the service (or be a data: icon). The page's screenshot
is saved under the test's tmp_path (and to API_DOCS_SCREENSHOT, when set: that is how
docs/images/api-docs.png is refreshed).

Needs Debian's chromium and chromium-driver: skipped without them, except under CI=true, where
.ci/run installs them and this must run.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from tests.helpers import WRITE_AUTH, WRITE_KEY, base_environ, skip_or_fail
from tests.procs import Service, ServiceGroup, clean_environ, http_get

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STEP_SECONDS = 20  # the most any one page load, script or wait may take
CREATE_USER = "#operations-default-createUser"  # Swagger UI's id: tag "default", operationId


@pytest.fixture
def chromium() -> tuple[str, str]:
    """Debian's chromium and chromedriver, looked for before anything else is started."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser is None or driver is None:
        skip_or_fail(
            "chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
        )
    return str(browser), str(driver)


@pytest.fixture
def browser(chromium: tuple[str, str]) -> Iterator[webdriver.Chrome]:
    chromium_binary, chromedriver = chromium
    options = webdriver.ChromeOptions()
    options.binary_location = chromium_binary
    options.add_argument("--headless=new")
    options.add_argument("--window-size=1280,1500")
    if os.geteuid() == 0:
        # Chromium will not start its sandbox as root, which CI and these machines run as.
        options.add_argument("--no-sandbox")
    # The console (CSP violations and failed loads are reported there) and the network events.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # Both paths given: Selenium Manager, which would download a driver, is never consulted.
    driver = webdriver.Chrome(service=ChromeDriver(chromedriver), options=options)
    driver.set_page_load_timeout(STEP_SECONDS)
    driver.set_script_timeout(STEP_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()  # ends the browser and chromedriver, both started here


@pytest.fixture
def service(services: ServiceGroup, database_url: str) -> Service:
    started = services.start(clean_environ(**base_environ(database_url), AUTH_DISABLED="false"))
    started.wait_ready()
    assert http_get(started.port, "/users")[0] == 401, "keys are on: the dialog's key matters"
    return started


def browser_log(driver: webdriver.Chrome, kind: str) -> list[dict[str, Any]]:
    """The entries of one goog:loggingPrefs log since the last call."""
    entries: list[dict[str, Any]] = driver.get_log(kind)  # type: ignore[no-untyped-call]
    return entries


def network_events(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """The DevTools Network.* events since the last call."""
    messages = (
        json.loads(entry["message"])["message"] for entry in browser_log(driver, "performance")
    )
    return [m for m in messages if m["method"].startswith("Network.")]


def test_try_it_out_creates_a_user_with_the_key_of_the_authorize_dialog(
    chromium: tuple[str, str], service: Service, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    wait = WebDriverWait(browser, STEP_SECONDS)

    def clickable(selector: str) -> WebElement:
        found: WebElement = wait.until(
            expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, selector))
        )
        return found

    browser.get(f"{service.base_url}/docs")

    clickable(".auth-wrapper button.authorize").click()
    clickable("#auth-bearer-value").send_keys(WRITE_KEY)
    clickable("button[aria-label='Apply credentials']").click()
    clickable("button[aria-label='Remove authorization']")  # shown once the key is taken
    clickable(".auth-btn-wrapper button.btn-done").click()
    clickable(".auth-wrapper button.authorize.locked")

    username = f"docs_{secrets.token_hex(4)}"
    clickable(f"{CREATE_USER} .opblock-summary").click()
    clickable(f"{CREATE_USER} button.try-out__btn").click()
    body = clickable(f"{CREATE_USER} textarea.body-param__text")
    body.click()
    body.send_keys(Keys.CONTROL, "a")
    # The whole body as one input event, as a paste: typed key by key it takes ~20 s, since
    # Swagger UI re-renders the operation on every keystroke.
    user_input = {"username": username, "email": f"{username}@example.org"}
    browser.execute_cdp_cmd("Input.insertText", {"text": json.dumps(user_input)})
    clickable(f"{CREATE_USER} button.execute").click()

    live = f"{CREATE_USER} .live-responses-table tbody"
    status = wait.until(
        expected_conditions.visibility_of_element_located(
            (By.CSS_SELECTOR, f"{live} .response-col_status")
        )
    )
    assert status.text == "201"
    shown = browser.find_element(By.CSS_SELECTOR, f"{live} .response-col_description pre")
    created = json.loads(shown.text)
    assert {k: created[k] for k in user_input} == user_input

    browser.execute_script(
        "arguments[0].scrollIntoView()", browser.find_element(By.CSS_SELECTOR, CREATE_USER)
    )
    screenshot = tmp_path / "api-docs.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    if target := os.environ.get("API_DOCS_SCREENSHOT"):
        shutil.copyfile(screenshot, target)

    status_code, _, found = http_get(service.port, f"/users/{created['id']}", headers=WRITE_AUTH)
    assert status_code == 200
    assert json.loads(found) == created

    console = browser_log(browser, "browser")
    problems = [
        entry
        for entry in console
        if entry["level"] == "SEVERE" or "Content Security Policy" in entry["message"]
    ]
    assert problems == [], "CSP violations or failed loads in the console"

    events = network_events(browser)
    requested = {
        (e["params"]["request"]["method"], e["params"]["request"]["url"])
        for e in events
        if e["method"] == "Network.requestWillBeSent"
    }
    elsewhere = [url for _, url in requested if not url.startswith(f"{service.base_url}/")]
    assert [url for url in elsewhere if not url.startswith("data:")] == []
    paths = {(method, url.removeprefix(service.base_url)) for method, url in requested}
    assert {("GET", "/docs"), ("GET", "/openapi.json"), ("POST", "/users")} <= paths
    assert any(path.endswith("/swagger-ui-bundle.js") for _, path in paths)
    failed = [e["params"] for e in events if e["method"] == "Network.loadingFailed"]
    assert failed == []
    statuses = {
        e["params"]["response"]["url"]: e["params"]["response"]["status"]
        for e in events
        if e["method"] == "Network.responseReceived"
    }
    assert {url: s for url, s in statuses.items() if s >= 400} == {}
