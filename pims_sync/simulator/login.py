"""The login page, the way IDEXX Neo's needs a real browser.

The form's hidden ``csrf_token`` is empty in the served HTML; an inline script fills it
from the form's ``data-nonce`` when the page loads. The server accepts each nonce once, so
a client that posts the form without running the page (plain ``requests``) is refused
with 403, while Chromium driven by Playwright signs in.
"""

from __future__ import annotations

import html

from flask import Blueprint, current_app, make_response, redirect, request

from .sessions import COOKIE_NAME

bp = Blueprint("login", __name__)

TOKEN_ERROR = "Your session token is invalid or has expired. Reload the page and try again."
CREDENTIALS_ERROR = "Invalid username or password"
CODE_ERROR = "Invalid verification code"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:28rem;margin:4rem auto}} label{{display:block;margin:.6rem 0}}
.error-message{{color:#b00020;border:1px solid #b00020;padding:.5rem}}</style></head>
<body><h1>IDEXX Neo</h1><p class="subtitle">Practice management (simulator)</p>
{body}
</body></html>"""

_FORM = """{error}
<form id="login-form" method="post" action="/login" data-nonce="{nonce}">
  <label>Company ID <input type="text" name="company_id" id="company_id" value="{company_id}"></label>
  <label>Username <input type="text" name="username" id="username" value="{username}" autocomplete="username"></label>
  <label>Password <input type="password" name="password" id="password" autocomplete="current-password"></label>
  <input type="hidden" name="csrf_token" id="csrf_token" value="">
  <button type="submit" id="login-button">Sign in</button>
</form>
<script>
  (function () {{
    var form = document.getElementById("login-form");
    var nonce = form.getAttribute("data-nonce");
    document.getElementById("csrf_token").value = nonce.split("").reverse().join("") + "." + nonce.length;
  }})();
</script>"""

_TWO_FACTOR = """<h2>Two-step verification</h2>
{error}
<p>Enter the 6-digit code from your authenticator app.</p>
<form id="two-factor-form" method="post" action="/login/verify">
  <label>Code <input type="text" name="code" id="code" inputmode="numeric" autocomplete="one-time-code"></label>
  <button type="submit">Verify</button>
</form>"""


def _state():
    return current_app.extensions["pims_simulator"]


def _error(message: str | None) -> str:
    return f'<div class="error-message" role="alert">{html.escape(message)}</div>' if message else ""


def login_page(*, error: str | None = None, status: int = 200, company_id: str = "", username: str = ""):
    nonce = _state().sessions.issue_nonce()
    body = _FORM.format(error=_error(error), nonce=nonce, company_id=html.escape(company_id),
                        username=html.escape(username))
    response = make_response(_PAGE.format(title="IDEXX Neo — Sign in", body=body), status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/", endpoint="root")
def root():
    return redirect("/dashboard")


@bp.route("/login", methods=["GET", "POST"], endpoint="login")
def login_view():
    if request.method == "GET":
        return login_page()
    state = _state()
    form = request.form
    company_id, username = form.get("company_id", "").strip(), form.get("username", "").strip()
    clinic = state.clinic_by_company(company_id)
    if not state.sessions.redeem_token(form.get("csrf_token", "")):
        state.stats.login(clinic.id if clinic else "unknown", ok=False)
        return login_page(error=TOKEN_ERROR, status=403, company_id=company_id, username=username)
    user = None
    if clinic is not None:
        user = next((u for u in clinic.users
                     if u.username == username and u.password == form.get("password", "")), None)
    if user is None:
        state.stats.login(clinic.id if clinic else "unknown", ok=False)
        return login_page(error=CREDENTIALS_ERROR, company_id=company_id, username=username)
    if user.two_factor:
        body = _TWO_FACTOR.format(error="")
        return make_response(_PAGE.format(title="IDEXX Neo — Verify", body=body), 200)
    sid = state.sessions.create(clinic.id, user.username)
    state.stats.login(clinic.id, ok=True)
    response = redirect("/dashboard")
    response.set_cookie(COOKIE_NAME, sid, httponly=True, samesite="Lax", path="/")
    return response


@bp.post("/login/verify", endpoint="login_verify")
def login_verify():
    """Two-factor accounts cannot be automated; every code is refused (a simulator choice)."""
    body = _TWO_FACTOR.format(error=_error(CODE_ERROR))
    return make_response(_PAGE.format(title="IDEXX Neo — Verify", body=body), 200)


@bp.get("/dashboard", endpoint="dashboard")
def dashboard():
    state = _state()
    session = state.sessions.touch(request.cookies.get(COOKIE_NAME))
    if session is None:
        return redirect("/login")
    clinic = state.world.clinic(session.clinic_id)
    body = (f'<div id="dashboard" data-company="{html.escape(clinic.company_id)}">'
            f"<h2>Welcome, {html.escape(session.username)}</h2><p>{html.escape(clinic.name)}</p>"
            '<nav><a href="/logout" id="logout">Sign out</a></nav></div>')
    return make_response(_PAGE.format(title="IDEXX Neo — Dashboard", body=body), 200)


@bp.route("/logout", methods=["GET", "POST"], endpoint="logout")
def logout():
    _state().sessions.drop(request.cookies.get(COOKIE_NAME))
    response = redirect("/login")
    response.delete_cookie(COOKIE_NAME, path="/")
    return response
