"""The SSRF guard: a webhook URL may only reach public addresses, unless an operator allows more.

Checked when an endpoint is added and again before every attempt (DNS can change): every address
the host resolves to must be global. Private, loopback, link-local (cloud metadata at
169.254.169.254), multicast, reserved and unspecified addresses are refused, and so is plain
http, unless ``WEBHOOK_ALLOW_PRIVATE_URLS`` is set (tests, the demo, a receiver on the same
network). Redirects are never followed (see :mod:`.delivery`).

DNS rebinding: an attempt resolves the host once (:func:`resolve_target`), checks those
addresses, and :mod:`.delivery` connects to one of them by IP, sending the name as the Host
header and as the TLS server name (certificates are verified against the name). Nothing
re-resolves between the check and the connect, so a name that answers a public address to the
check and a private one a moment later reaches only the public one.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..errors import ValidationError

# socket.getaddrinfo's signature; tests pass a resolver of their own (a rebinding name)
Resolver = Callable[..., Sequence[tuple[Any, ...]]]


class WebhookUrlRefused(ValidationError):
    code = "webhook_url_refused"


@dataclass(frozen=True)
class Target:
    """Where one attempt goes: the checked addresses, and the name the receiver expects."""

    scheme: str
    host: str  # the name (or IP literal) of the URL: SNI, certificate check
    port: int
    netloc: str  # the Host header
    path: str  # path and query
    addresses: tuple[str, ...]  # checked, in the resolver's order; connect to these only


def _parse(url: str, *, allow_private: bool) -> tuple[str, str, int, str, str]:
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
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80), parts.netloc, path


def _resolve(host: str, port: int, *, allow_private: bool, resolver: Resolver) -> tuple[str, ...]:
    try:
        infos = resolver(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):  # socket.gaierror is an OSError
        raise WebhookUrlRefused(f"the webhook host {host} does not resolve") from None
    addresses: list[str] = []
    for info in infos:
        raw = str(info[4][0])
        address = ipaddress.ip_address(raw.split("%")[0])
        if not allow_private and (not address.is_global or address.is_multicast):
            raise WebhookUrlRefused(
                f"the webhook host {host} resolves to a private, loopback or link-local address; "
                "set WEBHOOK_ALLOW_PRIVATE_URLS=true to allow it (tests, demos, trusted networks)"
            )
        if raw not in addresses:
            addresses.append(raw)
    if not addresses:
        raise WebhookUrlRefused(f"the webhook host {host} does not resolve")
    return tuple(addresses)


def resolve_target(url: str, *, allow_private: bool, resolver: Resolver = socket.getaddrinfo) -> Target:
    """Check the URL, resolve its host once and check every address; raise WebhookUrlRefused or return them."""
    scheme, host, port, netloc, path = _parse(url, allow_private=allow_private)
    addresses = _resolve(host, port, allow_private=allow_private, resolver=resolver)
    return Target(scheme=scheme, host=host, port=port, netloc=netloc, path=path, addresses=addresses)


def check_url(url: str, *, allow_private: bool, resolver: Resolver = socket.getaddrinfo) -> None:
    """Raise WebhookUrlRefused (naming the rule, never the resolved addresses) or return.

    With ``allow_private`` the host is not resolved here (a receiver may come up later); each
    attempt resolves it anyway.
    """
    _, host, port, _, _ = _parse(url, allow_private=allow_private)
    if not allow_private:
        _resolve(host, port, allow_private=False, resolver=resolver)
