"""The jsonb PostgresStore sends (orjson, store/_rows.py dumps_bytes) says what the standard
library's encoder said, and reaches the database as the same value."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb

from pims_sync.store import _rows as rows

VALUE = {
    "at": datetime(2026, 3, 2, 8, 15, 30, 123456, tzinfo=UTC),
    "local": datetime(2026, 3, 2, 8, 15, tzinfo=ZoneInfo("America/New_York")),
    "naive": datetime(2026, 3, 2, 8, 15),
    "day": date(2026, 3, 2),
    "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "pair": (1, 2),
    "tags": {"only"},
    7: "an integer key",
    "text": "Ünïcode, a \u2028 separator and \"quotes\"",
    "nested": {"list": [1, 2.5, None, True], "empty": {}},
}


def test_orjson_writes_what_the_standard_encoder_wrote():
    encoded = rows.dumps_bytes(VALUE)
    assert "Ünïcode".encode() in encoded  # raw UTF-8: orjson wrote it (the fallback escapes to \u00dc)
    assert json.loads(encoded) == json.loads(rows.dumps(VALUE))


def test_an_integer_orjson_refuses_goes_through_the_standard_encoder():
    huge = {"n": 2**70, "name": "Ünïcode"}
    encoded = rows.dumps_bytes(huge)
    assert b"\\u00dc" in encoded  # the standard library's encoder wrote this one
    assert json.loads(encoded) == huge


def test_the_database_stores_the_same_value_from_either_encoder(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        stored = conn.execute(
            "select %s::jsonb = %s::jsonb, %s::jsonb",
            (Jsonb(VALUE, dumps=rows.dumps_bytes), Jsonb(VALUE, dumps=rows.dumps),
             Jsonb(VALUE, dumps=rows.dumps_bytes)),
        ).fetchone()
    assert stored[0] is True
    assert stored[1]["id"] == str(VALUE["id"]) and stored[1]["7"] == "an integer key"
