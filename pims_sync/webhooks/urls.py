"""The SSRF guard: a webhook URL may only reach public addresses, unless an operator allows more.

Checked when an endpoint is added and again before every attempt (DNS can change): every address
the host resolves to must be global. Private, loopback, link-local (cloud metadata at
169.254.169.254), multicast, reserved and unspecified addresses are refused, and so is plain
http, unless ``WEBHOOK_ALLOW_PRIVATE_URLS`` is set (tests, the demo, a receiver on the same
network). Redirects are never followed (see :mod:`.delivery`). A host that re-resolves between
the check and the connect (DNS rebinding) is a remaining gap: run receivers you trust, or put an
egress proxy in front of the workers.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from ..errors import ValidationError


class WebhookUrlRefused(ValidationError):
    code = "webhook_url_refused"


def check_url(url: str, *, allow_private: bool) -> None:
    """Raise WebhookUrlRefused (naming the rule, never the resolved addresses) or return."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise WebhookUrlRefused("the webhook URL is malformed") from None
    if parts.scheme not in ("https", "http") or not host:
        raise WebhookUrlRefused("a webhook URL must be an absolute https:// URL")
    if parts.username or parts.password:
        raise WebhookUrlRefused("a webhook URL must not carry a user name or password; the signature authenticates")
    if parts.scheme == "http" and not allow_private:
        raise WebhookUrlRefused("a webhook URL must use https (plain http only with WEBHOOK_ALLOW_PRIVATE_URLS=true)")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise WebhookUrlRefused(f"the webhook host {host} does not resolve") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global or address.is_multicast:
            raise WebhookUrlRefused(
                f"the webhook host {host} resolves to a private, loopback or link-local address; "
                "set WEBHOOK_ALLOW_PRIVATE_URLS=true to allow it (tests, demos, trusted networks)"
            )
