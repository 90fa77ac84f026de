"""/docs: Swagger UI from the packaged bundle, in a real Chromium against a real API process."""

from __future__ import annotations

import os

import requests
from playwright.sync_api import expect

from tests.conftest import TEST_ENCRYPTION_KEY
from tests.fixtures.api_process import API_ARGV, api_process, free_port

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# every operation block Swagger UI drew: (METHOD, path)
LISTED_JS = """els => els.map(e => {
  const path = e.querySelector('.opblock-summary-path');
  return [e.querySelector('.opblock-summary-method').textContent.trim(),
          (path.getAttribute('data-path') || path.textContent).replace(/\\u200b/g, '').trim()];
})"""


def _api_env(database_url: str, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDEXX_", "DATABASE", "SUPABASE", "REDIS"))}
    return {**env, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "IDEXX_ENCRYPTION_KEY": TEST_ENCRYPTION_KEY,
            "APP_ENV": "test"}


def test_docs_lists_every_operation_and_try_it_out_calls_with_the_key(
    playwright_browser, database_url, api_redis_url, api_redis, clinic, make_key, tmp_path
):
    key = make_key(clinic.id)
    port = free_port()
    argv = (*API_ARGV, "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--threads", "4")
    with api_process(_api_env(database_url, api_redis_url), port=port, log_path=tmp_path / "api.log",
                     argv=argv) as base:
        spec = requests.get(f"{base}/openapi.json", timeout=30).json()
        expected = sorted([m.upper(), path] for path, ops in spec["paths"].items() for m in ops if m in METHODS)
        assert len(expected) >= 8, "the document lists too few operations to prove anything"

        context = playwright_browser.new_context()
        elsewhere: list[str] = []

        def only_this_api(route):  # no CDN: a request to any other host is recorded and refused
            if route.request.url.startswith(base + "/"):
                route.continue_()
            else:
                elsewhere.append(route.request.url)
                route.abort()

        context.route("**/*", only_this_api)
        try:
            page = context.new_page()
            page.goto(f"{base}/docs")
            page.wait_for_selector(".opblock", timeout=60_000)
            assert sorted(page.eval_on_selector_all(".opblock", LISTED_JS)) == expected

            page.click("button.authorize")
            page.locator(".modal-ux input").first.fill(key.raw)
            page.locator(".modal-ux button.authorize").click()
            page.locator(".modal-ux button.btn-done").click()

            block = page.locator(".opblock", has=page.locator('.opblock-summary-path[data-path="/api/sync/history"]'))
            block.locator(".opblock-summary").first.click()
            block.locator("button.try-out__btn").click()
            with page.expect_response(lambda r: r.url.startswith(f"{base}/api/sync/history")) as answer:
                block.locator("button.execute").click()
            response = answer.value
            assert response.request.headers.get("x-api-key") == key.raw
            assert response.status == 200, response.text()
            assert response.json()["success"] is True
            shown = block.locator(".live-responses-table tbody tr.response .response-col_status").first
            expect(shown).to_have_text("200")  # the page shows the answer it got
        finally:
            context.close()
        assert elsewhere == [], f"/docs reached outside the API: {elsewhere}"


def test_docs_serves_the_bundle_with_a_strict_policy_and_nothing_else(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "http" not in csp
    assert b"/docs/swagger-ui-bundle.js" in page.data and b"//" not in page.data.replace(b"<!DOCTYPE", b"")
    bundle = client.get("/docs/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.data) > 100_000 and b"SwaggerUIBundle" in bundle.data
    init = client.get("/docs/init.js")
    assert init.status_code == 200 and b'url: "/openapi.json"' in init.data and b"validatorUrl: null" in init.data
    for refused in ("/docs/index.html", "/docs/swagger-ui.js.map", "/docs/..%2Fpyproject.toml"):
        assert client.get(refused).status_code == 404, refused
