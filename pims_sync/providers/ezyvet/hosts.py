"""Which ezyVet host a clinic's calls go to: production, trial, or an operator-listed one.

``clinics.pims_host`` is data anyone who writes a clinic row controls, and the client secret is
sent to it, so (as for IDEXX, :mod:`..idexx.hosts`) it is used only when it is https on ezyVet's
own API hosts or listed by the operator in ``IDEXX_EXTRA_HOSTS`` (the one allow-list of hosts
credentials may go to, whatever the PIMS; the simulator is reached that way).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ...errors import PimsHostRefused
from ..idexx.hosts import SETTING, HostSyntaxError, origin

EZYVET_BASE_URL = "https://api.ezyvet.com"  # production; trial sites: api.trial.ezyvet.com (EZYVET_FACTS §2)
EZYVET_HOSTS = ("api.ezyvet.com", "api.trial.ezyvet.com")


def base_url_for(clinic_id: str, pims_host: str | None, *, extra_hosts: tuple[str, ...] = ()) -> str:
    if pims_host is None or not pims_host.strip():
        return EZYVET_BASE_URL
    try:
        wanted = origin(pims_host)
    except HostSyntaxError as e:
        raise PimsHostRefused(clinic_id, f"(clinics.pims_host) {e}", setting=SETTING) from None
    parts = urlsplit(wanted)
    if wanted in extra_hosts or (parts.scheme == "https" and parts.port in (None, 443)
                                 and parts.hostname in EZYVET_HOSTS):
        return wanted
    raise PimsHostRefused(clinic_id, f"{parts.hostname} is not an ezyVet API host ({', '.join(EZYVET_HOSTS)}, "
                                     "https only)", setting=SETTING)
