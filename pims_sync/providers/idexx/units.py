"""Unit conversions for vitals. Pure arithmetic; the field names stay in transforms/."""

from __future__ import annotations

LB_TO_KG = 0.45359237

# spellings seen in the wild, lower-cased and stripped of spaces and dots
FAHRENHEIT = {"°f", "f", "degf", "fahrenheit", "ºf"}
CELSIUS = {"°c", "c", "degc", "celsius", "ºc"}
POUNDS = {"lb", "lbs", "pound", "pounds"}
KILOGRAMS = {"kg", "kgs", "kilogram", "kilograms"}


def unit_key(unit: str | None) -> str:
    return (unit or "").strip().lower().replace(" ", "").replace(".", "")


def to_celsius(value: float, unit: str | None) -> float | None:
    """°F/°C (any common spelling) to °C rounded to 0.1; None for an unknown unit."""
    key = unit_key(unit)
    if key in FAHRENHEIT:
        return round((value - 32.0) * 5.0 / 9.0, 1)
    if key in CELSIUS:
        return round(value, 1)
    return None


def to_kilograms(value: float, unit: str | None) -> float | None:
    """lb/lbs/kg to kg rounded to 0.01; None for an unknown unit."""
    key = unit_key(unit)
    if key in POUNDS:
        return round(value * LB_TO_KG, 2)
    if key in KILOGRAMS:
        return round(value, 2)
    return None
