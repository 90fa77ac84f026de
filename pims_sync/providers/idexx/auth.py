"""IDEXX Neo login through the real web form, with Playwright, to capture session cookies.

Playwright is used for this one step only (the login page needs a browser: its form token is
computed by the page's script); every data call afterwards is plain HTTP with the cookies.

The page, as the production service drove it (IDEXX_FACTS.md "Login page"): username
``input[name="username"]`` or ``input[type="email"]``; password ``input[name="password"]`` or
``input[type="password"]``; company ``input[name="company_id"]`` (older pages ``companyId``);
``button[type="submit"]``; error banner ``.error-message`` or ``.alert-danger``; a two-step page
asks for ``input[name="code"]`` or ``input[name="otp"]``. Success is the URL leaving ``/login``
with a cookie whose name contains ``session`` or ``auth``.

Cookies are returned as a plain ``{name: value}`` dict (the cookies the browser holds for the
base URL): small, JSON-serialisable, what the session cache encrypts and what IdexxClient sends.

Each login's context aborts the page's images, fonts and media (``BLOCKED_RESOURCE_TYPES``):
nothing in the form needs them, and on IDEXX's real page they are most of the bytes. Stylesheets
load: without them elements the page hides become visible, and Playwright's actionability
checks (visible, not covered) could pick or click what a person never sees.

Threads: ``browser_source`` is either a :class:`~.chromium.BrowserRunner` (the worker's
BrowserPool, the CLI's BrowserSource: the login is sent to the thread that owns the browser,
whatever thread asks) or a bare callable returning a Browser (a test's fixture). A bare browser
can only be used on the thread that built the authenticator; from any other thread the login
falls back to a private Chromium for that one login.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import urljoin, urlparse

from playwright.sync_api import Browser, Locator, Page, Playwright, Response, Route, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from ...errors import AuthenticationFailed, PimsUnavailable
from ...models import Credentials
from .chromium import BrowserRunner, BrowserThread, launch_options

log = logging.getLogger(__name__)
T = TypeVar("T")

# field -> the selectors that find it, in order of preference
INPUTS = {
    "username": ('input[name="username"]', 'input[type="email"]'),
    "password": ('input[name="password"]', 'input[type="password"]'),
    "company_id": ('input[name="company_id"]', 'input[name="companyId"]'),
}
SUBMIT = 'button[type="submit"], input[type="submit"]'
ERROR_BANNER = ".error-message, .alert-danger"
TWO_STEP = 'input[name="code"], input[name="otp"]'
SESSION_COOKIE_MARKERS = ("session", "auth")
TWO_STEP_MESSAGE = "two-step verification is on for this account"
#: what a login page loads that the form never needs (Playwright's resource types)
BLOCKED_RESOURCE_TYPES = frozenset({"image", "font", "media"})


@contextlib.contextmanager
def launch_chromium(*, chromium_path: str | None = None, headless: bool = True) -> Iterator[Browser]:
    """A Chromium of our own for the current thread, closed on exit."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(**launch_options(chromium_path, headless=headless))
        try:
            yield browser
        finally:
            with contextlib.suppress(PlaywrightError):
                browser.close()


class BrowserSource:
    """A lazily launched Chromium on a thread of its own, for scripts and the CLI (a BrowserRunner)."""

    def __init__(self, *, chromium_path: str | None = None, headless: bool = True):
        self._thread = BrowserThread("cli-chromium")
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._chromium_path = chromium_path
        self._headless = headless

    def run(self, fn: Callable[[Browser], T]) -> T:
        """``fn(browser)`` on the browser's thread, launching Chromium on first use."""
        return self._thread.call(lambda: fn(self._live_browser()))

    def _live_browser(self) -> Browser:
        if self._browser is None or not self._browser.is_connected():
            self._shutdown()
            self._playwright = sync_playwright().start()
            self._browser = self._playwright.chromium.launch(
                **launch_options(self._chromium_path, headless=self._headless)
            )
        return self._browser

    def _shutdown(self) -> None:
        browser, playwright, self._browser, self._playwright = self._browser, self._playwright, None, None
        if browser is not None:
            with contextlib.suppress(PlaywrightError):
                browser.close()
        if playwright is not None:
            with contextlib.suppress(Exception):
                playwright.stop()

    def close(self) -> None:
        self._thread.stop(final=self._shutdown)


def default_browser_source(settings: Any) -> BrowserSource:
    """For scripts and the CLI; workers supply their pooled browser instead."""
    return BrowserSource(chromium_path=settings.chromium_path, headless=settings.headless)


class IdexxAuthenticator:
    """Logs in with a fresh browser context per attempt and returns the session cookies."""

    def __init__(
        self,
        base_url: str,
        *,
        browser_source: BrowserRunner | Callable[[], Browser],
        timeout_ms: int = 30_000,
        headless: bool = True,
        chromium_path: str | None = None,
        blocked_resource_types: frozenset[str] = BLOCKED_RESOURCE_TYPES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._browser_source = browser_source
        self._owner_thread = threading.get_ident()
        self.timeout_ms = timeout_ms
        self._headless = headless
        self._chromium_path = chromium_path
        self.blocked_resource_types = blocked_resource_types  # empty: no request interception at all

    def __repr__(self) -> str:
        return f"IdexxAuthenticator({self.base_url!r})"

    def login(self, credentials: Credentials) -> dict[str, str]:
        """Sign in through the form; raise AuthenticationFailed or PimsUnavailable, never retry."""
        source = self._browser_source
        try:
            if isinstance(source, BrowserRunner):
                return source.run(lambda browser: self._login_with(browser, credentials))
            if threading.get_ident() == self._owner_thread:
                return self._login_with(source(), credentials)
            log.info("IDEXX login from a helper thread with a bare browser: using a private Chromium")
            with launch_chromium(chromium_path=self._chromium_path, headless=self._headless) as browser:
                return self._login_with(browser, credentials)
        except PlaywrightError as e:  # the browser itself would not start
            raise PimsUnavailable(f"could not start Chromium for the IDEXX login: {e.__class__.__name__}") from e

    def _login_with(self, browser: Browser, credentials: Credentials) -> dict[str, str]:
        context = None
        try:
            context = browser.new_context()
            if self.blocked_resource_types:
                blocked = self.blocked_resource_types
                context.route("**/*", lambda route: _skip_unneeded(route, blocked))
            page = context.new_page()
            page.set_default_timeout(self.timeout_ms)
            posted = self._submit_form(page, credentials)
            cookies = {c["name"]: c["value"] for c in context.cookies([self.base_url])}
            self._check_outcome(page, posted, cookies, credentials)
            log.info("IDEXX login succeeded (%d cookies)", len(cookies))
            return cookies
        except PlaywrightTimeout as e:
            raise PimsUnavailable(
                f"IDEXX login at {self.base_url}/login did not complete within {self.timeout_ms} ms"
            ) from e
        except PlaywrightError as e:
            raise PimsUnavailable(
                f"IDEXX login at {self.base_url}/login failed: {_redact(str(e), credentials)}"
            ) from e
        finally:
            if context is not None:
                with contextlib.suppress(PlaywrightError):
                    context.close()

    def _submit_form(self, page: Page, credentials: Credentials) -> Response:
        response = page.goto(f"{self.base_url}/login", wait_until="domcontentloaded")
        _check_status(response, "GET /login")
        username, password = _field(page, "username"), _field(page, "password")
        company = _find(page, "company_id")
        if company is None and credentials.company_id:
            company = _field(page, "company_id")  # raises: the page lost the field this clinic needs
        submit = page.locator(SUBMIT)
        if submit.count() == 0:
            raise AuthenticationFailed(
                "the IDEXX login page has no submit button; the page may have changed", reason="login_page_changed"
            )
        username.fill(credentials.username)
        password.fill(credentials.password)
        if company is not None:
            company.fill(credentials.company_id)
        def posted_form(r: Response) -> bool:
            return r.request.method == "POST" and r.request.is_navigation_request()

        with page.expect_response(posted_form) as posted:
            with page.expect_navigation(wait_until="domcontentloaded") as navigation:
                submit.first.click()
        _check_status(posted.value, "POST /login")
        _check_status(navigation.value, "the page after the login")
        return posted.value

    def _check_outcome(self, page: Page, posted: Response, cookies: dict[str, str], credentials: Credentials) -> None:
        """Success is leaving /login with a session cookie; anything else says why it failed."""
        if page.locator(TWO_STEP).count() > 0:
            raise AuthenticationFailed(
                f"{TWO_STEP_MESSAGE}; the sync needs an IDEXX account that signs in without it",
                reason="two_factor_required",
            )
        # The POST's redirect away from /login counts even if the next page bounces back (a
        # short-lived session is the data calls' problem, and they tell it apart).
        redirected_away = 300 <= posted.status < 400 and not _is_login_path(
            urljoin(posted.url, posted.headers.get("location", ""))
        )
        if redirected_away or not _is_login_path(page.url):
            if any(marker in name.lower() for name in cookies for marker in SESSION_COOKIE_MARKERS):
                return
            raise AuthenticationFailed(
                "IDEXX accepted the login form but set no session cookie (no cookie name contains "
                "'session' or 'auth'); the page may have changed",
                reason="login_page_changed",
            )
        error = page.locator(ERROR_BANNER)
        text = _redact(error.first.inner_text().strip(), credentials) if error.count() else ""
        if page.locator(",".join(INPUTS["password"])).count() == 0:
            raise AuthenticationFailed(
                "IDEXX stayed on the login page without its form; the page may have changed",
                reason="login_page_changed",
            )
        if "token" in text.lower():  # our form automation no longer satisfies the page
            raise AuthenticationFailed(f"IDEXX refused the login form: {text}", reason="login_page_changed")
        raise AuthenticationFailed(
            f"IDEXX rejected the credentials: {text or 'no error message shown'}", reason="invalid_credentials"
        )


def _skip_unneeded(route: Route, blocked: frozenset[str]) -> None:
    if route.request.resource_type in blocked:
        route.abort()
    else:
        route.fallback()


def _find(page: Page, name: str) -> Locator | None:
    """The first input matching one of the field's selectors; None if there is none."""
    for selector in INPUTS[name]:
        found = page.locator(selector)
        if found.count() > 0:
            return found.first
    return None


def _field(page: Page, name: str) -> Locator:
    """The field's input, or AuthenticationFailed saying the page changed."""
    found = _find(page, name)
    if found is not None:
        return found
    raise AuthenticationFailed(
        f"the IDEXX login page has no '{name}' field; the page may have changed", reason="login_page_changed"
    )


def _check_status(response: Response | None, what: str) -> None:
    if response is not None and response.status >= 500:
        raise PimsUnavailable(f"IDEXX {what} answered HTTP {response.status}")


def _is_login_path(url: str) -> bool:
    """``/login`` or below it, also under a base URL with a path (``https://host/base/login``)."""
    path = urlparse(url).path.rstrip("/").lower()
    return path.endswith("/login") or "/login/" in path


def _redact(message: str, credentials: Credentials) -> str:
    """The first line of a message (Playwright's, or the page's banner) with credentials blanked out."""
    line = (message.strip().splitlines() or [""])[0][:200]
    for secret in (credentials.password, credentials.username, credentials.company_id):
        if secret:
            line = line.replace(secret, "***")
    return line
