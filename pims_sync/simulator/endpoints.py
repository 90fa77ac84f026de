"""IDEXX Neo's internal JSON endpoints, as the web app's own pages call them.

Every data call needs a live session cookie, else it gets what IDEXX gives a browser whose
session ended: a 302 to /login with an HTML body, never JSON. It must also carry
``X-Requested-With: XMLHttpRequest`` (the app's XHR marker), else 400 HTML.

The views only pick records and parameters; `shapes.py` renders the answer in the dialect of
the session's clinic (`dialects.py`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ParamSpec

from flask import Blueprint, Response, current_app, g, jsonify, make_response, redirect, request
from flask.typing import ResponseReturnValue

from ..errors import NotFound
from . import people, shapes
from .records import parse_wall
from .sessions import COOKIE_NAME

if TYPE_CHECKING:
    from .app import SimulatorState

P = ParamSpec("P")
bp = Blueprint("data", __name__)

PER_PAGE = 20
MAX_RANGE_DAYS = 366
SEARCH_FORMATS = ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y")
SEARCH_ORDERS = {"consultedAt:asc": False, "consultedAt:desc": True}


def _state() -> SimulatorState:
    state: SimulatorState = current_app.extensions["pims_simulator"]
    return state


def data_endpoint(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
    """Session first (302 /login), then the XHR header (400 HTML), then the clinic's data."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        state = _state()
        session = state.sessions.touch(request.cookies.get(COOKIE_NAME))
        if session is None:
            return redirect(request.script_root + "/login")
        if request.headers.get("X-Requested-With") != "XMLHttpRequest":
            return make_response(
                "<!doctype html><html><body><h1>400 Bad Request</h1>"
                "<p>This resource is only available to the application.</p></body></html>", 400)
        g.clinic = state.world.clinic(session.clinic_id)
        g.dialect = state.dialect(g.clinic)
        return view(*args, **kwargs)

    return wrapper


def bad_request(message: str) -> tuple[Response, int]:
    return jsonify({"error": message}), 400


@bp.get("/appointments/getCalendarEventData", endpoint="calendar")
@data_endpoint
def calendar() -> ResponseReturnValue:
    try:
        start = parse_wall(request.args["start"])
        end = parse_wall(request.args["end"])
    except KeyError:
        return bad_request("start and end are required (clinic-local 'YYYY-MM-DD HH:MM:SS')")
    except ValueError as e:
        return bad_request(str(e))
    if end - start > timedelta(days=MAX_RANGE_DAYS):
        return bad_request(f"the range may span at most {MAX_RANGE_DAYS} days")
    try:
        events = _state().records.events(g.clinic, start, end)
    except ValueError as e:
        return bad_request(str(e))
    return jsonify(shapes.calendar_body(events, g.clinic, g.dialect))


@bp.get("/schedule/getScheduleConfigs", endpoint="schedule")
@data_endpoint
def schedule() -> ResponseReturnValue:
    return jsonify(shapes.schedule_configs(g.clinic))


@bp.get("/appointments/getAppointmentView", endpoint="appointment_view")
@data_endpoint
def appointment_view() -> ResponseReturnValue:
    return jsonify(shapes.appointment_view(g.clinic))


@bp.get("/appointments/getAppointment", endpoint="appointment")
@data_endpoint
def appointment() -> ResponseReturnValue:
    try:
        appointment_id = int(str(request.args["id"]).strip())
    except (KeyError, ValueError):
        return bad_request("id is required (an appointment id)")
    try:
        event = _state().records.appointment(g.clinic, appointment_id)
    except NotFound:
        return jsonify({"error": "not found"}), 404
    breed, gender = (people.pet_details(event["patient_id"], event.get("species") or "")
                     if event.get("patient_id") is not None else (None, "Unknown"))
    return jsonify(shapes.appointment_detail(event, g.clinic, g.dialect, breed=breed, gender=gender))


@bp.get("/consultations/search", endpoint="consultations_search")
@data_endpoint
def consultations_search() -> ResponseReturnValue:
    try:
        start = _search_time(request.args["date_start"])
        end = _search_time(request.args["date_end"])
    except KeyError:
        return bad_request("date_start and date_end are required ('DD.MM.YYYY HH:mm:ss')")
    except ValueError as e:
        return bad_request(str(e))
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        return bad_request("page must be an integer starting at 1")
    if page < 1:
        return bad_request("page must be an integer starting at 1")
    if end - start > timedelta(days=MAX_RANGE_DAYS):
        return bad_request(f"the range may span at most {MAX_RANGE_DAYS} days")
    orders = request.args.getlist("order[]") + request.args.getlist("order")
    if any(o not in SEARCH_ORDERS for o in orders):
        return bad_request(f"order must be one of {sorted(SEARCH_ORDERS)}")
    try:
        records = _state().records.consultations(g.clinic, start, end)
    except ValueError as e:
        return bad_request(str(e))
    if orders and SEARCH_ORDERS[orders[0]]:
        records.reverse()  # newest first; ties by id, descending, so paging stays stable
    chunk = records[(page - 1) * PER_PAGE: page * PER_PAGE]
    return jsonify({
        "data": [shapes.search_item(r, g.clinic, g.dialect) for r in chunk],
        "total": len(records),
        "page": page,
        "perPage": PER_PAGE,
    })


@bp.get("/consultations/<int:consultation_id>/page-data", endpoint="consultation_page_data")
@data_endpoint
def consultation_page_data(consultation_id: int) -> ResponseReturnValue:
    try:
        record = _state().records.consultation(g.clinic, consultation_id)
    except NotFound:
        return jsonify({"error": "not found"}), 404
    return jsonify(shapes.page_data(record, g.clinic, g.dialect))


@bp.get("/consultations/view/<int:consultation_id>", endpoint="consultation_view")
@data_endpoint
def consultation_view(consultation_id: int) -> ResponseReturnValue:
    try:
        record = _state().records.consultation(g.clinic, consultation_id)
    except NotFound:
        return jsonify({"error": "not found"}), 404
    return jsonify(shapes.consultation_view(record))


def _search_time(value: str) -> datetime:
    for fmt in SEARCH_FORMATS:
        try:
            return datetime.strptime(value.strip(), fmt)
        except ValueError:
            continue
    raise ValueError(f"{value!r} is not a time like 26.11.2026 00:00:00")

