"""The simulator's Flask app: token endpoint, list endpoints, /v3/siteInformation, /__sim/ control.

Every data call goes: bearer token (401 ``messages`` envelope when missing, unknown or expired)
-> site still alive (404 for an expired trial site) -> throttle (429 + x-ratelimit-* headers)
-> injected fault, if one matches -> latency -> filters, paging, envelope.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue

from .data import Site, build_sites
from .limits import Throttle
from .query import BadRequest, envelope, messages, paging, parse_filters, select

EXTENSION = "ezyvet_simulator"
ENDPOINTS = ("/v1/appointmentstatus", "/v1/appointmenttype", "/v1/species", "/v1/resource", "/v1/contact",
             "/v1/contactdetail", "/v1/animal", "/v1/consult", "/v2/appointment")
TOKEN_PATH = "/v1/oauth/access_token"
DEFAULT_TOKEN_TTL_S = 43_200  # 12 h (EZYVET_FACTS.md §1)
REQUEST_LOG_SIZE = 2_000


@dataclass
class State:
    sites: list[Site]
    throttle: Throttle
    token_ttl_s: int = DEFAULT_TOKEN_TTL_S
    latency_ms: float = 0.0
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (site uid, expires)
    faults: list[dict[str, Any]] = field(default_factory=list)
    # the latest data calls, as sent: {"site", "endpoint", "params"} (GET /__sim/requests)
    request_log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=REQUEST_LOG_SIZE))
    stats: dict[str, Any] = field(default_factory=lambda: {"tokens_issued": Counter(), "requests": Counter(),
                                                 "rate_limited": 0, "max_limit_asked": 0})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def site(self, uid: str) -> Site | None:
        return next((s for s in self.sites if s.uid == uid), None)


def create_app(*, seed: int = 7, sites: int = 2, appointments_per_day: int = 6, days_back: int = 3,
               days_ahead: int = 7, per_endpoint: int = 60, per_site: int = 180, per_s: float = 60.0,
               token_ttl_s: int = DEFAULT_TOKEN_TTL_S,
               latency_ms: float = 0.0, today: date | None = None) -> Flask:
    app = Flask(__name__)
    state = State(build_sites(seed=seed, sites=sites, appointments_per_day=appointments_per_day,
                              days_back=days_back, days_ahead=days_ahead, today=today),
                  Throttle(per_endpoint=per_endpoint, per_site=per_site, per_s=per_s), token_ttl_s=token_ttl_s,
                  latency_ms=latency_ms)
    app.extensions[EXTENSION] = state

    def fail(status: int, text: str, headers: dict[str, str] | None = None,
             type_: str = "InvalidRequestException") -> Response:
        response = jsonify(messages(text, type_))
        response.status_code = status
        response.headers.update(headers or {})
        return response

    @app.post(TOKEN_PATH)
    def token() -> ResponseReturnValue:
        body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
        body = body if isinstance(body, dict) else {}
        if body.get("grant_type") != "client_credentials":
            return fail(400, "The grant type is unsupported.", type_="InvalidRequestException")
        site = next((s for s in state.sites if s.client_id == body.get("client_id")), None)
        wanted = body.get("site_uid")
        if wanted and state.site(wanted) is None:
            return fail(404, "Not Found", type_="NotFoundException")
        if (site is None or not secrets.compare_digest(site.client_secret, str(body.get("client_secret", "")))
                or site.partner_id != body.get("partner_id") or (wanted and wanted != site.uid)):
            return fail(401, "Client authentication failed. Check the \"client_id\" and \"client_secret\" parameters.")
        if site.expired:
            return fail(404, "Not Found", type_="NotFoundException")
        now = time.time()
        claims = {"iss": "auth.ezyvet.com", "site_uid": site.uid, "iat": int(now), "exp": int(now) + state.token_ttl_s,
                  "jti": secrets.token_hex(8), "scopes": str(body.get("scope", "")).split(",")}
        raw = ".".join(base64.urlsafe_b64encode(json.dumps(p).encode()).decode().rstrip("=")
                       for p in ({"typ": "JWT", "alg": "none"}, claims)) + "." + secrets.token_urlsafe(16)
        with state.lock:
            state.tokens[raw] = (site.uid, now + state.token_ttl_s)
            state.stats["tokens_issued"][site.uid] += 1
        return jsonify({"access_token": raw, "token_type": "Bearer", "expires_in": state.token_ttl_s})

    def authorised() -> Site | Response:
        """The token's site, or the refusal to answer with."""
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        with state.lock:
            entry = state.tokens.get(token)
        if entry is None or entry[1] <= time.time():
            return fail(401, "Invalid access token. Check the \"access token\" parameter.")
        site = state.site(entry[0])
        if site is None or site.expired:
            return fail(404, "Not Found", type_="NotFoundException")
        return site

    def gate(site: Site, endpoint: str) -> tuple[Response | None, dict[str, str]]:
        """Throttle, then any injected fault; returns (response or None, rate-limit headers)."""
        allowed, headers = state.throttle.take(site.uid, endpoint)
        with state.lock:
            state.stats["requests"][f"{site.uid} {endpoint}"] += 1
            state.request_log.append({"site": site.uid, "endpoint": endpoint, "params": request.args.to_dict()})
            if not allowed:
                state.stats["rate_limited"] += 1
        if not allowed:
            return fail(429, "Too many requests.", headers, type_="TooManyRequestsException"), headers
        with state.lock:
            fault = next((f for f in state.faults if f["path"] in ("*", endpoint) and f["remaining"] > 0), None)
            if fault is not None:
                fault["remaining"] -= 1
        if fault is not None:
            return fail(fault["status"], fault.get("text", "Injected fault."), headers,
                        type_=fault.get("type", "InternalError")), headers
        if state.latency_ms:
            time.sleep(state.latency_ms / 1000)
        return None, headers

    def listing(endpoint: str) -> ResponseReturnValue:
        site = authorised()
        if not isinstance(site, Site):
            return site
        failed, headers = gate(site, endpoint)
        if failed is not None:
            return failed
        try:
            page, limit = paging(request.args)
            rows = select(site.tables[endpoint], parse_filters(request.args))
        except BadRequest as e:
            return fail(400, str(e))
        with state.lock:
            state.stats["max_limit_asked"] = max(state.stats["max_limit_asked"], int(request.args.get("limit", 10)))
        response = jsonify(envelope(endpoint.rsplit("/", 1)[1], rows, page, limit))
        response.headers.update(headers)
        response.headers["x-item-limit-per-page"] = "200"
        return response

    for endpoint in ENDPOINTS:
        app.add_url_rule(endpoint, endpoint, lambda e=endpoint: listing(e))

    @app.get("/v3/siteInformation")
    def site_information() -> ResponseReturnValue:
        site = authorised()
        if not isinstance(site, Site):
            return site
        failed, headers = gate(site, "/v3/siteInformation")
        if failed is not None:
            return failed
        info = {"id": str(site.number), "site_uid": site.uid, "name": site.name, "timezone": site.timezone}
        return jsonify({"meta": {"items_page": 1, "items_page_total": 1, "items_total": 1},
                        "items": [{"siteinformation": info}]})

    @app.errorhandler(404)
    def not_found(_e: Exception) -> ResponseReturnValue:
        return fail(404, "Not Found", type_="NotFoundException")

    from .control import blueprint

    app.register_blueprint(blueprint(state))
    return app
