"""Login: a real browser gets in; a script that does not run the page's JS does not."""

from __future__ import annotations

import requests

from tests.fixtures.sim import XHR_HEADERS


def _browser_login(browser, sim, clinic, *, password=None):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{sim.url}/login")
    page.fill("input[name=company_id]", clinic["company_id"])
    page.fill("input[name=username]", clinic["username"])
    page.fill("input[name=password]", password if password is not None else clinic["password"])
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return context, page


def test_chromium_logs_in_and_captures_an_httponly_cookie(simulator, playwright_browser):
    clinic = simulator.clinic(0)
    context, page = _browser_login(playwright_browser, simulator, clinic)
    try:
        assert page.url == f"{simulator.url}/dashboard"
        assert page.locator("#dashboard").is_visible()
        cookies = {c["name"]: c for c in context.cookies()}
        assert cookies["neo_session"]["httpOnly"] is True
        # the captured cookie works for plain HTTP data calls, as the product uses it
        http = requests.Session()
        http.cookies.set("neo_session", cookies["neo_session"]["value"])
        response = http.get(f"{simulator.url}/schedule/getScheduleConfigs", headers=XHR_HEADERS, timeout=10)
        assert response.status_code == 200
        assert response.json()["slot_duration"] == 15
    finally:
        context.close()
    assert simulator.stats()["logins"] == {clinic["id"]: 1}


def test_bad_credentials_show_the_error_message(simulator, playwright_browser):
    clinic = simulator.clinic(1)
    context, page = _browser_login(playwright_browser, simulator, clinic, password="wrong")
    try:
        assert page.url.endswith("/login")
        assert "Invalid username or password" in page.locator(".error-message").inner_text()
        assert "neo_session" not in {c["name"] for c in context.cookies()}
    finally:
        context.close()
    stats = simulator.stats()
    assert stats["failed_logins"] == {clinic["id"]: 1}
    assert stats["logins_total"] == 0


def test_two_factor_account_gets_a_code_page(simulator, playwright_browser):
    clinic = simulator.clinic(0)
    two_factor = next(u for u in clinic["users"] if u["two_factor"])
    context, page = _browser_login(playwright_browser, simulator,
                                   {**clinic, "username": two_factor["username"]}, password=two_factor["password"])
    try:
        assert page.locator("input[name=code]").count() == 1
        assert "neo_session" not in {c["name"] for c in context.cookies()}
        page.fill("input[name=code]", "123456")
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert page.locator(".error-message").count() == 1
    finally:
        context.close()


def test_plain_requests_form_post_is_refused(simulator):
    clinic = simulator.clinic(0)
    http = requests.Session()
    page = http.get(f"{simulator.url}/login", timeout=10).text
    assert 'name="csrf_token" id="csrf_token" value=""' in page  # only the page's script fills it
    response = http.post(f"{simulator.url}/login", allow_redirects=False, timeout=10, data={
        "company_id": clinic["company_id"], "username": clinic["username"],
        "password": clinic["password"], "csrf_token": "",
    })
    assert response.status_code == 403
    assert 'class="error-message"' in response.text
    assert "neo_session" not in response.cookies
    assert simulator.stats()["logins_total"] == 0


def test_a_token_is_accepted_only_once(simulator):
    clinic = simulator.clinic(0)
    http = simulator.login_session(clinic)  # emulates the script: one good login
    assert http.get(f"{simulator.url}/dashboard", timeout=10).status_code == 200
    page = requests.get(f"{simulator.url}/login", timeout=10).text
    nonce = page.split('data-nonce="')[1].split('"')[0]
    form = {"company_id": clinic["company_id"], "username": clinic["username"], "password": clinic["password"],
            "csrf_token": nonce[::-1] + "." + str(len(nonce))}
    first = requests.post(f"{simulator.url}/login", data=form, allow_redirects=False, timeout=10)
    replay = requests.post(f"{simulator.url}/login", data=form, allow_redirects=False, timeout=10)
    assert first.status_code == 302 and first.headers["Location"] == "/dashboard"
    assert replay.status_code == 403


def test_logout_ends_the_session_on_the_server(simulator):
    http = simulator.login_session()
    cookie = http.cookies.get("neo_session")
    http.get(f"{simulator.url}/logout", timeout=10)
    replay = requests.get(f"{simulator.url}/schedule/getScheduleConfigs", cookies={"neo_session": cookie},
                          headers=XHR_HEADERS, allow_redirects=False, timeout=10)
    assert replay.status_code == 302 and replay.headers["Location"] == "/login"
