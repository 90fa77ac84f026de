"""Request models (pydantic) and the parsing of bodies and query strings into them.

The sync request bodies are built from :class:`pims_sync.sync.options.SyncOptions`'s own
fields (its ``FieldInfo``: type, bounds, description, default), so the API accepts exactly
the ranges the tasks accept and ``/openapi.json`` publishes them; the cross-field rules
(``endDate`` after ``startDate``, at most 90 days) are the same function too. A refusal is a
400 naming every problem at once (:func:`pims_sync.validation.validation_error`).
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal, TypeVar, get_args

import pydantic
from flask import Request
from pydantic import BaseModel, Field, StrictBool, create_model, model_validator

from pims_sync.errors import ValidationError
from pims_sync.sync.options import (
    FIRST_DAY,
    LAST_DAY,
    MAX_RANGE_DAYS,
    MODEL_CONFIG,
    OPTIONS_FOR,
    SYNC_TYPE_NAMES,
    Day,
    SyncOptions,
    SyncType,
    check_date_range,
)
from pims_sync.validation import validation_error

from .errors import MalformedJson, UnsupportedMediaType

MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 64  # no sync option nests; a deeper body is an attack or a bug, answered 400
M = TypeVar("M", bound=BaseModel)

CLINIC_ID_DESCRIPTION = (
    "The clinic to act on. Required with a shared API key (one with no clinic), which reaches only the "
    "clinics an operator granted it; with a clinic's own key it may be omitted, and must be that clinic "
    "(403 otherwise)."
)


# --- request parsing --------------------------------------------------------------------------


def validate(model: type[M], data: Any, *, where: str = "field") -> M:
    """``data`` as ``model``, or the project's ValidationError listing every problem."""
    if not isinstance(data, dict):
        raise ValidationError("the request body must be a JSON object", details={"errors": []})
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as e:
        raise validation_error(e, model, where=where) from None


def json_body(request: Request, model: type[M]) -> M:
    """The validated body. No body means ``{}``.

    A body that parses as a JSON object is accepted whatever its Content-Type says: the
    TypeScript service's own curl examples send ``-d '{...}'`` with no header, which curl labels
    form-encoded. A body that is not JSON gets 415 when it was not labelled JSON, else 400.
    """
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY_BYTES:
        raise ValidationError(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        return validate(model, {})
    try:
        data = json.loads(raw)
    except RecursionError:
        raise MalformedJson(f"the request body nests deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as e:
        if not request.is_json:
            got = request.mimetype or "none"
            raise UnsupportedMediaType(
                f"the request body must be JSON: send Content-Type: application/json (got {got})",
                details={"contentType": got},
            ) from None
        raise MalformedJson(f"the request body is not valid JSON: {e}") from None
    if _depth(data) > MAX_JSON_DEPTH:
        raise MalformedJson(f"the request body nests deeper than {MAX_JSON_DEPTH} levels")
    if not request.is_json and not isinstance(data, dict):
        got = request.mimetype or "none"
        raise UnsupportedMediaType(
            f"the request body must be a JSON object: send Content-Type: application/json (got {got})",
            details={"contentType": got},
        )
    return validate(model, data)


def _depth(value: Any) -> int:
    """How deeply a parsed JSON value nests (iteratively: no recursion on hostile input)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > MAX_JSON_DEPTH:
                return level
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def query_args(request: Request, model: type[M]) -> M:
    """The validated query string (each parameter at most once; text converted by the model's types)."""
    args = request.args
    repeated = [k for k in args if len(args.getlist(k)) > 1]
    if repeated:
        raise ValidationError(
            f"query parameters may appear once: {', '.join(repeated)}",
            details={"errors": [{"field": k, "message": "repeated"} for k in repeated]},
        )
    return validate(model, args.to_dict(), where="query parameter")


# --- the sync request bodies: SyncOptions' fields, plus wait and clinicId ------------------------


class SyncRequest(BaseModel):
    """What every sync endpoint's body takes besides its options."""

    model_config = MODEL_CONFIG

    wait: StrictBool = Field(False, description="Wait for the result (up to SYNC_TIMEOUT_MS) instead of answering 202.")
    clinic_id: uuid.UUID | None = Field(None, description=CLINIC_ID_DESCRIPTION)

    @model_validator(mode="after")
    def _date_range(self) -> SyncRequest:
        check_date_range(getattr(self, "start_date", None), getattr(self, "end_date", None))
        return self

    def options(self) -> SyncOptions:
        """The sync options given (the rest keep SyncOptions' defaults)."""
        given = self.model_dump(include=set(type(self).model_fields) - set(SyncRequest.model_fields),
                                exclude_unset=True)
        return SyncOptions.from_dict(given)


_RANGES = (
    f"Dates are ISO YYYY-MM-DD; endDate must not be before startDate and a range spans at most "
    f"{MAX_RANGE_DAYS} days. Unknown fields are rejected."
)
_SYNC_REQUEST_DOC = {
    SyncType.FULL: ("FullSyncRequest", "Full sync: inbound, then cases, then reconciliation. "),
    SyncType.INBOUND: ("InboundSyncRequest", "Appointments to cases. "),
    SyncType.CASES: ("CasesSyncRequest", "Consultation data onto cases. "),
    SyncType.RECONCILE: ("ReconcileSyncRequest", "Soft-delete cases whose appointment vanished. "),
}


def sync_request_model(sync_type: SyncType) -> type[SyncRequest]:
    """The body model of ``POST /api/sync/<type>``: the type's options, as SyncOptions defines them."""
    name, doc = _SYNC_REQUEST_DOC[sync_type]
    fields: dict[str, Any] = {
        f: (SyncOptions.model_fields[f].annotation, SyncOptions.model_fields[f]) for f in OPTIONS_FOR[sync_type]
    }
    model: type[SyncRequest] = create_model(name, __base__=SyncRequest, __doc__=doc + _RANGES, **fields)
    return model


SYNC_BODIES: dict[SyncType, type[SyncRequest]] = {t: sync_request_model(t) for t in SyncType}


# --- query strings and the legacy bodies ------------------------------------------------------

_QUERY_CONFIG = MODEL_CONFIG  # camelCase names, unknown parameters refused


class SyncWaitQuery(BaseModel):
    """Wait mode."""

    model_config = _QUERY_CONFIG
    wait: int | None = Field(None, ge=0, le=86_400, description="Seconds to wait for the result (capped at "
                             "SYNC_TIMEOUT_MS); 0 = do not wait.")


HistoryType = Literal["full", "inbound", "cases", "reconcile", "reconciliation", "schedule", "consultation"]
assert set(SYNC_TYPE_NAMES) <= set(get_args(HistoryType))  # every sync type spelling is a filter


class HistoryQuery(BaseModel):
    """Sync history filters."""

    model_config = _QUERY_CONFIG
    limit: int = Field(20, ge=1, le=100, description="Rows per page.")
    cursor: str | None = Field(None, max_length=200, description="The nextCursor of the previous page.")
    type: HistoryType | None = Field(None, description="Only syncs of this type (reconcile and reconciliation "
                                     "are the same).")
    clinic_id: uuid.UUID | None = Field(None, description=CLINIC_ID_DESCRIPTION)


class SyncStatusQuery(BaseModel):
    """Which clinic's sync (optional: the syncId is enough)."""

    model_config = _QUERY_CONFIG
    clinic_id: uuid.UUID | None = Field(None, description=CLINIC_ID_DESCRIPTION)


class NoQuery(BaseModel):
    """No query parameters."""

    model_config = _QUERY_CONFIG


class ScrapeRequest(BaseModel):
    """Legacy IDEXX sync of one day's schedule or consultations."""

    model_config = _QUERY_CONFIG
    type: Literal["schedule", "consultation"] = Field(description="What to sync.")
    clinic_id: uuid.UUID = Field(description="The API key's clinic, or one granted to a shared key.")
    date: Day | None = Field(None, ge=FIRST_DAY, le=LAST_DAY, description="Clinic-local day (default today).")


class LegacyStatusQuery(BaseModel):
    """Legacy status."""

    model_config = _QUERY_CONFIG
    clinic_id: uuid.UUID = Field(description="The API key's clinic, or one granted to a shared key.")
