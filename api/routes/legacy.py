"""The original service's IDEXX endpoints: POST /api/idexx/scrape, GET /api/idexx/status.

They keep their paths and bodies, but now require an API key, and the ``clinicId`` they carry
must be the key's clinic (or, for a shared key, one an operator granted it): a body can never
choose another clinic (403).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import redis
from flask import g
from flask.typing import ResponseReturnValue

from pims_sync.errors import ValidationError
from pims_sync.timezones import check_timezone
from workers.enqueue import enqueue_legacy

from ..auth import clinic_for, permissions_for
from ..openapi import ApiBlueprint, Operation, route
from ..responses import Error, LegacyStatus, SyncAccepted
from ..schemas import LegacyStatusQuery, NoQuery, ScrapeRequest
from ..services import Services, services
from .sync import _accepted

bp = ApiBlueprint("legacy", __name__)
# the permission each legacy type needs: a schedule is appointments, a consultation is case data
PERMISSION_FOR_TYPE = {"schedule": ("sync:inbound",), "consultation": ("sync:cases",)}


@route(bp, Operation(
    "post", "/api/idexx/scrape", "Legacy: sync one day's schedule or consultations", "legacy",
    {
        202: ("Queued", SyncAccepted),
        403: ("clinicId is another clinic's, or the key lacks the permission", Error),
        404: ("The clinic does not exist", Error),
        409: ("The clinic already has a sync queued or running (syncId in the body), or its syncing is "
              "disabled (code sync_disabled)", Error),
        503: ("The queue or the database is unavailable", Error),
    },
    body=ScrapeRequest,
    description="type=schedule needs sync:inbound, type=consultation needs sync:cases. Track the sync "
    "with GET /api/sync/{syncId} or GET /api/idexx/status. Shares the clinic's single-flight with "
    "the sync endpoints (409 while another sync is queued or running).",
))
def scrape(*, body: ScrapeRequest, query: NoQuery) -> ResponseReturnValue:
    clinic_id = clinic_for(g.api_key, str(body.clinic_id))
    kind = body.type
    permissions_for(PERMISSION_FOR_TYPE[kind], g.api_key)
    svc = services()
    day: date
    if body.date is not None:
        day = body.date
    elif kind == "consultation":  # which day's consultations is the caller's to say
        raise ValidationError("date is required for type=consultation (YYYY-MM-DD, clinic-local)",
                              details={"field": "date"})
    else:  # a schedule sync defaults to today, in the clinic's zone
        zone = svc.store.get_clinic(clinic_id).timezone
        try:
            check_timezone(zone, "clinics.timezone")
        except ValidationError:
            raise ValidationError(
                f"clinic {clinic_id} has no valid time zone (clinics.timezone), so 'today' is unknown: "
                "send a date, or fix the clinic with `pims-sync clinics set ID --timezone ZONE`",
                details={"field": "clinics.timezone"},
            ) from None
        day = datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
    enqueued = enqueue_legacy(svc.celery_app, svc.store, svc.inflight, clinic_id=clinic_id, kind=kind,
                              day=day.isoformat(), trigger="api", ttl_s=svc.settings.inflight_ttl_s)
    return _accepted(enqueued.sync_id, enqueued.status, {"type": kind, "clinicId": clinic_id, "date": day.isoformat()})


@route(bp, Operation(
    "get", "/api/idexx/status", "Legacy: the clinic's latest sync", "legacy",
    {200: ("The latest sync, or null", LegacyStatus), 403: ("clinicId is another clinic's", Error)},
    query=LegacyStatusQuery,
))
def status(*, query: LegacyStatusQuery) -> ResponseReturnValue:
    clinic_id = clinic_for(g.api_key, str(query.clinic_id))
    svc = services()
    page = svc.store.sync_history(clinic_id, limit=1)
    last = page.audits[0] if page.audits else None
    return {
        "success": True,
        "clinicId": clinic_id,
        "running": _running(svc, clinic_id),
        "lastSync": None if last is None else {
            "syncId": last.id,
            "type": last.sync_type,
            "status": last.status,
            "trigger": last.trigger,
            "startedAt": last.started_at.isoformat() if last.started_at else None,
            "finishedAt": last.finished_at.isoformat() if last.finished_at else None,
            "durationMs": last.duration_ms,
            "error": last.error_message,
            "statusUrl": f"/api/sync/{last.id}",
        },
    }


def _running(svc: Services, clinic_id: str) -> str | None:
    try:
        return svc.inflight.current(clinic_id)
    except redis.RedisError:  # the status is still useful without it
        return None
