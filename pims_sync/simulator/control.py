"""The control API under /__sim/: what tests, the demo and benchmarks use to steer the simulator.

Plain JSON in and out, no session needed, never subject to faults or counted in stats.
Errors are ``{"error": "..."}`` with 400 (bad input) or 404 (unknown clinic/id).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from ..errors import NotFound
from ..models import JsonObject
from .data import ID_CLINIC, WALL, Clinic
from .dialects import OPTIONS, DialectError
from .faults import FaultError

if TYPE_CHECKING:
    from .app import SimulatorState

bp = Blueprint("sim", __name__, url_prefix="/__sim")


def _state() -> SimulatorState:
    state: SimulatorState = current_app.extensions["pims_simulator"]
    return state


class ControlError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@bp.errorhandler(ControlError)
def _control_error(e: ControlError) -> ResponseReturnValue:
    return jsonify({"error": str(e)}), e.status


@bp.errorhandler(NotFound)
def _not_found(e: NotFound) -> ResponseReturnValue:
    return jsonify({"error": f"no such appointment or consultation: {e.args[0]}"}), 404


def _body() -> JsonObject:
    body = request.get_json(silent=True)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ControlError("the body must be a JSON object")
    return body


def _clinic(clinic_id: str | None) -> Clinic:
    """A clinic by its id, or by its number (``/__sim/clinics/2/dialect``)."""
    world = _state().world
    clinic = world.clinic(clinic_id or "")
    if clinic is None and clinic_id is not None and clinic_id.isdigit():
        clinic = world.clinic_by_number(int(clinic_id))
    if clinic is None:
        raise ControlError(f"unknown clinic_id {clinic_id!r}; see GET /__sim/clinics", 404)
    return clinic


def _clinic_of(any_id: int) -> Clinic:
    """Ids carry their clinic (see data.py), so id-based calls need no clinic_id."""
    raw = any_id % (50 * ID_CLINIC) if any_id >= 50 * ID_CLINIC else any_id
    clinic = _state().world.clinic_by_number(raw // ID_CLINIC)
    if clinic is None:
        raise NotFound(any_id)
    return clinic


@bp.get("/clinics")
def clinics() -> ResponseReturnValue:
    state = _state()
    return jsonify({"clinics": [
        {**c.summary(), "appointments_per_day": state.records.appointments_per_day(c),
         "today": state.world.today[c.id].isoformat(), "dialect": state.dialect(c).to_json()}
        for c in state.world.clinics
    ]})


@bp.get("/dialects")
def dialect_options() -> ResponseReturnValue:
    """Every dialect question and its options (the first is clinic 1's default)."""
    return jsonify({"options": {q: list(opts) for q, opts in OPTIONS.items()}})


@bp.route("/clinics/<clinic_id>/dialect", methods=["GET", "PUT", "PATCH"])
def clinic_dialect(clinic_id: str) -> ResponseReturnValue:
    """Read or change (any subset of) the clinic's dialect; `POST /__sim/reset` restores the seeded one."""
    state = _state()
    clinic = _clinic(clinic_id)
    if request.method != "GET":
        try:
            state.set_dialect(clinic, _body())
        except DialectError as e:
            raise ControlError(str(e)) from e
    return jsonify({"clinic_id": clinic.id, "number": clinic.number, "dialect": state.dialect(clinic).to_json()})


@bp.post("/clinics/<clinic_id>/config")
def clinic_config(clinic_id: str) -> ResponseReturnValue:
    clinic = _clinic(clinic_id)
    body = _body()
    if "appointments_per_day" not in body:
        raise ControlError("send {\"appointments_per_day\": N} (or null for the seeded default)")
    try:
        _state().records.set_appointments_per_day(clinic, body["appointments_per_day"])
    except (TypeError, ValueError) as e:
        raise ControlError(str(e)) from e
    return jsonify({"clinic_id": clinic.id,
                    "appointments_per_day": _state().records.appointments_per_day(clinic)})


@bp.route("/config", methods=["GET", "POST"])
def config() -> ResponseReturnValue:
    state = _state()
    if request.method == "POST":
        try:
            state.configure(**_body())
        except (TypeError, ValueError) as e:
            raise ControlError(str(e)) from e
    return jsonify(state.config_json())


@bp.post("/appointments")
def add_appointment() -> ResponseReturnValue:
    body = _body()
    clinic = _clinic(body.pop("clinic_id", None))
    if "start" not in body:
        raise ControlError("start is required (clinic-local 'YYYY-MM-DD HH:MM:SS')")
    if body.get("consultation") not in (None, "finalised", "in_progress", "draft"):
        raise ControlError("consultation must be finalised, in_progress or draft")
    try:
        event = _state().records.add_appointment(clinic, body)
    except ValueError as e:
        raise ControlError(str(e)) from e
    return jsonify({"appointment": event}), 201


@bp.get("/appointments/<int:appointment_id>")
def get_appointment(appointment_id: int) -> ResponseReturnValue:
    return jsonify({"appointment": _state().records.appointment(_clinic_of(appointment_id), appointment_id)})


@bp.post("/appointments/<int:appointment_id>/cancel")
def cancel_appointment(appointment_id: int) -> ResponseReturnValue:
    event = _state().records.cancel(_clinic_of(appointment_id), appointment_id)
    return jsonify({"appointment": event})


@bp.post("/appointments/<int:appointment_id>/reschedule")
def reschedule_appointment(appointment_id: int) -> ResponseReturnValue:
    body = _body()
    if "start" not in body:
        raise ControlError("start is required (clinic-local 'YYYY-MM-DD HH:MM:SS')")
    try:
        event = _state().records.reschedule(_clinic_of(appointment_id), appointment_id,
                                            body["start"], body.get("end"))
    except ValueError as e:
        raise ControlError(str(e)) from e
    return jsonify({"appointment": event})


@bp.patch("/appointments/<int:appointment_id>")
def edit_appointment(appointment_id: int) -> ResponseReturnValue:
    changes = {k: v for k, v in _body().items() if k not in ("id", "appointment_id", "start", "end")}
    event = _state().records.update_appointment(_clinic_of(appointment_id), appointment_id, changes)
    return jsonify({"appointment": event})


@bp.delete("/appointments/<int:appointment_id>")
def delete_appointment(appointment_id: int) -> ResponseReturnValue:
    _state().records.delete(_clinic_of(appointment_id), appointment_id)
    return jsonify({"deleted": appointment_id})


@bp.patch("/consultations/<int:consultation_id>")
def edit_consultation(consultation_id: int) -> ResponseReturnValue:
    record = _state().records.edit_consultation(_clinic_of(consultation_id), consultation_id, _body())
    return jsonify({"consultation": record})


@bp.post("/sessions/expire")
def expire_sessions() -> ResponseReturnValue:
    return jsonify({"expired": _state().sessions.expire_all()})


@bp.get("/faults")
def list_faults() -> ResponseReturnValue:
    return jsonify({"faults": _state().faults.list()})


@bp.post("/faults")
def add_fault() -> ResponseReturnValue:
    body = _body()
    specs = body["faults"] if isinstance(body.get("faults"), list) else [body]
    state = _state()
    for spec in specs:
        clinic_id = spec.get("clinic_id") if isinstance(spec, dict) else None
        if clinic_id is not None:
            _clinic(clinic_id)
    try:
        added = [state.faults.add(spec).to_json() for spec in specs]
    except FaultError as e:
        raise ControlError(str(e)) from e
    return jsonify({"faults": added, "fault": added[0] if added else None}), 201


@bp.delete("/faults")
def clear_faults() -> ResponseReturnValue:
    _state().faults.clear()
    return jsonify({"faults": []})


@bp.delete("/faults/<int:fault_id>")
def remove_fault(fault_id: int) -> ResponseReturnValue:
    if not _state().faults.remove(fault_id):
        raise ControlError(f"no fault {fault_id}", 404)
    return jsonify({"removed": fault_id})


@bp.get("/stats")
def stats() -> ResponseReturnValue:
    state = _state()
    return jsonify({**state.stats.snapshot(), "active_sessions": state.sessions.count()})


@bp.post("/reset")
def reset() -> ResponseReturnValue:
    _state().reset()
    return jsonify({"reset": True})


@bp.get("/truth")
def truth() -> ResponseReturnValue:
    """The canonical events and consultations of whole local dates: the ground truth.

    Independent of the clinic's dialect (shown alongside); the data endpoints render these
    records field by field (shapes.py). Besides what IDEXX sends they carry ``species``,
    ``provider_id``, ``stage`` (the meaning of the status: booked, confirmed, arrived,
    in_progress, finalised, cancelled, no_show; null for blocks and rosters), and for
    consultations the patient, client and branch details page-data nests.
    """
    args = request.args
    clinic = _clinic(args.get("clinic_id"))
    try:
        first = datetime.strptime(args["start"], "%Y-%m-%d").date()
        last = datetime.strptime(args.get("end") or args["start"], "%Y-%m-%d").date()
    except (KeyError, ValueError) as e:
        raise ControlError("start and end are required as YYYY-MM-DD (end inclusive)") from e
    if (last - first).days > 366 or last < first:
        raise ControlError("end must be on or after start, at most 366 days later")
    start, end = datetime.combine(first, time()), datetime.combine(last, time(23, 59, 59))
    records = _state().records
    events = records.events(clinic, start, datetime.combine(last + timedelta(days=1), time()))
    return jsonify({
        "clinic_id": clinic.id, "timezone": clinic.timezone, "start": first.isoformat(), "end": last.isoformat(),
        "dialect": _state().dialect(clinic).to_json(),
        "window": {"start": start.strftime(WALL), "end": end.strftime(WALL)},
        "events": events,
        "consultations": records.consultations(clinic, start, end),
    })
