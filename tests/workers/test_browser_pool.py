"""BrowserPool's idle close gives back Chromium *and* Playwright's driver; the next login starts both.

Real Chromium (the lookup's headless choice), a real Playwright driver, real processes counted
with psutil under this test process.
"""

from __future__ import annotations

import os
import threading
import time

from pims_sync.models import Credentials
from pims_sync.providers.idexx.auth import IdexxAuthenticator
from workers.browser_pool import BrowserPool, browser_processes, driver_processes


def first_user(clinic: dict) -> Credentials:
    user = clinic["users"][0]
    return Credentials(username=user["username"], password=user["password"], company_id=clinic["company_id"])


def wait_until(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)


def test_idle_close_stops_the_driver_and_the_next_login_restarts_it(simulator, chromium_path):
    me = os.getpid()
    other_drivers = {p.pid for p in driver_processes(me)}  # e.g. the session's playwright_browser
    other_browsers = {p.pid for p in browser_processes(me)}

    def our_drivers() -> set[int]:
        return {p.pid for p in driver_processes(me)} - other_drivers

    def our_browsers() -> set[int]:
        return {p.pid for p in browser_processes(me)} - other_browsers

    credentials = first_user(simulator.clinics[0])
    pool = BrowserPool(executable_path=chromium_path, idle_close_s=0.5)
    auth = IdexxAuthenticator(simulator.url, browser_source=pool, timeout_ms=30_000)
    try:
        assert not our_drivers() and not our_browsers()  # nothing before the first login
        first = auth.login(credentials)
        assert any("session" in name.lower() for name in first)
        drivers = our_drivers()
        assert len(drivers) == 1 and our_browsers()

        pool.idle()
        wait_until(lambda: not our_browsers() and not our_drivers(), 20, "Chromium and the driver to stop")
        assert not pool.running

        helper_result: list[dict[str, str]] = []  # the next login may come from any thread
        helper = threading.Thread(target=lambda: helper_result.append(auth.login(credentials)))
        helper.start()
        helper.join(60)
        assert helper_result and any("session" in name.lower() for name in helper_result[0])
        assert pool.launches == 2
        restarted = our_drivers()
        assert len(restarted) == 1 and restarted.isdisjoint(drivers)  # a new driver, not the old one
    finally:
        pool.close()
    wait_until(lambda: not our_browsers() and not our_drivers(), 20, "close() to stop everything")


def test_a_login_cancels_a_pending_idle_close(simulator, chromium_path):
    credentials = first_user(simulator.clinics[0])
    pool = BrowserPool(executable_path=chromium_path, idle_close_s=2.0)
    auth = IdexxAuthenticator(simulator.url, browser_source=pool, timeout_ms=30_000)
    try:
        auth.login(credentials)
        pool.idle()
        auth.login(credentials)  # before the timer fires: it is cancelled, the browser stays
        time.sleep(2.5)
        assert pool.running and pool.launches == 1
    finally:
        pool.close()
