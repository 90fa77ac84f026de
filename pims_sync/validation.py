"""pydantic's validation errors as the project's :class:`~pims_sync.errors.ValidationError`.

A refusal names each field by its public (camelCase) name and says what the field accepts in
words read from the field's own type and constraints, so the message follows the model: a
changed bound changes the API's 400, the CLI's refusal and the task's error alike.
"""

from __future__ import annotations

import types
import uuid
from datetime import date
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pydantic
from pydantic.fields import FieldInfo

from .errors import ValidationError


def bounds(info: FieldInfo) -> tuple[Any, Any]:
    """A field's inclusive (lowest, highest) allowed value from its ge/le constraints (None when open)."""
    lo = hi = None
    for item in info.metadata:
        lo = getattr(item, "ge", lo)
        hi = getattr(item, "le", hi)
    return lo, hi


def _base_type(annotation: Any) -> Any:
    """int for ``StrictInt``, date for ``Annotated[date, ...] | None`` and so on."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def describe(info: FieldInfo) -> str:
    """What a field accepts, in words: 'an integer from 0 to 90', 'true or false', ..."""
    kind = _base_type(info.annotation)
    lo, hi = bounds(info)
    span = f" from {lo} to {hi}" if lo is not None and hi is not None else (
        f" of at least {lo}" if lo is not None else f" of at most {hi}" if hi is not None else "")
    if get_origin(kind) is Literal:
        return "one of: " + ", ".join(str(v) for v in get_args(kind))
    if kind is bool:
        return "true or false"
    if kind is int:
        return "an integer" + span
    if kind is float:
        return "a number" + span
    if kind is date:
        return "a real calendar date YYYY-MM-DD" + span
    if kind is uuid.UUID:
        return "a UUID"
    if kind is str:
        longest = next((m.max_length for m in info.metadata if getattr(m, "max_length", None)), None)
        return "a string" + (f" of at most {longest} characters" if longest else "")
    return f"a valid {getattr(kind, '__name__', kind)}"


def problems(exc: pydantic.ValidationError, model: type[pydantic.BaseModel], *, where: str = "field") -> list[dict[str, str]]:
    """One ``{field, message}`` per problem, fields by their public names."""
    fields: dict[str, tuple[str, FieldInfo]] = {}
    for name, info in model.model_fields.items():
        public = info.alias or name
        fields[name] = fields[public] = (public, info)
    out: list[dict[str, str]] = []
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        ctx = err.get("ctx") or {}
        if not loc:  # a cross-field rule (a model validator) names its field in ctx
            out.append({"field": str(ctx.get("field", "body")), "message": err["msg"]})
            continue
        key = str(loc[0])
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(dict.fromkeys(public for public, _ in fields.values())) or "none"
            out.append({"field": key, "message": f"unknown {where} (allowed: {allowed})"})
        elif err["type"] == "missing":
            out.append({"field": fields.get(key, (key, None))[0], "message": "is required"})
        elif key in fields:
            public, info = fields[key]
            out.append({"field": public, "message": f"must be {describe(info)}"})
        else:
            out.append({"field": key, "message": err["msg"]})
    return out


def validation_error(
    exc: pydantic.ValidationError, model: type[pydantic.BaseModel], *, where: str = "field"
) -> ValidationError:
    """The project's ValidationError: every problem in the message and in ``details.errors``."""
    errors = problems(exc, model, where=where)
    summary = "; ".join(
        e["message"] if e["message"].startswith(e["field"]) else f"{e['field']}: {e['message']}" for e in errors
    )
    return ValidationError(f"invalid {where}s: {summary}", details={"errors": errors})
