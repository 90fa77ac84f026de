"""/__sim/: what tests, benchmarks and the demo use to read and steer the simulator.

The same habits as the IDEXX simulator's control API: sites (with credentials: it is a
simulator), stats, the request log, appointment changes (``modified_at`` = now, for incremental
reads), faults (the next N calls of an endpoint answer a status with the ``messages`` envelope),
token expiry, site expiry, config and reset. Never throttled.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

if TYPE_CHECKING:
    from .app import State
    from .data import Site

#: the v2 appointment fields /__sim/sites/<n>/appointments/<id> may change
CHANGEABLE = frozenset({"status_id", "type_id", "description", "start_at", "duration", "active", "animal_id",
                        "contact_id", "cancellation_reason", "cancellation_reason_text"})


def blueprint(state: State) -> Blueprint:
    bp = Blueprint("ezyvet_sim_control", __name__, url_prefix="/__sim")

    def numbered(number: int) -> Site | None:
        return next((s for s in state.sites if s.number == number), None)

    def no_site(number: int) -> ResponseReturnValue:
        return jsonify({"error": f"no site {number}"}), 404

    @bp.get("/sites")
    def sites() -> ResponseReturnValue:
        return jsonify({"sites": [s.summary() for s in state.sites]})

    @bp.get("/stats")
    def stats() -> ResponseReturnValue:
        with state.lock:
            s = state.stats
            return jsonify({"tokens_issued": dict(s["tokens_issued"]), "requests": dict(s["requests"]),
                            "rate_limited": s["rate_limited"], "max_limit_asked": s["max_limit_asked"],
                            "live_tokens": len(state.tokens)})

    @bp.post("/faults")
    def add_fault() -> ResponseReturnValue:
        body = request.get_json(force=True) or {}
        status = body.get("status")
        if not isinstance(status, int) or not 400 <= status <= 599:
            return jsonify({"error": "status: an HTTP error status (400-599)"}), 400
        fault = {"path": body.get("path", "*"), "status": status, "remaining": int(body.get("count", 1)),
                 "text": body.get("text", "Injected fault."), "type": body.get("type", "InternalError")}
        with state.lock:
            state.faults.append(fault)
        return jsonify(fault), 201

    @bp.delete("/faults")
    def clear_faults() -> ResponseReturnValue:
        with state.lock:
            state.faults.clear()
        return jsonify({"faults": []})

    @bp.post("/tokens/expire")
    def expire_tokens() -> ResponseReturnValue:
        with state.lock:
            n = len(state.tokens)
            state.tokens.clear()
        return jsonify({"expired": n})

    @bp.post("/sites/<int:number>/expire")
    def expire_site(number: int) -> ResponseReturnValue:
        site = numbered(number)
        if site is None:
            return no_site(number)
        site.expired = bool((request.get_json(silent=True) or {}).get("expired", True))
        return jsonify(site.summary() | {"expired": site.expired})

    @bp.get("/requests")
    def requests_log() -> ResponseReturnValue:
        """The latest data calls as sent (site, endpoint, query parameters), oldest first."""
        with state.lock:
            return jsonify({"requests": list(state.request_log)})

    @bp.post("/sites/<int:number>/appointments/<int:appointment_id>")
    def change_appointment(number: int, appointment_id: int) -> ResponseReturnValue:
        """Change an appointment as a clinic's staff would: the given fields, and modified_at = now."""
        site = numbered(number)
        if site is None:
            return no_site(number)
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not body or set(body) - CHANGEABLE:
            return jsonify({"error": f"a JSON object of fields to change, among {sorted(CHANGEABLE)}"}), 400
        record = next((r for r in site.tables["/v2/appointment"] if r["id"] == appointment_id), None)
        if record is None:
            return jsonify({"error": f"no appointment {appointment_id} on site {number}"}), 404
        with state.lock:
            record.update(body)
            record["modified_at"] = int(time.time())
        return jsonify({"appointment": record})

    @bp.post("/config")
    def config() -> ResponseReturnValue:
        body = request.get_json(force=True) or {}
        with state.lock:
            if "token_ttl_s" in body:
                state.token_ttl_s = int(body["token_ttl_s"])
            if "latency_ms" in body:
                state.latency_ms = float(body["latency_ms"])
        for name in ("per_endpoint", "per_site"):
            if name in body:
                setattr(state.throttle, name, int(body[name]))
                state.throttle.reset()
        return jsonify({"token_ttl_s": state.token_ttl_s, "latency_ms": state.latency_ms,
                        "per_endpoint": state.throttle.per_endpoint, "per_site": state.throttle.per_site})

    @bp.post("/reset")
    def reset() -> ResponseReturnValue:
        with state.lock:
            state.faults.clear()
            state.tokens.clear()
            state.stats["tokens_issued"].clear()
            state.stats["requests"].clear()
            state.stats["rate_limited"] = 0
            state.stats["max_limit_asked"] = 0
            state.request_log.clear()
        state.throttle.reset()
        return jsonify({"reset": True})

    return bp
