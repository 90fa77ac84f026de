"""Clinical parts shared by the consultation endpoints: vitals, diagnoses, product lines.

Vitals go to °C / kg / per minute with the reading as IDEXX wrote it kept beside; an unknown
unit or a non-numeric reading raises (a silent None would hide a changed format).
"""

from __future__ import annotations

from typing import Any

from ....models import Diagnosis, ProductLine, Vitals
from ..units import to_celsius, to_kilograms
from .reading import Record

TEMPERATURE, PULSE, RESPIRATION, WEIGHT, BLOOD_PRESSURE = (
    "temperature", "pulse", "respiration", "weight", "blood_pressure"
)


def vitals_from_object(row: Record | None) -> Vitals | None:
    """The search's ``vitals`` object: {temperature, temperatureUnit, pulse, respiration,
    weight, weightUnit, bloodPressure}; None when it is absent or every reading is empty."""
    if row is None:
        return None
    values: dict[str, Any] = {}
    raw: list[tuple[str, str]] = []
    temperature = row.number("temperature")
    if temperature is not None:
        unit = row.text("temperatureUnit")
        values["temperature_c"] = _converted(row, "temperatureUnit", to_celsius(temperature, unit))
        raw.append((TEMPERATURE, _reading(row.text("temperature"), unit)))
    weight = row.number("weight")
    if weight is not None:
        unit = row.text("weightUnit")
        values["weight_kg"] = _converted(row, "weightUnit", to_kilograms(weight, unit))
        raw.append((WEIGHT, _reading(row.text("weight"), unit)))
    for key, kind, field in (("pulse", PULSE, "pulse_bpm"), ("respiration", RESPIRATION, "respiration_rpm")):
        number = row.number(key)
        if number is not None:
            values[field] = round(number)
            raw.append((kind, row.text(key, required=True)))
    pressure = row.text("bloodPressure")
    if pressure is not None:
        values["blood_pressure"] = pressure
        raw.append((BLOOD_PRESSURE, pressure))
    return Vitals(raw=tuple(raw), **values) if raw else None


_KINDS = {
    "temperature": TEMPERATURE, "temp": TEMPERATURE,
    "weight": WEIGHT, "body_weight": WEIGHT,
    "pulse": PULSE, "heart_rate": PULSE, "hr": PULSE,
    "respiration": RESPIRATION, "respiratory_rate": RESPIRATION, "rr": RESPIRATION,
    "blood_pressure": BLOOD_PRESSURE, "bp": BLOOD_PRESSURE,
}


def vitals_from_readings(rows: list[Record]) -> Vitals | None:
    """The older view's list of readings [{type, value, unit}]; with several readings of one
    kind the last one wins (IDEXX lists them in the order taken)."""
    values: dict[str, Any] = {}
    raw: list[tuple[str, str]] = []
    for row in rows:
        kind = (row.text("type") or "").lower().replace(" ", "_")
        text, unit = row.text("value"), row.text("unit")
        if not kind or text is None:
            continue
        raw.append((kind, _reading(text, unit)))
        known = _KINDS.get(kind)
        if known == BLOOD_PRESSURE:
            values["blood_pressure"] = text
        elif known == TEMPERATURE:
            values["temperature_c"] = _converted(row, "unit", to_celsius(row.number("value", required=True), unit))
        elif known == WEIGHT:
            values["weight_kg"] = _converted(row, "unit", to_kilograms(row.number("value", required=True), unit))
        elif known == PULSE:
            values["pulse_bpm"] = round(row.number("value", required=True))
        elif known == RESPIRATION:
            values["respiration_rpm"] = round(row.number("value", required=True))
    return Vitals(raw=tuple(raw), **values) if raw else None


def diagnoses(row: Record, key: str) -> tuple[Diagnosis, ...]:
    """A list of diagnoses: each a string, or an object with a ``name`` (IDEXX_FACTS: unknown
    which, so both)."""
    found = []
    for index, item in enumerate(row.items(key)):
        if isinstance(item, str):
            if item.strip():
                found.append(Diagnosis(name=item.strip()))
            continue
        part = Record(item, endpoint=row.endpoint, label=row.label, path=f"{row.path}{key}[{index}].")
        found.append(Diagnosis(name=part.text("name", required=True), code=part.text("code"), status=part.text("status")))
    return tuple(found)


def consultation_lines(row: Record, key: str) -> tuple[tuple[ProductLine, ...], tuple[ProductLine, ...]]:
    """page-data ``consultationLines`` -> (given, declined): {id, productService, quantity, isDeclined}."""
    given: list[ProductLine] = []
    declined: list[ProductLine] = []
    for part in row.children(key):
        line = ProductLine(
            name=part.text("productService", required=True),
            quantity=_quantity(part),
            id=part.ident("id"),
        )
        (declined if part.flag("isDeclined") else given).append(line)
    return tuple(given), tuple(declined)


def product_lines(row: Record, key: str) -> tuple[ProductLine, ...]:
    """The older view's ``products`` [{name, quantity, type, code}]."""
    return tuple(
        ProductLine(
            name=part.text("name", required=True),
            quantity=_quantity(part),
            kind=(part.text("type") or "").lower() or None,
            code=part.text("code"),
            id=part.ident("id"),
        )
        for part in row.children(key)
    )


def _quantity(part: Record) -> float:
    quantity = part.number("quantity")
    return 1.0 if quantity is None else quantity


def _converted(row: Record, unit_key: str, value: float | None) -> float:
    if value is None:
        raise row.error(unit_key, "is not a unit we know")
    return value


def _reading(text: str | None, unit: str | None) -> str:
    return f"{text} {unit}" if unit else (text or "")
