"""IDEXX Neo endpoint paths and query parameters (IDEXX_FACTS.md), written once."""

from __future__ import annotations

import re
from datetime import datetime

from ..clock import format_calendar, format_search

CALENDAR = "/appointments/getCalendarEventData"
APPOINTMENT_VIEW = "/appointments/getAppointmentView"  # schedule settings, the production endpoint
SCHEDULE_CONFIGS = "/schedule/getScheduleConfigs"  # schedule settings, the legacy endpoint
SCHEDULE = SCHEDULE_CONFIGS  # the old name, kept for callers that import it
SEARCH = "/consultations/search"
PAGE_DATA = "/consultations/{id}/page-data"  # endpoint labels for stats and errors
VIEW = "/consultations/view/{id}"  # the older consultation endpoint: the fallback

SEARCH_ORDER = "consultedAt:desc"


def page_data_path(consultation_id: str) -> str:
    return f"/consultations/{_path_id(consultation_id)}/page-data"


def view_path(consultation_id: str) -> str:
    return f"/consultations/view/{_path_id(consultation_id)}"


def _path_id(value: str) -> str:
    text = str(value).strip()
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", text):
        raise ValueError("not a consultation id (letters, digits, '-' and '_' only)")
    return text


def calendar_params(start_wall: datetime, end_wall: datetime) -> dict[str, str]:
    """Query for the calendar: naive clinic wall times, ``YYYY-MM-DD HH:MM:SS``."""
    return {"start": format_calendar(start_wall), "end": format_calendar(end_wall)}


def search_params(page: int, start_wall: datetime, end_wall: datetime) -> dict[str, str]:
    """Query for the consultation search: ``DD.MM.YYYY HH:mm:ss`` wall times, pages from 1."""
    return {
        "page": str(page),
        "date_start": format_search(start_wall),
        "date_end": format_search(end_wall),
        "order[]": SEARCH_ORDER,
    }
