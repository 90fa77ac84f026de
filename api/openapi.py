"""Operations, and the OpenAPI 3 document built from them (``GET /openapi.json``).

Routes are registered through :func:`route` with an :class:`Operation` that names their body
and query models; the same decorator validates requests with those models and records the
operation for the document. A route therefore cannot accept something the document does not
describe, nor the reverse.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, request

from pims_sync import __version__

from .auth import authenticate_request
from .schemas import EMPTY_QUERY, Model, json_body, query_args

ERROR = "Error"


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # OpenAPI style: /api/sync/{syncId}
    summary: str
    tag: str
    responses: dict[int, tuple[str, str]]  # status -> (description, component schema name)
    body: Model | None = None
    query: Model = EMPTY_QUERY
    path_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    permissions: tuple[str, ...] = ()
    authenticated: bool = True
    description: str = ""

    @property
    def operation_id(self) -> str:
        return f"{self.method}_{re.sub(r'[^a-zA-Z0-9]+', '_', self.path).strip('_')}"

    @property
    def flask_path(self) -> str:
        """Flask's rule; a uuid path parameter uses the uuid converter, so /api/sync/full is never an id."""

        def rule(m: re.Match) -> str:
            fmt = self.path_params.get(m.group(1), {}).get("format")
            return f"<uuid:{m.group(1)}>" if fmt == "uuid" else f"<{m.group(1)}>"

        return re.sub(r"\{(\w+)\}", rule, self.path)


def route(bp: Blueprint, op: Operation) -> Callable:
    """Register ``view`` for ``op``; the view gets ``body=`` and ``query=`` already validated."""
    ops = bp.__dict__.setdefault("operations", [])
    ops.append(op)

    def wrap(view: Callable) -> Callable:
        @functools.wraps(view)
        def inner(*args, **kwargs):
            if op.authenticated:  # before validation: anonymous callers learn nothing about inputs
                authenticate_request(op.permissions)
            query = query_args(request, op.query)
            if op.body is not None:
                kwargs["body"] = json_body(request, op.body)
            return view(*args, query=query, **kwargs)

        bp.add_url_rule(op.flask_path, endpoint=op.operation_id, view_func=inner, methods=[op.method.upper()])
        return inner

    return wrap


def _operation_doc(op: Operation) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": op.query.parameters("query")
        + [{"name": n, "in": "path", "required": True, "schema": s} for n, s in op.path_params.items()],
        "responses": {
            str(status): {
                "description": desc,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
            }
            for status, (desc, schema) in sorted(op.responses.items())
        },
    }
    description = op.description
    if op.permissions:
        description += f"\n\nRequires API key permission(s): {', '.join(op.permissions)}."
    if description:
        doc["description"] = description.strip()
    if op.body is not None:
        doc["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{op.body.name}"}}},
        }
    doc["security"] = [{"ApiKeyAuth": []}] if op.authenticated else []
    if op.authenticated:
        doc["responses"].setdefault("401", _error_response("Missing, unknown, revoked or expired API key"))
        doc["responses"].setdefault("429", _error_response("Too many failed API keys from this address"))
    doc["responses"].setdefault("400", _error_response("Invalid input (malformed JSON, validation)"))
    if op.body is not None:
        doc["responses"].setdefault("415", _error_response("The body is not application/json"))
    return doc


def _error_response(desc: str) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR}"}}}}


def build_document(operations: list[Operation]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas = dict(RESPONSE_SCHEMAS)
    for op in operations:
        paths.setdefault(op.path, {})[op.method] = _operation_doc(op)
        if op.body is not None:
            schemas[op.body.name] = op.body.json_schema()
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "pims-sync API",
            "version": __version__,
            "description": "Trigger and observe PIMS syncs. Authenticate with the X-API-Key header; the key "
            "decides the clinic. At most one sync per clinic is queued or running at a time (409 otherwise).",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
        },
    }


# --- response schemas (what the handlers return; schemathesis checks them) ----------------------

_STR = {"type": "string"}
_INT = {"type": "integer"}
_NSTR = {"type": "string", "nullable": True}
_NINT = {"type": "integer", "nullable": True}
_OBJ = {"type": "object"}
_PHASE_RESULT = {
    "type": "object",
    "required": ["success", "stats"],
    "properties": {
        "success": {"type": "boolean"},
        "stats": _OBJ,
        "status": _STR,
        "error": {"type": "object", "properties": {"code": _STR, "message": _STR}},
        "auditId": _STR,
        "durationMs": _NINT,
    },
}
RESPONSE_SCHEMAS: dict[str, dict[str, Any]] = {
    ERROR: {
        "type": "object",
        "required": ["success", "error", "timestamp"],
        "properties": {
            "success": {"type": "boolean", "enum": [False]},
            "error": {
                "type": "object",
                "required": ["code", "message", "details"],
                "properties": {"code": _STR, "message": _STR, "details": {}},
            },
            "timestamp": _STR,
            "syncId": _NSTR,
        },
    },
    "SyncAccepted": {
        "type": "object",
        "required": ["success", "syncId", "status", "statusUrl"],
        "properties": {"success": {"type": "boolean"}, "syncId": _STR, "status": _STR, "statusUrl": _STR},
    },
    "SyncResult": {
        "type": "object",
        "description": "The original service's full-sync shape, plus status, clinicId and errors.",
        "required": ["success", "syncId", "durationMs", "timestamp"],
        "properties": {
            "success": {"type": "boolean"},
            "syncId": _STR,
            "inboundResult": _PHASE_RESULT,
            "casesResult": _PHASE_RESULT,
            "reconciliationResult": _PHASE_RESULT,
            "durationMs": _INT,
            "timestamp": _STR,
            "status": _STR,
            "clinicId": _STR,
            "errors": {"type": "array", "items": _OBJ},
        },
    },
    "SyncStatus": {
        "type": "object",
        "required": ["success", "syncId", "type", "status", "phases", "errors"],
        "properties": {
            "success": {"type": "boolean"},
            "syncId": _STR,
            "clinicId": _STR,
            "type": _STR,
            "trigger": _STR,
            "status": _STR,
            "currentPhase": _NSTR,
            "phases": _OBJ,
            "errors": {"type": "array", "items": _OBJ},
            "result": _OBJ,
        },
    },
    "SyncHistory": {
        "type": "object",
        "required": ["success", "syncs", "nextCursor", "summary"],
        "properties": {
            "success": {"type": "boolean"},
            "syncs": {"type": "array", "items": _OBJ},
            "nextCursor": _NSTR,
            "summary": {
                "type": "object",
                "required": ["total", "succeeded", "failed", "successRate"],
                "properties": {
                    "total": _INT, "succeeded": _INT, "failed": _INT,
                    "successRate": {"type": "number", "nullable": True},
                },
            },
        },
    },
    "LegacyStatus": {
        "type": "object",
        "required": ["success", "clinicId", "lastSync"],
        "properties": {"success": {"type": "boolean"}, "clinicId": _STR, "lastSync": {**_OBJ, "nullable": True}},
    },
    "Health": {
        "type": "object",
        "required": ["status", "uptimeSeconds", "memory", "version"],
        "properties": {"status": _STR, "uptimeSeconds": {"type": "number"}, "memory": _OBJ, "version": _STR,
                       "timestamp": _STR},
    },
    "Ready": {
        "type": "object",
        "required": ["ready", "checks"],
        "properties": {"ready": {"type": "boolean"}, "checks": _OBJ, "down": {"type": "array", "items": _STR},
                       "timestamp": _STR},
    },
    "OpenApi": _OBJ,
    # GET /metrics answers text/plain (Prometheus exposition format), not JSON: docs/METRICS.md
    "MetricsText": {"type": "string", "description": "Prometheus text exposition format (text/plain)"},
}
