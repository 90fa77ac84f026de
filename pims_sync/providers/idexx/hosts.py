"""Which IDEXX host a clinic's sync talks to, and which hosts credentials may ever be sent to.

A clinic lives on one IDEXX host (us., ca., uk.idexxneo.com or an idexxneocloud.com deployment),
stored with the clinic (``clinics.pims_host``). That column is data: anyone who can write a clinic
row could point it at a server of theirs and collect the clinic's IDEXX password at the next
login. So a per-clinic host is used only if it is https on IDEXX's own domains, or an operator
listed it in ``IDEXX_EXTRA_HOSTS``. ``IDEXX_BASE_URL`` is the operator's own setting and is
trusted as it is (that is how the simulator and test stand-ins are reached).

Pure functions: no I/O, unit-tested in tests/providers/test_hosts.py.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ...errors import PimsHostRefused

IDEXX_HOSTS = ("us.idexxneo.com", "ca.idexxneo.com", "uk.idexxneo.com")
IDEXX_SUFFIXES = (".idexxneocloud.com",)
SETTING = "IDEXX_EXTRA_HOSTS"


class HostSyntaxError(ValueError):
    """Not a host or an origin URL (the message says why, never echoing the value)."""


def origin(value: str) -> str:
    """``scheme://host[:port]`` in lower case; a bare host means https.

    Refuses user info, paths, queries and fragments: a host setting is a place, nothing more.
    """
    raw = (value or "").strip()
    if not raw:
        raise HostSyntaxError("is empty")
    if "://" not in raw:
        raw = "https://" + raw
    parts = urlsplit(raw)
    if parts.scheme.lower() not in ("https", "http"):
        raise HostSyntaxError("must start with https:// (or be a bare host name)")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise HostSyntaxError("must not carry a user name or password")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise HostSyntaxError("must be a host, without a path, query or fragment")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise HostSyntaxError("has an invalid port") from None
    if not host:
        raise HostSyntaxError("has no host name")
    netloc = host if port is None else f"{host}:{port}"
    return f"{parts.scheme.lower()}://{netloc}"


def parse_extra_hosts(raw: str | None) -> tuple[str, ...]:
    """``IDEXX_EXTRA_HOSTS``: comma-separated hosts or origins, normalised with :func:`origin`."""
    if not raw or not raw.strip():
        return ()
    return tuple(dict.fromkeys(origin(item) for item in raw.split(",") if item.strip()))


def is_idexx_origin(url: str) -> bool:
    """https on one of IDEXX's own hosts (any port is refused: IDEXX serves on 443)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or parts.port not in (None, 443):
        return False
    return host in IDEXX_HOSTS or any(host.endswith(s) and len(host) > len(s) for s in IDEXX_SUFFIXES)


def _origin_or_none(url: str) -> str | None:
    try:
        return origin(url)
    except HostSyntaxError:
        return None


def base_url_for(
    clinic_id: str, pims_host: str | None, *, default_url: str, extra_hosts: tuple[str, ...] = ()
) -> str:
    """The base URL for this clinic's IDEXX calls, or PimsHostRefused naming clinic and setting."""
    if pims_host is None or not pims_host.strip():
        return default_url.rstrip("/")
    try:
        wanted = origin(pims_host)
    except HostSyntaxError as e:
        raise PimsHostRefused(clinic_id, f"(clinics.pims_host) {e}", setting=SETTING) from None
    if wanted in extra_hosts or is_idexx_origin(wanted) or wanted == _origin_or_none(default_url):
        return wanted
    host = urlsplit(wanted).hostname
    raise PimsHostRefused(
        clinic_id,
        f"{host} is not an IDEXX host ({', '.join(IDEXX_HOSTS)}, *{IDEXX_SUFFIXES[0]}, https only)",
        setting=SETTING,
    )
