"""The login page, the way IDEXX Neo's needs a real browser.

The form's hidden ``csrf_token`` is empty in the served HTML; an inline script fills it
from the form's ``data-nonce`` when the page loads. The server accepts each nonce once, so
a client that posts the form without running the page (plain ``requests``) is refused
with 403, while Chromium driven by Playwright signs in.

The page varies per clinic the way IDEXX's pages do (IDEXX_FACTS.md, "Login page"): the
company field is ``company_id`` or ``companyId``, errors show in ``.error-message`` or
``.alert-danger``, and a two-step page asks for ``code`` or ``otp``. Before the company is
known only the clinic's own mount (``/c/<n>/login``, see app.py) can choose the form; the
root ``/login`` serves the first variant. A POST accepts either company field name.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import TYPE_CHECKING

from flask import Blueprint, Response, current_app, make_response, redirect, request
from flask.typing import ResponseReturnValue

from .data import Clinic
from .dialects import Dialect
from .sessions import COOKIE_NAME

if TYPE_CHECKING:
    from .app import SimulatorState

bp = Blueprint("login", __name__)

TOKEN_ERROR = "Your session token is invalid or has expired. Reload the page and try again."
CREDENTIALS_ERROR = "Invalid username or password"
CODE_ERROR = "Invalid verification code"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:28rem;margin:4rem auto}} label{{display:block;margin:.6rem 0}}
.error-message,.alert-danger{{color:#b00020;border:1px solid #b00020;padding:.5rem}}</style></head>
<body><h1>IDEXX Neo</h1><p class="subtitle">Practice management (simulator)</p>
{body}
</body></html>"""

_FORM = """{error}
<form id="login-form" method="post" action="{root}/login" data-nonce="{nonce}">
  <label>Company ID <input type="text" name="{company_field}" id="{company_field}" value="{company_id}"></label>
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
<form id="two-factor-form" method="post" action="{root}/login/verify">
  <label>Code <input type="text" name="{field}" id="{field}" inputmode="numeric" autocomplete="one-time-code"></label>
  <button type="submit">Verify</button>
</form>"""


def _state() -> SimulatorState:
    state: SimulatorState = current_app.extensions["pims_simulator"]
    return state


def _error(message: str | None, banner: str) -> str:
    return f'<div class="{banner}" role="alert">{html.escape(message)}</div>' if message else ""


def _root() -> str:
    return request.script_root


def page_dialect(clinic: Clinic | None = None) -> Dialect:
    """The clinic's dialect, else the mount's clinic's, else the first variant of everything."""
    state = _state()
    clinic = clinic or state.mounted_clinic()
    return state.dialect(clinic) if clinic is not None else Dialect()


def login_page(*, error: str | None = None, status: int = 200, company_id: str = "", username: str = "",
               clinic: Clinic | None = None) -> Response:
    dialect = page_dialect(clinic)
    nonce = _state().sessions.issue_nonce()
    body = _FORM.format(error=_error(error, dialect.error_banner), nonce=nonce, root=_root(),
                        company_field=dialect.company_field, company_id=html.escape(company_id),
                        username=html.escape(username))
    response = make_response(_PAGE.format(title="IDEXX Neo — Sign in", body=body), status)
    response.headers["Cache-Control"] = "no-store"
    return response


def two_step_page(field: str, *, error: str | None = None, banner: str = "error-message") -> Response:
    body = _TWO_FACTOR.format(error=_error(error, banner), root=_root(), field=field)
    return make_response(_PAGE.format(title="IDEXX Neo — Verify", body=body), 200)


def posted_company(form: Mapping[str, str]) -> str:
    return (form.get("company_id") or form.get("companyId") or "").strip()


@bp.get("/", endpoint="root")
def root() -> ResponseReturnValue:
    return redirect(_root() + "/dashboard")


@bp.route("/login", methods=["GET", "POST"], endpoint="login")
def login_view() -> ResponseReturnValue:
    if request.method == "GET":
        return login_page()
    state = _state()
    form = request.form
    company_id, username = posted_company(form), form.get("username", "").strip()
    clinic = state.clinic_by_company(company_id)
    shown = clinic or state.mounted_clinic()  # whose page the answer is
    if not state.sessions.redeem_token(form.get("csrf_token", "")):
        state.stats.login(clinic.id if clinic else "unknown", ok=False)
        return login_page(error=TOKEN_ERROR, status=403, company_id=company_id, username=username, clinic=shown)
    user = None
    if clinic is not None:
        user = next((u for u in clinic.users
                     if u.username == username and u.password == form.get("password", "")), None)
    if clinic is None or user is None:
        state.stats.login(clinic.id if clinic else "unknown", ok=False)
        return login_page(error=CREDENTIALS_ERROR, company_id=company_id, username=username, clinic=shown)
    dialect = state.dialect(clinic)
    if user.two_factor or dialect.two_step != "off":
        field = dialect.two_step if dialect.two_step != "off" else "code"
        return two_step_page(field, banner=dialect.error_banner)
    sid = state.sessions.create(clinic.id, user.username)
    state.stats.login(clinic.id, ok=True)
    response = redirect(_root() + "/dashboard")
    response.set_cookie(COOKIE_NAME, sid, httponly=True, samesite="Lax", path="/")
    return response


@bp.post("/login/verify", endpoint="login_verify")
def login_verify() -> ResponseReturnValue:
    """Two-factor accounts cannot be automated; every code is refused (a simulator choice)."""
    field = "otp" if "otp" in request.form else "code"
    return two_step_page(field, error=CODE_ERROR, banner=page_dialect().error_banner)


@bp.get("/dashboard", endpoint="dashboard")
def dashboard() -> ResponseReturnValue:
    state = _state()
    session = state.sessions.touch(request.cookies.get(COOKIE_NAME))
    if session is None:
        return redirect(_root() + "/login")
    clinic = state.world.clinic(session.clinic_id)
    if clinic is None:  # a session outlives nothing but a reset, which keeps the clinics; still
        return redirect(_root() + "/login")
    body = (f'<div id="dashboard" data-company="{html.escape(clinic.company_id)}">'
            f"<h2>Welcome, {html.escape(session.username)}</h2><p>{html.escape(clinic.name)}</p>"
            f'<nav><a href="{_root()}/logout" id="logout">Sign out</a></nav></div>')
    return make_response(_PAGE.format(title="IDEXX Neo — Dashboard", body=body), 200)


@bp.route("/logout", methods=["GET", "POST"], endpoint="logout")
def logout() -> ResponseReturnValue:
    _state().sessions.drop(request.cookies.get(COOKIE_NAME))
    response = redirect(_root() + "/login")
    response.delete_cookie(COOKIE_NAME, path="/")
    return response
