"""IDEXX Neo login through the real web form, with Playwright, to capture session cookies.

Playwright is used for this one step only (the login page needs a browser: its form token is
computed by the page's script); every data call afterwards is plain HTTP with the cookies.

Cookies are returned as a plain ``{name: value}`` dict (the cookies the browser holds for the
base URL): small, JSON-serialisable, what the session cache encrypts and what IdexxClient sends.

Threads: Playwright's sync objects belong to the thread that created them. ``browser_source``
(the worker's pooled browser, or a test fixture's) is used from the thread that built the
authenticator; a login requested from another thread (an enrichment thread re-logging in after
an expiry) launches a private Chromium in that thread and closes it afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from urllib.parse import urljoin, urlparse

from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from ...errors import AuthenticationFailed, PimsUnavailable
from ...models import Credentials
from .chromium import CHROMIUM_ARGS, DEFAULT_CHROMIUM

log = logging.getLogger(__name__)

FIELDS = ("username", "password", "company_id")
SUBMIT = 'button[type="submit"], input[type="submit"]'


@contextlib.contextmanager
def launch_chromium(*, chromium_path: str | None = None, headless: bool = True) -> Iterator[Browser]:
    """A Chromium of our own for the current thread, closed on exit."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium_path or DEFAULT_CHROMIUM, args=list(CHROMIUM_ARGS), headless=headless
        )
        try:
            yield browser
        finally:
            with contextlib.suppress(PlaywrightError):
                browser.close()


class BrowserSource:
    """A lazily launched Chromium for scripts and the CLI; call it for the browser, close() at the end."""

    def __init__(self, *, chromium_path: str | None = None, headless: bool = True):
        self._stack: contextlib.ExitStack | None = None
        self._browser: Browser | None = None
        self._chromium_path = chromium_path
        self._headless = headless

    def __call__(self) -> Browser:
        if self._browser is None or not self._browser.is_connected():
            self.close()
            self._stack = contextlib.ExitStack()
            self._browser = self._stack.enter_context(
                launch_chromium(chromium_path=self._chromium_path, headless=self._headless)
            )
        return self._browser

    def close(self) -> None:
        if self._stack is not None:
            self._stack.close()
        self._stack, self._browser = None, None


def default_browser_source(settings) -> BrowserSource:
    """For scripts and the CLI; workers supply their pooled browser instead."""
    return BrowserSource(chromium_path=settings.chromium_path, headless=settings.headless)


class IdexxAuthenticator:
    """Logs in with a fresh browser context per attempt and returns the session cookies."""

    def __init__(
        self,
        base_url: str,
        *,
        browser_source: Callable[[], Browser],
        timeout_ms: int = 30_000,
        headless: bool = True,
        chromium_path: str | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self._browser_source = browser_source
        self._owner_thread = threading.get_ident()
        self.timeout_ms = timeout_ms
        self._headless = headless
        self._chromium_path = chromium_path

    def __repr__(self) -> str:
        return f"IdexxAuthenticator({self.base_url!r})"

    def login(self, credentials: Credentials) -> dict[str, str]:
        """Sign in through the form; raise AuthenticationFailed or PimsUnavailable, never retry."""
        if threading.get_ident() == self._owner_thread:
            return self._login_with(self._browser_source(), credentials)
        log.info("IDEXX login from a helper thread: using a private Chromium")
        try:
            with launch_chromium(chromium_path=self._chromium_path, headless=self._headless) as browser:
                return self._login_with(browser, credentials)
        except PlaywrightError as e:
            raise PimsUnavailable(f"could not start Chromium for the IDEXX login: {e.__class__.__name__}") from e

    def _login_with(self, browser: Browser, credentials: Credentials) -> dict[str, str]:
        context = None
        try:
            context = browser.new_context()
            page = context.new_page()
            page.set_default_timeout(self.timeout_ms)
            posted = self._submit_form(page, credentials)
            self._check_outcome(page, posted)
            cookies = {c["name"]: c["value"] for c in context.cookies([self.base_url])}
            if not cookies:
                raise AuthenticationFailed(
                    "IDEXX accepted the login form but set no session cookie", reason="login_page_changed"
                )
            log.info("IDEXX login succeeded (%d cookies)", len(cookies))
            return cookies
        except PlaywrightTimeout as e:
            raise PimsUnavailable(
                f"IDEXX login at {self.base_url}/login did not complete within {self.timeout_ms} ms"
            ) from e
        except PlaywrightError as e:
            raise PimsUnavailable(
                f"IDEXX login at {self.base_url}/login failed: {_first_line(str(e), credentials)}"
            ) from e
        finally:
            if context is not None:
                with contextlib.suppress(PlaywrightError):
                    context.close()

    def _submit_form(self, page: Page, credentials: Credentials):
        response = page.goto(f"{self.base_url}/login", wait_until="domcontentloaded")
        _check_status(response, "GET /login")
        for name in FIELDS:
            if page.locator(f'input[name="{name}"]').count() == 0:
                raise AuthenticationFailed(
                    f"the IDEXX login page has no '{name}' field; the page may have changed",
                    reason="login_page_changed",
                )
        submit = page.locator(SUBMIT)
        if submit.count() == 0:
            raise AuthenticationFailed(
                "the IDEXX login page has no submit button; the page may have changed", reason="login_page_changed"
            )
        page.locator('input[name="username"]').fill(credentials.username)
        page.locator('input[name="password"]').fill(credentials.password)
        page.locator('input[name="company_id"]').fill(credentials.company_id)
        posted_login = lambda r: r.request.method == "POST" and _is_login_path(r.url)  # noqa: E731
        with page.expect_response(posted_login) as posted:
            with page.expect_navigation(wait_until="domcontentloaded") as navigation:
                submit.first.click()
        _check_status(posted.value, "POST /login")
        _check_status(navigation.value, "the page after the login")
        return posted.value

    def _check_outcome(self, page: Page, posted) -> None:
        # Success is the POST's redirect away from the login pages, whatever the next page does
        # (a dashboard that bounces a short-lived session back to /login is the data calls' problem).
        if 300 <= posted.status < 400 and not _is_login_path(urljoin(posted.url, posted.headers.get("location", ""))):
            return
        if page.locator('input[name="code"]').count() > 0:
            raise AuthenticationFailed(
                "IDEXX asks for a two-factor code for this account; use an account without two-factor "
                "sign-in for the sync",
                reason="two_factor_required",
            )
        if _is_login_path(page.url):
            error = page.locator(".error-message")
            text = error.first.inner_text().strip() if error.count() else ""
            if page.locator('input[name="password"]').count() == 0:
                raise AuthenticationFailed(
                    "IDEXX stayed on the login page without its form; the page may have changed",
                    reason="login_page_changed",
                )
            if "token" in text.lower():  # our form automation no longer satisfies the page
                raise AuthenticationFailed(f"IDEXX refused the login form: {text}", reason="login_page_changed")
            raise AuthenticationFailed(
                f"IDEXX rejected the credentials: {text or 'no error message shown'}", reason="invalid_credentials"
            )


def _check_status(response, what: str) -> None:
    if response is not None and response.status >= 500:
        raise PimsUnavailable(f"IDEXX {what} answered HTTP {response.status}")


def _is_login_path(url: str) -> bool:
    return urlparse(url).path.rstrip("/").lower() in ("/login", "/login/verify")


def _first_line(message: str, credentials: Credentials) -> str:
    """The first line of a Playwright error with any credential value blanked out."""
    line = (message.strip().splitlines() or [""])[0][:200]
    for secret in (credentials.password, credentials.username, credentials.company_id):
        if secret:
            line = line.replace(secret, "***")
    return line
