"""The web console in a real headless browser (Debian's chromium and chromedriver, driven by
selenium with the driver's path given: nothing is downloaded at test time)."""

import asyncio
import os
import shutil

import pytest

from lwm2m_sms.routing.router import PolicySettings

from .conftest import TOKEN

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip(f"{CHROMIUM} or {CHROMEDRIVER} missing (apt-get install chromium chromium-driver)",
                allow_module_level=True)

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage", "--window-size=1280,1400",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


class Page:
    """Blocking selenium calls, each run in a thread so the server's loop keeps serving."""

    def __init__(self, driver):
        self.driver = driver

    async def do(self, fn, *args):
        return await asyncio.to_thread(fn, *args)

    def _wait_text(self, css, text, timeout=20):
        WebDriverWait(self.driver, timeout).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))

    async def wait_text(self, css, text):
        await self.do(self._wait_text, css, text)

    def _click(self, css, timeout=20):
        WebDriverWait(self.driver, timeout).until(EC.element_to_be_clickable((By.CSS_SELECTOR, css))).click()

    async def click(self, css):
        await self.do(self._click, css)

    def _wait_css(self, css, timeout=20):
        WebDriverWait(self.driver, timeout).until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))

    async def wait_css(self, css):
        await self.do(self._wait_css, css)


async def test_console_lists_reads_executes_and_follows_a_queued_request(rig, browser, tmp_path):
    await rig.start(policy=PolicySettings(sms_window=30))
    dev = await rig.sms_device("dev-s", "S", "+15550101")
    sleeper = await rig.sms_device("dev-sq", "SQ", "+15550104", queue_window=30)
    page = Page(browser)

    # sign in with the token: the console trades it for a cookie
    await page.do(browser.get, rig.api.url + "/")
    await page.wait_css("#token")
    await page.do(lambda: browser.find_element(By.ID, "token").send_keys(TOKEN))
    await page.click("#login-form button")

    # the device list shows the SMS device, with its number
    await page.wait_text('#devices tr[data-endpoint="dev-s"]', "+15550101")
    await page.click('#devices tr[data-endpoint="dev-s"] a')

    # Read /3/0/0 by SMS
    await page.click('#res-3-0-0 button[data-op="read"]')
    await page.wait_text("#val-3-0-0", "lwm2m-sms")
    assert "via sms" in await page.do(lambda: browser.find_element(By.ID, "val-3-0-0").text)

    # Execute /3/0/4 reaches the device
    requests = dev.client.stats["requests"]
    await page.click('#res-3-0-4 button[data-op="execute"]')
    await page.wait_text("#val-3-0-4", "2.04")
    assert dev.client.stats["requests"] == requests + 1
    shot = tmp_path / "device-page.png"
    assert await page.do(browser.save_screenshot, str(shot))

    # a sleeping SQ device: the read is queued, shown as such, then answered when it wakes
    await rig.clock.advance(31)  # the SQ device's window closes
    assert not rig.stack.router.route(rig.stack.server.registration("dev-sq")).now
    await page.do(browser.get, rig.api.url + "/#/device/dev-sq")
    await page.wait_text("#device-facts", "sleeping")
    await page.click('#res-3-0-0 button[data-op="read"]')
    await page.wait_text("#val-3-0-0", "queued")
    await page.wait_css('#queue tr[data-state="queued"]')
    assert await page.do(browser.save_screenshot, str(tmp_path / "queued.png"))
    await sleeper.client.update()
    await page.wait_text("#val-3-0-0", "lwm2m-sms")
    await page.wait_css('#queue tr[data-state="answered"]')
    assert await page.do(browser.save_screenshot, str(tmp_path / "answered.png"))
    # Observe on a UDP device: its notifications show as they come; Cancel stops it
    await rig.udp_device("dev-u", time_resolution=0.05)
    await rig.call("PUT", "/api/devices/dev-u/attributes/3/0/13", json={"pmin": 0, "pmax": 1})
    await page.do(browser.get, rig.api.url + "/#/device/dev-u")
    await page.click('#res-3-0-13 button[data-op="observe"]')
    await page.wait_text("#val-3-0-13", "(notification)")
    await page.wait_text('#res-3-0-13 button[data-op="observe"]', "Cancel")
    await page.click('#res-3-0-13 button[data-op="observe"]')
    await page.wait_text("#val-3-0-13", "observation cancelled")
    assert rig.stack.server.observations("dev-u") == []

    # the same page at a phone's width
    await page.do(browser.set_window_size, 390, 844)
    assert await page.do(browser.save_screenshot, str(tmp_path / "phone.png"))
    print(f"screenshots in {tmp_path}")
