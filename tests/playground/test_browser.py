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
from selenium.common.exceptions import StaleElementReferenceException
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
    wait = WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=[StaleElementReferenceException])
    driver.get(f"{url}/playground")
    _click(wait, (By.ID, "person-writer"))
    _type(driver, "/start")
    _click(wait, (By.CSS_SELECTOR, "#reply-keyboard button"))
    code = wait.until(lambda d: "".join(_texts(d, "#sms-code")))
    _type(driver, code)
    wait.until(lambda d: home in _texts(d, ".bubble.bot .text"))
    return "\n".join(_texts(driver, ".bubble.bot .inline-keyboard button"))


# The page re-renders its bubbles while the bot answers, so an element found by one call may be
# gone by the next (StaleElementReferenceException): read what a person sees in one script call.
_READ = "return Array.from(document.querySelectorAll(arguments[0]), e => e[arguments[1]]);"


def _texts(driver: WebDriver, selector: str) -> list[str]:
    return [text.strip() for text in driver.execute_script(_READ, selector, "innerText")]


def _directions(driver: WebDriver, selector: str) -> list[str]:
    return driver.execute_script(_READ, selector, "dir")


def _click(wait: WebDriverWait, locator: tuple[str, str]) -> None:
    """Click once the element is clickable, finding it afresh if a re-render replaced it."""

    def clicked(driver: WebDriver) -> bool:
        element = ready.element_to_be_clickable(locator)(driver)
        if element:
            element.click()
        return bool(element)

    wait.until(clicked)


def _type(driver: WebDriver, text: str) -> None:
    box = driver.find_element(By.ID, "text")
    box.clear()
    box.send_keys(text)
    driver.find_element(By.ID, "send").click()


async def test_link_in_the_browser(playground: RunningPlayground, browser: WebDriver) -> None:
    home = t("fa", "bot.home.title.writer")
    menu = await asyncio.to_thread(_link_as_writer, browser, playground.url, home)
    assert t("fa", "bot.home.button.new") in menu
    directions = _directions(browser, ".bubble.bot .text")
    assert directions and set(directions) == {"auto"}
