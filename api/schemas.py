"""Request models: small declarative field specs that both validate and describe themselves.

Each :class:`Model` checks an incoming JSON body or query string (unknown fields and wrong
types rejected, every problem listed at once) and renders the JSON Schema that
``/openapi.json`` publishes. One definition serves both, so the document cannot drift from
what the endpoints accept. Cross-field rules for sync options (``endDate`` ≥ ``startDate``,
at most 90 days) live in :class:`pims_sync.sync.options.SyncOptions`, which the routes call
after the model, and are described here in words.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Request

from pims_sync.errors import ValidationError
from pims_sync.sync.options import MAX_RANGE_DAYS

from .errors import MalformedJson, UnsupportedMediaType

_INT_RE = re.compile(r"^[+-]?\d{1,12}$")
# dates outside this span are typos, and would overflow date arithmetic in the workers
MIN_YEAR, MAX_YEAR = 2000, 2100
MAX_BODY_BYTES = 64 * 1024
DATE_PATTERN = r"^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # integer | boolean | string | date | uuid
    description: str
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    enum: tuple[str, ...] | None = None
    max_length: int | None = None
    default: Any = None

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"description": self.description}
        if self.kind == "date":
            out.update(type="string", format="date", pattern=DATE_PATTERN, example="2026-01-17")
        elif self.kind == "uuid":
            out.update(type="string", format="uuid")
        else:
            out["type"] = self.kind
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.enum:
            out["enum"] = list(self.enum)
        if self.max_length is not None:
            out["maxLength"] = self.max_length
        if self.default is not None:
            out["default"] = self.default
        return out

    def check(self, value: Any, *, from_query: bool = False) -> Any:
        """The value, converted; raises ValueError with a message for the caller."""
        if from_query:
            value = self._from_text(value)
        if self.kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError("must be an integer")
            if self.minimum is not None and value < self.minimum or self.maximum is not None and value > self.maximum:
                raise ValueError(f"must be an integer from {self.minimum} to {self.maximum}")
            return value
        if self.kind == "boolean":
            if not isinstance(value, bool):
                raise ValueError("must be true or false")
            return value
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if self.kind == "date":
            return _check_date(value)
        if self.kind == "uuid":
            try:
                return str(uuid.UUID(value)) if len(value) == 36 else _raise("must be a UUID")
            except ValueError:
                raise ValueError("must be a UUID") from None
        if self.enum and value not in self.enum:
            raise ValueError(f"must be one of: {', '.join(self.enum)}")
        if self.max_length is not None and len(value) > self.max_length:
            raise ValueError(f"must be at most {self.max_length} characters")
        return value

    def _from_text(self, value: str) -> Any:
        if self.kind == "integer":
            if not _INT_RE.match(value):
                raise ValueError("must be an integer")
            return int(value)
        if self.kind == "boolean":
            if value.lower() not in ("true", "false"):
                raise ValueError("must be true or false")
            return value.lower() == "true"
        return value


def _raise(message: str):
    raise ValueError(message)


def _check_date(value: str) -> str:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be an ISO date YYYY-MM-DD")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a real calendar date YYYY-MM-DD") from None
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise ValueError(f"must be a date between {MIN_YEAR} and {MAX_YEAR}")
    return value


@dataclass(frozen=True)
class Model:
    """A flat object of fields: a JSON body or a query string."""

    name: str
    description: str
    fields: tuple[Field, ...]

    def validate(self, data: Any, *, from_query: bool = False) -> dict[str, Any]:
        where = "query parameter" if from_query else "field"
        if not isinstance(data, Mapping):
            raise ValidationError("the request body must be a JSON object", details={"errors": []})
        known = {f.name: f for f in self.fields}
        errors: list[dict[str, str]] = []
        out: dict[str, Any] = {}
        for key in data:
            if key not in known:
                allowed = ", ".join(known) or "none"
                errors.append({"field": key, "message": f"unknown {where} (allowed: {allowed})"})
        for f in self.fields:
            if f.name not in data:
                if f.required:
                    errors.append({"field": f.name, "message": "is required"})
                continue
            try:
                out[f.name] = f.check(data[f.name], from_query=from_query)
            except ValueError as e:
                errors.append({"field": f.name, "message": str(e)})
        if errors:
            summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
            raise ValidationError(f"invalid {where}s: {summary}", details={"errors": errors})
        return out

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "object",
            "description": self.description,
            "properties": {f.name: f.schema() for f in self.fields},
            "additionalProperties": False,
        }
        required = [f.name for f in self.fields if f.required]
        if required:
            schema["required"] = required
        return schema

    def parameters(self, location: str = "query") -> list[dict[str, Any]]:
        return [
            {"name": f.name, "in": location, "required": f.required, "description": f.description, "schema": f.schema()}
            for f in self.fields
        ]


# --- request parsing --------------------------------------------------------------------------


MAX_JSON_DEPTH = 64  # no sync option nests; a deeper body is an attack or a bug, answered 400


def json_body(request: Request, model: Model) -> dict[str, Any]:
    """The validated body. No body means ``{}``.

    A body that parses as a JSON object is accepted whatever its Content-Type says: the
    TypeScript service's own curl examples send ``-d '{...}'`` with no header, which curl labels
    form-encoded. A body that is not JSON gets 415 when it was not labelled JSON, else 400.
    """
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY_BYTES:
        raise ValidationError(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        return model.validate({})
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
    return model.validate(data)


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


def query_args(request: Request, model: Model) -> dict[str, Any]:
    args = request.args
    repeated = [k for k in args if len(args.getlist(k)) > 1]
    if repeated:
        raise ValidationError(
            f"query parameters may appear once: {', '.join(repeated)}",
            details={"errors": [{"field": k, "message": "repeated"} for k in repeated]},
        )
    return model.validate(args.to_dict(), from_query=True)


# --- the models -------------------------------------------------------------------------------

_RANGES = (
    f"Dates are ISO YYYY-MM-DD; endDate must not be before startDate and a range spans at most "
    f"{MAX_RANGE_DAYS} days. Unknown fields are rejected."
)
DAYS_AHEAD = Field("daysAhead", "integer", "Days after startDate (default today) to sync.", minimum=0,
                   maximum=MAX_RANGE_DAYS, default=7)
LOOKBACK = Field("lookbackDays", "integer", "Days back from today to enrich or reconcile.", minimum=1,
                 maximum=MAX_RANGE_DAYS, default=7)
START = Field("startDate", "date", "First clinic-local day of the range.")
END = Field("endDate", "date", "Last clinic-local day of the range (inclusive).")
BATCH = Field("parallelBatchSize", "integer", "Consultations fetched per batch.", minimum=1, maximum=20,
              default=5)
FORCE = Field("force", "boolean", "Reconcile even when the deletion guard would refuse.", default=False)
WAIT = Field("wait", "boolean", "Wait for the result (up to SYNC_TIMEOUT_MS) instead of answering 202.",
             default=False)

CLINIC_ID = Field("clinicId", "uuid", "The clinic to act on. Required with a shared API key (one with no clinic), "
                  "which reaches only the clinics an operator granted it; with a clinic's own key it may be "
                  "omitted, and must be that clinic (403 otherwise).")

SYNC_BODIES = {
    "full": Model("FullSyncRequest", "Full sync: inbound, then cases, then reconciliation. " + _RANGES,
                  (DAYS_AHEAD, LOOKBACK, START, END, BATCH, FORCE, WAIT, CLINIC_ID)),
    "inbound": Model("InboundSyncRequest", "Appointments to cases. " + _RANGES,
                     (DAYS_AHEAD, START, END, WAIT, CLINIC_ID)),
    "cases": Model("CasesSyncRequest", "Consultation data onto cases. " + _RANGES,
                   (LOOKBACK, START, END, BATCH, WAIT, CLINIC_ID)),
    "reconcile": Model("ReconcileSyncRequest", "Soft-delete cases whose appointment vanished. " + _RANGES,
                       (LOOKBACK, START, END, FORCE, WAIT, CLINIC_ID)),
}
WAIT_QUERY = Model("SyncWaitQuery", "Wait mode", (
    Field("wait", "integer", "Seconds to wait for the result (capped at SYNC_TIMEOUT_MS); 0 = do not wait.",
          minimum=0, maximum=86_400),
))
HISTORY_TYPES = ("full", "inbound", "cases", "reconcile", "reconciliation", "schedule", "consultation")
HISTORY_QUERY = Model("HistoryQuery", "Sync history filters", (
    Field("limit", "integer", "Rows per page.", minimum=1, maximum=100, default=20),
    Field("cursor", "string", "The nextCursor of the previous page.", max_length=200),
    Field("type", "string", "Only syncs of this type.", enum=HISTORY_TYPES),
    CLINIC_ID,
))
SYNC_STATUS_QUERY = Model("SyncStatusQuery", "Which clinic's sync (optional: the syncId is enough)", (CLINIC_ID,))
EMPTY_QUERY = Model("NoQuery", "No query parameters", ())
SCRAPE_BODY = Model("ScrapeRequest", "Legacy IDEXX sync of one day's schedule or consultations.", (
    Field("type", "string", "What to sync.", required=True, enum=("schedule", "consultation")),
    Field("clinicId", "uuid", "The API key's clinic, or one granted to a shared key.", required=True),
    Field("date", "date", "Clinic-local day (default today)."),
))
STATUS_QUERY = Model("LegacyStatusQuery", "Legacy status", (
    Field("clinicId", "uuid", "The API key's clinic, or one granted to a shared key.", required=True),
))
