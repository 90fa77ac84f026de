"""Filters, paging and the list envelope (EZYVET_FACTS.md §3-4).

A filter is a query parameter named after a field whose value is a bare value (``active=1``) or
URL-encoded JSON of comparators (``start_at={"gte":1700000000,"lt":1700086400}``,
``id={"in":[1,2]}``). Values compare as numbers when both sides are numeric, so v1's string
numbers and v2's ints filter alike. Unknown comparators are a 400 with the ``messages`` envelope.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

DEFAULT_LIMIT = 10
MAX_LIMIT = 200
RESERVED = frozenset({"page", "limit"})
OPS = ("eq", "neq", "gt", "lt", "gte", "lte", "like", "in")


class BadRequest(Exception):
    def __init__(self, text: str, field: str | None = None):
        super().__init__(text)
        self.field = field


def _num(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    try:
        return float(value) if "." in str(value) else int(str(value))
    except (TypeError, ValueError):
        return value


def _cmp(a: Any, b: Any) -> tuple[Any, Any]:
    na, nb = _num(a), _num(b)
    if isinstance(na, int | float) and isinstance(nb, int | float):
        return na, nb
    return str(a), str(b)


def _test(op: str, have: Any, want: Any) -> bool:
    if op == "in":
        if not isinstance(want, list):
            raise BadRequest("the in comparator takes an array")
        return any(_test("eq", have, w) for w in want)
    if have is None:
        return op == "eq" and want is None or op == "neq" and want is not None
    if op == "like":
        return str(want).strip("%").lower() in str(have).lower()
    a, b = _cmp(have, want)
    try:
        return bool({"eq": a == b, "neq": a != b, "gt": a > b, "lt": a < b, "gte": a >= b, "lte": a <= b}[op])
    except TypeError:
        return False


def parse_filters(args: Mapping[str, str]) -> list[tuple[str, str, Any]]:
    filters = []
    for name, raw in args.items():
        if name in RESERVED:
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        if isinstance(value, dict):
            for op, want in value.items():
                if op not in OPS:
                    raise BadRequest(f"Unknown filter comparator \"{op}\" on \"{name}\".", name)
                filters.append((name, op, want))
        else:
            filters.append((name, "eq", raw if not isinstance(value, int | float | bool) else value))
    return filters


def select(records: Iterable[dict[str, Any]], filters: list[tuple[str, str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if all(_test(op, r.get(name), want) for name, op, want in filters)]


def paging(args: Mapping[str, str]) -> tuple[int, int]:
    try:
        page = int(args.get("page", 1))
        limit = int(args.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise BadRequest("page and limit must be integers") from None
    if page < 1 or limit < 1:
        raise BadRequest("page and limit must be at least 1")
    return page, min(limit, MAX_LIMIT)


def envelope(wrapper: str, rows: list[dict[str, Any]], page: int, limit: int) -> dict[str, Any]:
    """``{meta, items: [{wrapper: record}]}`` for one page (items_page_total counts pages)."""
    total = len(rows)
    chunk = rows[(page - 1) * limit: page * limit]
    return {
        "meta": {"items_page": page, "items_page_total": max(1, -(-total // limit)), "items_page_size": limit,
                 "items_total": total, "transaction_id": uuid.uuid4().hex, "timestamp": int(time.time())},
        "items": [{wrapper: dict(r)} for r in chunk],
    }


def messages(text: str, type_: str = "InvalidRequestException", fields: list[str] | None = None) -> dict[str, Any]:
    """ezyVet's error envelope (EZYVET_FACTS.md §1 and §8)."""
    return {"messages": [{"level": "error", "type": type_, "text": text, "fields": fields or []}]}
