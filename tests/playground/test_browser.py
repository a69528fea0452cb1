"""The page in a real browser (headless Chromium through chromedriver, Debian's ``chromium`` and
``chromium-driver`` packages, installed by ``.ci/run``): open it, be the writer, send /start,
share the contact, type the code the page shows, see the main menu.

Selenium is synchronous and the product runs in this test's event loop, so every browser step
runs in a worker thread (``asyncio.to_thread``) while the loop keeps serving the page and the bot.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

from bot.texts import t
from tests.playground.conftest import RunningPlayground

pytestmark = pytest.mark.browser
WAIT_SECONDS = 30


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    chromedriver = shutil.which("chromedriver")
    if chromedriver is None:
        pytest.fail("chromedriver is not installed: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--lang=fa"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _link_as_writer(driver: WebDriver, url: str, home: str) -> str:
    wait = WebDriverWait(driver, WAIT_SECONDS)
    driver.get(f"{url}/playground")
    wait.until(ready.element_to_be_clickable((By.ID, "person-writer"))).click()
    _type(driver, "/start")
    share = (By.CSS_SELECTOR, "#reply-keyboard button")
    wait.until(ready.element_to_be_clickable(share)).click()
    wait.until(lambda d: d.find_element(By.ID, "sms-code").text.strip())
    code = driver.find_element(By.ID, "sms-code").text.strip()
    _type(driver, code)
    wait.until(
        lambda d: any(b.text == home for b in d.find_elements(By.CSS_SELECTOR, ".bubble.bot .text"))
    )
    menu = driver.find_elements(By.CSS_SELECTOR, ".bubble.bot .inline-keyboard button")
    return "\n".join(button.text for button in menu)


def _type(driver: WebDriver, text: str) -> None:
    box = driver.find_element(By.ID, "text")
    box.clear()
    box.send_keys(text)
    driver.find_element(By.ID, "send").click()


async def test_link_in_the_browser(playground: RunningPlayground, browser: WebDriver) -> None:
    home = t("fa", "bot.home.title.writer")
    menu = await asyncio.to_thread(_link_as_writer, browser, playground.url, home)
    assert t("fa", "bot.home.button.new") in menu
    bubbles = browser.find_elements(By.CSS_SELECTOR, ".bubble.bot .text")
    assert all(bubble.get_attribute("dir") == "auto" for bubble in bubbles)
