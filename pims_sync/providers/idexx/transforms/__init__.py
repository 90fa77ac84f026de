"""IDEXX Neo JSON -> domain models. The only package that knows IDEXX field names.

Shapes: the facts file IDEXX_FACTS.md as summarised in docs/IDEXX_API_ENDPOINTS.md; the status
chain and the consultation metadata: docs/IDEXX_STATUS.md. Every function here is pure (no
I/O), so the mapping rules are unit-tested without a network. What the facts leave open is
accepted in each plausible variant; what matches none raises PimsProtocolError naming the
endpoint, the record id and the field, never a value (reading.py). Unknown extra fields are
ignored.

Modules: ``endpoints`` (paths, query parameters), ``reading`` (typed field access, dates),
``calendar`` (appointments, statuses), ``schedule`` (the two schedule-settings endpoints),
``search`` (consultation search pages), ``consultations`` (page-data and the older view),
``clinical`` (vitals, diagnoses, product lines).
"""

from .calendar import (
    ENVELOPE_KEYS,
    STATUS_WORDS,
    appointments_from_calendar,
    calendar_items,
    map_status,
    map_type,
)
from .consultations import (
    COMPLETE_STATUSES,
    consultation_from_page_data,
    consultation_from_view,
    is_consultation,
)
from .endpoints import (
    APPOINTMENT_VIEW,
    CALENDAR,
    PAGE_DATA,
    SCHEDULE,
    SCHEDULE_CONFIGS,
    SEARCH,
    SEARCH_ORDER,
    VIEW,
    calendar_params,
    page_data_path,
    search_params,
    view_path,
)
from .reading import parse_when
from .schedule import SCHEDULE_SOURCES, schedule_from_appointment_view, schedule_from_schedule_configs
from .search import SearchPage, search_page

__all__ = [
    "APPOINTMENT_VIEW",
    "CALENDAR",
    "COMPLETE_STATUSES",
    "ENVELOPE_KEYS",
    "PAGE_DATA",
    "SCHEDULE",
    "SCHEDULE_CONFIGS",
    "SCHEDULE_SOURCES",
    "SEARCH",
    "SEARCH_ORDER",
    "STATUS_WORDS",
    "VIEW",
    "SearchPage",
    "appointments_from_calendar",
    "calendar_items",
    "calendar_params",
    "consultation_from_page_data",
    "consultation_from_view",
    "is_consultation",
    "map_status",
    "map_type",
    "page_data_path",
    "parse_when",
    "schedule_from_appointment_view",
    "schedule_from_schedule_configs",
    "search_page",
    "search_params",
    "view_path",
]
