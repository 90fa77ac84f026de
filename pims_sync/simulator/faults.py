"""Faults: the ways a real PIMS misbehaves, switched on by tests through `/__sim/faults`.

A fault has a kind, an optional scope (one clinic and/or one endpoint) and an optional
``count``: it fires for the next ``count`` matching requests and then removes itself, which
is how a test asks for "three 503s, then normal service". ``rate`` (0..1) makes it fire
only on that fraction of matching requests (a seeded draw, so runs repeat).
"""

from __future__ import annotations

import builtins
import itertools
import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

# endpoint name -> path, as used in scopes, stats and the contract document
ENDPOINTS = {
    "login": "/login",
    "login_verify": "/login/verify",
    "dashboard": "/dashboard",
    "logout": "/logout",
    "calendar": "/appointments/getCalendarEventData",
    "schedule": "/schedule/getScheduleConfigs",
    "appointment_view": "/appointments/getAppointmentView",
    "appointment": "/appointments/getAppointment",
    "consultations_search": "/consultations/search",
    "consultation_page_data": "/consultations/<id>/page-data",
    "consultation_view": "/consultations/view/<id>",
}
_BY_PATH = {path: name for name, path in ENDPOINTS.items()}

KINDS: dict[str, dict[str, Any]] = {
    # kind: accepted parameters with defaults
    "latency": {"ms": 100, "jitter_ms": 0},
    "error": {"status": 503, "statuses": None},
    "rate_limit": {"retry_after_s": 30},
    "hang": {"seconds": 30},
    "truncated_json": {},
    "malformed_json": {},
    "html": {},
    "slow_login": {"ms": 3000},
}
RESPONSE_KINDS = ("error", "rate_limit", "html")  # replace the response outright
BODY_KINDS = ("truncated_json", "malformed_json")  # spoil a JSON body on its way out
ERROR_STATUSES = (500, 502, 503)


class FaultError(ValueError):
    """A fault specification the control API must refuse (400)."""


@dataclass
class Fault:
    id: int
    kind: str
    clinic_id: str | None = None
    endpoint: str | None = None
    count: int | None = None
    rate: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def status(self, rng: random.Random) -> int:
        statuses = self.params.get("statuses")
        status: int = rng.choice(statuses) if statuses else self.params["status"]
        return status


def parse_fault(spec: dict[str, Any], fault_id: int) -> Fault:
    if not isinstance(spec, dict):
        raise FaultError("a fault is a JSON object like {\"kind\": \"error\", \"status\": 503}")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise FaultError(f"unknown fault kind {kind!r}; use one of {sorted(KINDS)}")
    endpoint = spec.get("endpoint")
    if endpoint is not None:
        endpoint = _BY_PATH.get(endpoint, endpoint)
        if endpoint not in ENDPOINTS:
            raise FaultError(f"unknown endpoint {spec['endpoint']!r}; use one of {sorted(ENDPOINTS)}")
    if kind == "slow_login":
        endpoint = "login"
    known = set(KINDS[kind]) | {"kind", "clinic_id", "endpoint", "count", "rate"}
    extra = set(spec) - known
    if extra:
        raise FaultError(f"fault {kind!r} does not take {sorted(extra)}")
    params = {**KINDS[kind], **{k: v for k, v in spec.items() if k in KINDS[kind]}}
    for name in ("ms", "jitter_ms", "seconds", "retry_after_s"):
        if name in params and (not isinstance(params[name], int | float) or params[name] < 0):
            raise FaultError(f"{name} must be a number >= 0")
    if kind == "error":
        wanted = params["statuses"] or [params["status"]]
        if any(s not in ERROR_STATUSES for s in wanted):
            raise FaultError(f"error statuses must be among {ERROR_STATUSES}")
    count = spec.get("count")
    if count is not None and (not isinstance(count, int) or count < 1):
        raise FaultError("count must be a positive integer (omit it for a fault that stays on)")
    rate = spec.get("rate", 1.0)
    if not isinstance(rate, int | float) or not 0 < rate <= 1:
        raise FaultError("rate must be in (0, 1]")
    return Fault(id=fault_id, kind=kind, clinic_id=spec.get("clinic_id"), endpoint=endpoint,
                 count=count, rate=float(rate), params=params)


class FaultSet:
    """The active faults. Thread-safe; `take` decides atomically which fire for a request."""

    def __init__(self, *, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._faults: list[Fault] = []
        self.rng = random.Random(seed)

    def add(self, spec: dict[str, Any]) -> Fault:
        fault = parse_fault(spec, next(self._ids))
        with self._lock:
            self._faults.append(fault)
        return fault

    def remove(self, fault_id: int) -> bool:
        with self._lock:
            before = len(self._faults)
            self._faults = [f for f in self._faults if f.id != fault_id]
            return len(self._faults) != before

    def clear(self) -> None:
        with self._lock:
            self._faults = []

    def list(self) -> builtins.list[dict[str, Any]]:
        with self._lock:
            return [f.to_json() for f in self._faults]

    def take(self, endpoint: str, clinic_id: str | None) -> builtins.list[Fault]:
        """The faults that fire for this request, spending one of each one's ``count``."""
        fired: builtins.list[Fault] = []
        with self._lock:
            for fault in self._faults:
                if fault.endpoint not in (None, endpoint):
                    continue
                if fault.clinic_id is not None and fault.clinic_id != clinic_id:
                    continue
                if fault.rate < 1.0 and self.rng.random() >= fault.rate:
                    continue
                fired.append(fault)
                if fault.count is not None:
                    fault.count -= 1
            self._faults = [f for f in self._faults if f.count is None or f.count > 0]
        return fired
