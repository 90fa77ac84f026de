"""The SSRF guard against DNS rebinding: an attempt connects to the address it checked.

Real sockets on 127.0.0.1 throughout. A name that resolves to loopback is refused unless the
operator setting allows it; a resolver that changes its answer after the first question (what a
rebinding attacker's DNS does) is asked once, and the POST goes to that first, checked address
with the name in the Host header and, over TLS, as the server name the certificate is checked
against.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pims_sync.webhooks import WebhookUrlRefused, check_url, post_once
from tests.webhooks.receiver import receiver

NAME = "hooks.pims.test"  # .test is reserved: it never resolves on a real network


class Rebinding:
    """A resolver whose answer changes after the first question; counts the questions."""

    def __init__(self, *answers: str):
        self.answers, self.calls = answers, 0

    def __call__(self, host: str, port: int, **_: object) -> list[tuple]:
        self.calls += 1
        address = self.answers[min(self.calls, len(self.answers)) - 1]
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]


def test_a_name_resolving_to_loopback_is_refused_unless_allowed():
    with receiver(host="localhost") as rx:
        port = urlsplit(rx.url).port
        secure = f"https://localhost:{port}/hooks/pims"
        with pytest.raises(WebhookUrlRefused, match="loopback"):
            check_url(secure, allow_private=False)
        refused = post_once(secure, body=b"{}", headers={}, allow_private=False)
        assert refused.status_code is None and "loopback" in refused.error and rx.received == []

        allowed = post_once(rx.url, body=b'{"a":1}', headers={"webhook-id": "msg_1"}, allow_private=True)
        assert allowed.ok and allowed.error is None
        (headers, body), = rx.received
        assert headers["host"] == f"localhost:{port}" and headers["webhook-id"] == "msg_1" and body == b'{"a":1}'


def test_the_attempt_connects_to_the_checked_address_not_a_second_answer():
    with receiver(host=NAME) as rx:
        port = urlsplit(rx.url).port
        dns = Rebinding("127.0.0.1", "127.0.0.2")  # nothing listens on the second answer
        result = post_once(rx.url, body=b"{}", headers={}, allow_private=True, resolver=dns)
        assert result.ok, result
        assert dns.calls == 1
        assert rx.received[0][0]["host"] == f"{NAME}:{port}"


def test_a_public_answer_then_a_loopback_one_never_reaches_loopback():
    with receiver(host=NAME) as rx:
        port = urlsplit(rx.url).port
        dns = Rebinding("93.184.216.34", "127.0.0.1")  # passes the check, then points inside
        result = post_once(f"https://{NAME}:{port}/hooks/pims", body=b"{}", headers={}, allow_private=False,
                           resolver=dns, timeout_s=(0.5, 0.5))
        assert not result.ok and result.status_code is None
        assert dns.calls == 1 and rx.received == []


def _tls_files(tmp_path, name: str) -> tuple[str, ssl.SSLContext]:
    """A CA (its PEM path: the client's bundle) and a server context with a leaf for ``name``."""
    now = dt.datetime.now(dt.UTC)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pims-sync test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
          .not_valid_after(now + dt.timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name).public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_path, cert_path, key_path = tmp_path / "ca.pem", tmp_path / "leaf.pem", tmp_path / "leaf.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_path, key_path)
    return str(ca_path), server


def test_tls_to_the_pinned_address_sends_the_name_and_checks_the_certificate_against_it(tmp_path):
    ca_path, server = _tls_files(tmp_path, NAME)
    assert not ipaddress.ip_address("127.0.0.1").is_global
    with receiver(tls=server, host=NAME) as rx:
        port = urlsplit(rx.url).port
        ok = post_once(rx.url, body=b"{}", headers={}, allow_private=True, resolver=Rebinding("127.0.0.1"),
                       ca_certs=ca_path)
        assert ok.ok, ok
        assert rx.server_names == [NAME] and rx.received[0][0]["host"] == f"{NAME}:{port}"
        # the same address under a name the certificate does not carry: refused by the TLS check
        other = post_once(f"https://other.pims.test:{port}/hooks/pims", body=b"{}", headers={},
                          allow_private=True, resolver=Rebinding("127.0.0.1"), ca_certs=ca_path)
        assert other.status_code is None and other.error.startswith("TLS"), other
        assert len(rx.received) == 1
