"""Login: a real browser gets in; a script that does not run the page's JS does not; per-clinic pages."""

from __future__ import annotations

import requests

from tests.fixtures.sim import XHR_HEADERS


def _browser_login(browser, sim, clinic, *, password=None, mount="", company_field="company_id"):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{sim.url}{mount}/login")
    page.fill(f"input[name={company_field}]", clinic["company_id"])
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
        assert response.json()["slotDuration"] == 15
    finally:
        context.close()
    assert simulator.stats()["logins"] == {clinic["id"]: 1}


def test_bad_credentials_show_the_error_message_in_the_clinics_banner(simulator, playwright_browser):
    for clinic, banner in ((simulator.clinic(0), ".error-message"), (simulator.clinic(1), ".alert-danger")):
        assert clinic["dialect"]["errorBanner"] == banner[1:]
        context, page = _browser_login(playwright_browser, simulator, clinic, password="wrong")
        try:
            assert page.url.endswith("/login")
            assert "Invalid username or password" in page.locator(banner).inner_text()
            other = ".alert-danger" if banner == ".error-message" else ".error-message"
            assert page.locator(other).count() == 0
            assert "neo_session" not in {c["name"] for c in context.cookies()}
        finally:
            context.close()
    stats = simulator.stats()
    assert stats["failed_logins"] == {simulator.clinic(0)["id"]: 1, simulator.clinic(1)["id"]: 1}
    assert stats["logins_total"] == 0


def test_a_clinics_mount_serves_its_login_page(simulator, playwright_browser):
    clinic = simulator.clinic(1)
    assert clinic["path"] == "/c/2" and clinic["dialect"]["companyField"] == "companyId"
    page_html = requests.get(f"{simulator.url}/c/2/login", timeout=10).text
    assert 'name="companyId"' in page_html and 'name="company_id"' not in page_html
    assert 'action="/c/2/login"' in page_html
    assert 'name="company_id"' in requests.get(f"{simulator.url}/login", timeout=10).text  # the root: first variant
    context, page = _browser_login(playwright_browser, simulator, clinic, mount="/c/2", company_field="companyId")
    try:
        assert page.url == f"{simulator.url}/c/2/dashboard"
        assert "neo_session" in {c["name"] for c in context.cookies()}
    finally:
        context.close()
    assert simulator.stats()["logins"] == {clinic["id"]: 1}
    assert requests.get(f"{simulator.url}/c/9/login", timeout=10).status_code == 404


def test_the_company_field_follows_the_dialect(simulator):
    simulator.control("clinics/1/dialect", {"companyField": "companyId"}, method="PUT")
    assert 'name="companyId"' in requests.get(f"{simulator.url}/c/1/login", timeout=10).text
    simulator.reset()
    assert 'name="company_id"' in requests.get(f"{simulator.url}/c/1/login", timeout=10).text


def test_a_clinic_with_two_step_asks_every_user_for_its_field(simulator, playwright_browser):
    clinic = simulator.clinic(0)
    for field in ("otp", "code"):
        simulator.control("clinics/1/dialect", {"twoStep": field}, method="PUT")
        context, page = _browser_login(playwright_browser, simulator, clinic)
        try:
            assert page.locator(f"input[name={field}]").count() == 1
            assert "neo_session" not in {c["name"] for c in context.cookies()}
            page.fill(f"input[name={field}]", "123456")
            page.click("button[type=submit]")
            page.wait_for_load_state()
            assert page.locator(".error-message").count() == 1 and page.locator(f"input[name={field}]").count() == 1
        finally:
            context.close()
    assert simulator.stats()["logins_total"] == 0
    simulator.reset()  # back to the seeded dialect: no two-step for the sync user
    http = simulator.login_session(clinic)
    assert http.get(f"{simulator.url}/dashboard", timeout=10).status_code == 200


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
