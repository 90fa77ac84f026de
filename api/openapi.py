"""Operations, and the OpenAPI 3.1 document built from their pydantic models (``GET /openapi.json``).

Routes are registered through :func:`route` with an :class:`Operation` that names their body,
query and response models; the same decorator authenticates, validates requests with those
models and records the operation for the document. A route therefore cannot accept something
the document does not describe, nor the reverse, and the document's schemas are the models'
own JSON Schema (``model_json_schema(by_alias=True)``, OpenAPI 3.1 being JSON Schema 2020-12).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from pims_sync import __version__
from pims_sync.sync.options import SyncOptions

from .auth import authenticate_request
from .responses import Error
from .schemas import NoQuery, json_body, query_args

TEXT_PLAIN = "text/plain"  # a response documented as text (GET /metrics), not a model
ResponseSpec = tuple[str, type[BaseModel] | str]  # (description, model or a text media type)
View = Callable[..., ResponseReturnValue]
REF_TEMPLATE = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # OpenAPI style: /api/sync/{syncId}
    summary: str
    tag: str
    responses: dict[int, ResponseSpec]
    body: type[BaseModel] | None = None
    query: type[BaseModel] = NoQuery
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

        def rule(m: re.Match[str]) -> str:
            fmt = self.path_params.get(m.group(1), {}).get("format")
            return f"<uuid:{m.group(1)}>" if fmt == "uuid" else f"<{m.group(1)}>"

        return re.sub(r"\{(\w+)\}", rule, self.path)

    def all_responses(self) -> dict[int, ResponseSpec]:
        """The operation's own responses plus the ones every operation of its kind may give."""
        out = dict(self.responses)
        if self.authenticated:
            out.setdefault(401, ("Missing, unknown, revoked or expired API key", Error))
            out.setdefault(429, ("Too many failed API keys from this address", Error))
            out.setdefault(503, ("The database or Redis is unavailable, or every request thread is busy "
                                 "(server_busy, with Retry-After)", Error))
        out.setdefault(400, ("Invalid input (malformed JSON, validation)", Error))
        if self.body is not None:
            out.setdefault(415, ("The body is not application/json", Error))
        return dict(sorted(out.items()))

    def models(self) -> list[type[BaseModel]]:
        """The body and response models (the query model becomes parameters, not a component)."""
        found = [self.body] if self.body is not None else []
        return found + [m for _, m in self.all_responses().values() if not isinstance(m, str)]


class ApiBlueprint(Blueprint):
    """A blueprint that remembers its operations (for the document)."""

    def __init__(self, name: str, import_name: str) -> None:
        super().__init__(name, import_name)
        self.operations: list[Operation] = []


def route(bp: ApiBlueprint, op: Operation) -> Callable[[View], View]:
    """Register ``view`` for ``op``; the view gets ``query=`` (and ``body=``) as validated models.

    Authentication runs first, so an anonymous caller learns nothing about the inputs.
    """
    bp.operations.append(op)

    def wrap(view: View) -> View:
        @functools.wraps(view)
        def inner(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            if op.authenticated:  # before validation: anonymous callers learn nothing about inputs
                authenticate_request(op.permissions)
            query = query_args(request, op.query)
            if op.body is not None:
                kwargs["body"] = json_body(request, op.body)
            return view(*args, query=query, **kwargs)

        bp.add_url_rule(op.flask_path, endpoint=op.operation_id, view_func=inner, methods=[op.method.upper()])
        return inner

    return wrap


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent rather than null: drop the null branch of an optional one."""
    branches = [s for s in schema.get("anyOf", ()) if s.get("type") != "null"]
    if "anyOf" in schema and len(branches) == 1:
        rest = {k: v for k, v in schema.items() if k != "anyOf" and not (k == "default" and v is None)}
        return {**branches[0], **rest}
    return schema


def _parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(by_alias=True, ref_template=REF_TEMPLATE)
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = _without_null({k: v for k, v in prop.items() if k not in ("title", "description")})
        params.append({"name": name, "in": "query", "required": name in required,
                       "description": schema["properties"][name].get("description", ""), "schema": prop})
    return params


def _content(spec: type[BaseModel] | str, refs: dict[type[BaseModel], dict[str, Any]]) -> dict[str, Any]:
    if isinstance(spec, str):
        return {spec: {"schema": {"type": "string"}}}
    return {"application/json": {"schema": refs[spec]}}


def _operation_doc(op: Operation, refs: dict[type[BaseModel], dict[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": _parameters(op.query)
        + [{"name": n, "in": "path", "required": True, "schema": s} for n, s in op.path_params.items()],
        "responses": {
            str(status): {"description": desc, "content": _content(spec, refs)}
            for status, (desc, spec) in op.all_responses().items()
        },
    }
    description = op.description
    if op.permissions:
        description += f"\n\nRequires API key permission(s): {', '.join(op.permissions)}."
    if description:
        doc["description"] = description.strip()
    if op.body is not None:
        doc["requestBody"] = {"required": False, "content": {"application/json": {"schema": refs[op.body]}}}
    doc["security"] = [{"ApiKeyAuth": []}] if op.authenticated else []
    return doc


def component_schemas(models: Iterable[type[BaseModel]]) -> tuple[dict[type[BaseModel], dict[str, Any]], dict[str, Any]]:
    """Each model's ``$ref`` and every component schema (the models and the models they use)."""
    unique = list(dict.fromkeys(models))
    refs, top = models_json_schema([(m, "validation") for m in unique], by_alias=True, ref_template=REF_TEMPLATE)
    return {m: refs[(m, "validation")] for m in unique}, dict(sorted(top.get("$defs", {}).items()))


def build_document(operations: list[Operation]) -> dict[str, Any]:
    # SyncOptions itself too: every option a sync takes (each endpoint's body is the subset it uses)
    refs, schemas = component_schemas([*(m for op in operations for m in op.models()), SyncOptions])
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method] = _operation_doc(op, refs)
    return {
        "openapi": "3.1.0",
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
