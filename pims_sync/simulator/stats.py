"""Request counters for `/__sim/stats`: what our sync code actually asked the PIMS for."""

from __future__ import annotations

import threading
from collections import Counter

from ..models import JsonObject


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._total = 0
            self._by_endpoint: Counter[str] = Counter()
            self._by_clinic: Counter[str] = Counter()
            self._by_clinic_endpoint: dict[str, Counter[str]] = {}
            self._by_status: Counter[str] = Counter()
            self._logins: Counter[str] = Counter()
            self._failed_logins: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()

    def request(self, endpoint: str, clinic_id: str | None) -> None:
        with self._lock:
            self._total += 1
            self._by_endpoint[endpoint] += 1
            if clinic_id:
                self._by_clinic[clinic_id] += 1
                self._by_clinic_endpoint.setdefault(clinic_id, Counter())[endpoint] += 1

    def response(self, status: int) -> None:
        with self._lock:
            self._by_status[str(status)] += 1

    def login(self, clinic_id: str, *, ok: bool) -> None:
        with self._lock:
            (self._logins if ok else self._failed_logins)[clinic_id or "unknown"] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def snapshot(self) -> JsonObject:
        with self._lock:
            return {
                "requests_total": self._total,
                "requests_by_endpoint": dict(self._by_endpoint),
                "requests_by_clinic": dict(self._by_clinic),
                "requests_by_clinic_endpoint": {c: dict(v) for c, v in self._by_clinic_endpoint.items()},
                "responses_by_status": dict(self._by_status),
                "logins": dict(self._logins),
                "logins_total": sum(self._logins.values()),
                "failed_logins": dict(self._failed_logins),
                "failed_logins_total": sum(self._failed_logins.values()),
                "faults_triggered": dict(self._faults),
            }
