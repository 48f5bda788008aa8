"""``WebShop-Browser-v0``: the same shop served on a loopback port and driven in headless Chromium.

The app runs in a werkzeug server thread on a free ``127.0.0.1`` port;
Chromium is driven through Selenium with Debian's ``/usr/bin/chromedriver``
(never downloaded: ``SE_OFFLINE=true``). Observations are parsed from the
rendered DOM (``page_source``), actions are real clicks and typing, so the
text and browser envs give the same observations (``text``/``text_rich``
modes) and rewards for the same actions. ``close()`` quits the browser and
stops the server.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from agent_gym.errors import BackendUnavailableError, require
from agent_gym.webshop.env_base import WebShopEnvBase
from agent_gym.webshop.render import Clickable

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer

CHROMIUM = os.environ.get("AGENT_GYM_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("AGENT_GYM_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1600",
)
INSTALL_HINT = (
    "install them with: apt-get install chromium chromium-driver (or set AGENT_GYM_CHROMIUM / AGENT_GYM_CHROMEDRIVER)"
)


def browser_available() -> str | None:
    """``None`` when Chromium and chromedriver are present, else the reason they are not."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (os.path.isfile(p) and os.access(p, os.X_OK))]
    if missing:
        return f"{' and '.join(missing)} not found; {INSTALL_HINT}"
    return None


class WebShopBrowserEnv(WebShopEnvBase):
    """WebShop in a real headless browser; same arguments as the text env plus ``page_load_timeout_s``."""

    def __init__(self, page_load_timeout_s: float = 30.0, **kwargs) -> None:
        super().__init__(**kwargs)
        reason = browser_available()
        if reason:
            raise BackendUnavailableError(f"WebShop-Browser-v0 needs Chromium and chromedriver: {reason}")
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._driver: Any = None  # selenium's webdriver.Chrome (selenium is optional)
        self._profile: str | None = None
        try:
            self._start_server()
            self._start_browser(page_load_timeout_s)
        except BaseException:
            self._close()
            raise

    # ------------------------------------------------------------ lifecycle
    def _start_server(self) -> None:
        from werkzeug.serving import WSGIRequestHandler, make_server

        class QuietHandler(WSGIRequestHandler):
            def log(self, type: str, message: str, *args) -> None:  # noqa: A002 - werkzeug's signature
                pass

        self._server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=QuietHandler)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="webshop-server", daemon=True)
        self._thread.start()

    def _start_browser(self, timeout_s: float) -> None:
        os.environ["SE_OFFLINE"] = "true"
        webdriver = require("selenium.webdriver", "webshop")
        from selenium.webdriver.chrome.service import Service

        self._profile = tempfile.mkdtemp(prefix="agent_gym_chromium_")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in CHROME_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self._profile}")
        try:
            self._driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        except Exception as exc:  # noqa: BLE001 - selenium raises many kinds
            raise BackendUnavailableError(
                f"could not start headless Chromium ({CHROMIUM}) with {CHROMEDRIVER}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}; {INSTALL_HINT}"
            ) from exc
        self._driver.set_page_load_timeout(timeout_s)
        self._timeout_s = timeout_s

    def _close(self) -> None:
        if self._driver is not None:
            try:
                self._driver.quit()
            except Exception:  # noqa: BLE001 - already gone
                pass
            self._driver = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    def __del__(self) -> None:
        try:
            self._close()
        except Exception:  # noqa: BLE001
            pass

    # ------------------------------------------------------------ transport
    def _require_driver(self):
        if self._driver is None:
            raise BackendUnavailableError("the browser was closed; make a new WebShop-Browser-v0 env")
        return self._driver

    def _page_source(self) -> str:
        return self._require_driver().page_source

    def _navigate(self, act) -> str:
        """Run ``act`` (a click that loads a page) and return the new page once it has fully loaded.

        A marker set on the old page's ``window`` disappears with the navigation, so a slow
        machine can never hand back the previous page.
        """
        from selenium.common.exceptions import JavascriptException, StaleElementReferenceException, TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        driver = self._require_driver()
        driver.execute_script("window.__agentGymStale = true;")
        act()
        try:
            wait = WebDriverWait(
                driver,
                self._timeout_s,
                poll_frequency=0.01,
                ignored_exceptions=(JavascriptException, StaleElementReferenceException),
            )
            wait.until(
                lambda d: d.execute_script("return !window.__agentGymStale && document.readyState === 'complete';")
            )
        except TimeoutException as exc:
            raise BackendUnavailableError(f"the shop page did not load within {self._timeout_s} s") from exc
        return self._page_source()

    def _open(self, url: str) -> str:
        self._require_driver().get(self.base_url + url)
        return self._page_source()

    def _submit_search(self, keywords: str) -> str:
        from selenium.webdriver.common.by import By

        driver = self._require_driver()
        box = driver.find_element(By.NAME, "q")
        box.clear()
        if keywords.isascii() and keywords.isprintable():
            box.send_keys(keywords)
        else:  # chromedriver cannot type every Unicode character; set the value directly
            driver.execute_script("arguments[0].value = arguments[1];", box, keywords)
        button = driver.find_element(By.ID, "search-button")
        return self._navigate(button.click)

    def _click(self, clickable: Clickable) -> str:
        from selenium.webdriver.common.by import By

        driver = self._require_driver()
        for element in driver.find_elements(By.CSS_SELECTOR, "[data-label]"):
            if element.get_attribute("data-label") == clickable.label:
                return self._navigate(element.click)
        raise BackendUnavailableError(f"button {clickable.label!r} vanished from the browser page")

    def _current_url(self) -> str:
        parts = urlsplit(self._require_driver().current_url)
        return parts.path + (f"?{parts.query}" if parts.query else "")
