"""The simulator's Flask app factory and its shared run-time state.

Faults are applied in one place, a before/after-request pair, so every endpoint misbehaves
the same way a proxy in front of the real PIMS would: delay, hang, an error page instead of
the answer, or a JSON body cut short. The control API under /__sim/ is exempt.

Clinic mounts: every path is also served under ``/c/<clinic number>``, the clinic's own
base URL. Real clinics can live on different IDEXX hosts whose login pages differ; a mount is
how one simulator gives each clinic its own login page (its dialect) before the company id is
typed. Data calls behave the same under any mount: the session decides the clinic.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from flask import Flask, Response, current_app, g, make_response, request
from flask.json.provider import DefaultJSONProvider

from . import control, endpoints, login
from .data import Clinic, World
from .dialects import Dialect, seeded
from .faults import BODY_KINDS, RESPONSE_KINDS, Fault, FaultSet
from .records import Records
from .sessions import COOKIE_NAME, SessionStore
from .stats import Stats

EXTENSION = "pims_simulator"
MOUNT = re.compile(r"^(/c/\d+)(/.*)?$")


@dataclass
class Config:
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    session_idle_s: float = 2 * 3600
    session_max_s: float = 12 * 3600


@dataclass
class SimulatorState:
    """Everything mutable, each part behind its own lock."""

    world: World
    config: Config
    initial_config: Config
    initial_faults: list[dict[str, Any]]
    initial_dialects: dict[int, dict[str, Any]] = field(default_factory=dict)
    records: Records = field(init=False)
    sessions: SessionStore = field(init=False)
    faults: FaultSet = field(init=False)
    stats: Stats = field(default_factory=Stats)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.records = Records(self.world)
        self.sessions = SessionStore(idle_s=self.config.session_idle_s, max_s=self.config.session_max_s)
        self.faults = FaultSet(seed=self.world.seed)
        self._rng = random.Random(self.world.seed)
        self._rng_lock = threading.Lock()
        self._company = {c.company_id: c for c in self.world.clinics}
        for spec in self.initial_faults:
            self.faults.add(spec)
        self._dialect_lock = threading.Lock()
        self._reset_dialects()

    # -- dialects -------------------------------------------------------------------------------
    def _reset_dialects(self) -> None:
        dialects = {}
        for clinic in self.world.clinics:
            dialects[clinic.id] = seeded(clinic.number).changed(self.initial_dialects.get(clinic.number, {}))
        with self._dialect_lock:
            self._dialects = dialects

    def dialect(self, clinic: Clinic) -> Dialect:
        with self._dialect_lock:
            return self._dialects[clinic.id]

    def set_dialect(self, clinic: Clinic, changes: dict[str, Any]) -> Dialect:
        """Apply ``changes`` (question -> option); DialectError (a ValueError) names what is wrong."""
        with self._dialect_lock:
            self._dialects[clinic.id] = self._dialects[clinic.id].changed(changes)
            return self._dialects[clinic.id]

    def mounted_clinic(self) -> Clinic | None:
        """The clinic whose mount (``/c/<n>``) this request came through, if any."""
        number = request.script_root.rsplit("/", 1)[-1] if request.script_root.startswith("/c/") else ""
        return self.world.clinic_by_number(int(number)) if number.isdigit() else None

    def clinic_by_company(self, company_id: str) -> Clinic | None:
        return self._company.get(company_id)

    def configure(self, **changes: float) -> None:
        unknown = set(changes) - set(vars(self.config))
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}; use {sorted(vars(self.config))}")
        for key, value in changes.items():
            if not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{key} must be a number >= 0")
            setattr(self.config, key, float(value))
        self.sessions.idle_s, self.sessions.max_s = self.config.session_idle_s, self.config.session_max_s

    def config_json(self) -> dict[str, float]:
        return dict(vars(self.config))

    def reset(self) -> None:
        """Back to the start: stats, faults, mutations and settings (sessions survive)."""
        self.stats.reset()
        self.faults.clear()
        for spec in self.initial_faults:
            self.faults.add(spec)
        self.records.reset()
        self._reset_dialects()
        self.configure(**vars(self.initial_config))

    def jitter(self, ms: float) -> float:
        with self._rng_lock:
            return self._rng.uniform(0, ms) if ms > 0 else 0.0

    def wait(self, seconds: float) -> None:
        """Sleep, but wake at once when the server stops (so a hang never blocks shutdown)."""
        if seconds > 0:
            self.stopping.wait(seconds)


def create_app(world: World | None = None, *, seed: int = 42, clinics: int = 2,
               appointments_per_day: int | None = None, latency_ms: float = 0, jitter_ms: float = 0,
               session_idle_s: float = 2 * 3600, session_max_s: float = 12 * 3600,
               faults: list[dict[str, Any]] | None = None, today: date | None = None,
               dialects: dict[int, dict[str, Any]] | None = None) -> Flask:
    """A simulator app; pass a `World` or let it build one from seed/clinics/appointments_per_day.

    ``today`` pins the date that splits past (finalised) from future (booked) appointments;
    by default it is each clinic's local date when the app is made. ``dialects`` maps a clinic
    number to dialect changes over its seeded default (e.g. ``{2: {"calendarEnvelope": "bare"}}``).
    """
    world = world or World(seed=seed, clinics=clinics, appointments_per_day=appointments_per_day, today=today)
    config = Config(latency_ms=latency_ms, jitter_ms=jitter_ms,
                    session_idle_s=session_idle_s, session_max_s=session_max_s)
    state = SimulatorState(world=world, config=config, initial_config=Config(**vars(config)),
                           initial_faults=list(faults or []), initial_dialects=dict(dialects or {}))
    for number, changes in state.initial_dialects.items():  # fail at start, not on first request
        if world.clinic_by_number(number) is None:
            raise ValueError(f"dialects: no clinic number {number}")
        seeded(number).changed(changes)
    app = Flask(__name__)
    app.json = _JsonProvider(app)
    app.extensions[EXTENSION] = state
    app.register_blueprint(login.bp)
    app.register_blueprint(endpoints.bp)
    app.register_blueprint(control.bp)
    app.before_request(_before)
    app.after_request(_after)
    app.wsgi_app = _ClinicMounts(app.wsgi_app)  # type: ignore[method-assign]  # Flask's documented middleware hook
    return app


class _JsonProvider(DefaultJSONProvider):
    """JSON in the order the endpoints build it, non-ASCII names as they are (like IDEXX)."""

    sort_keys = False
    ensure_ascii = False


class _ClinicMounts:
    """WSGI: ``/c/<n>/rest`` is served as ``/rest`` with ``/c/<n>`` as the script root."""

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        match = MOUNT.match(environ.get("PATH_INFO", ""))
        if match:
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + match.group(1)
            environ["PATH_INFO"] = match.group(2) or "/"
        return self.wsgi_app(environ, start_response)


def _endpoint_name() -> str:
    rule = request.url_rule
    return rule.endpoint.rsplit(".", 1)[-1] if rule is not None else "unknown"


def _request_clinic(state: SimulatorState, endpoint: str) -> str | None:
    session = state.sessions.peek(request.cookies.get(COOKIE_NAME))
    if session is not None:
        return session.clinic_id
    if endpoint == "login" and request.method == "POST":
        clinic = state.clinic_by_company(login.posted_company(request.form))
        return clinic.id if clinic else None
    return None


def _before() -> Response | None:
    if request.path.startswith("/__sim"):
        return None
    state = _state()
    if request.script_root and state.mounted_clinic() is None:
        return make_response(_html("404 Not Found", "No such clinic."), 404)
    endpoint = _endpoint_name()
    clinic_id = _request_clinic(state, endpoint)
    state.stats.request(endpoint, clinic_id)
    fired = state.faults.take(endpoint, clinic_id)
    for fault in fired:
        state.stats.fault(fault.kind)
    delay_ms = state.config.latency_ms + state.jitter(state.config.jitter_ms)
    for fault in fired:
        if fault.kind in ("latency", "slow_login"):
            delay_ms += fault.params["ms"] + state.jitter(fault.params.get("jitter_ms", 0))
    state.wait(delay_ms / 1000)
    for fault in fired:
        if fault.kind == "hang":
            state.wait(float(fault.params["seconds"]))
    g.body_faults = [f.kind for f in fired if f.kind in BODY_KINDS]
    for fault in fired:
        if fault.kind in RESPONSE_KINDS:
            return _fault_response(state, fault)
    return None


def _after(response: Response) -> Response:
    if request.path.startswith("/__sim"):
        return response
    kinds = getattr(g, "body_faults", [])
    if kinds and response.mimetype == "application/json":
        body = response.get_data()
        if "truncated_json" in kinds:
            response.set_data(body[: max(1, len(body) // 2)])
        else:
            response.set_data(b'{"events": [{"id": 1,, "start": "2026-' + body[:40] + b"}")
    _state().stats.response(response.status_code)
    return response


def _fault_response(state: SimulatorState, fault: Fault) -> Response:
    if fault.kind == "rate_limit":
        response = make_response(_html("429 Too Many Requests", "Slow down."), 429)
        response.headers["Retry-After"] = str(int(fault.params["retry_after_s"]))
        return response
    if fault.kind == "html":
        return make_response(_html("IDEXX Neo", "We are performing scheduled maintenance. Please try again later."),
                             200)
    with state._rng_lock:
        status = fault.status(state._rng)
    titles = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
    return make_response(_html(f"{status} {titles[status]}", "The server could not complete your request."), status)


def _html(title: str, text: str) -> str:
    return (f"<!doctype html><html><head><title>{title}</title></head>"
            f"<body><h1>{title}</h1><p>{text}</p></body></html>")


def _state() -> SimulatorState:
    state: SimulatorState = current_app.extensions[EXTENSION]
    return state
