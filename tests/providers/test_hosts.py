"""The per-clinic IDEXX host policy: which hosts a clinic's credentials may be sent to."""

from __future__ import annotations

import pytest

from pims_sync.errors import ConfigError, PimsHostRefused
from pims_sync.providers.idexx.hosts import (
    HostSyntaxError,
    base_url_for,
    is_idexx_origin,
    origin,
    parse_extra_hosts,
)

DEFAULT = "https://us.idexxneo.com"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("ca.idexxneo.com", "https://ca.idexxneo.com"),
        ("https://UK.idexxneo.com/", "https://uk.idexxneo.com"),
        ("http://127.0.0.1:5080", "http://127.0.0.1:5080"),
        (" neo.example.org ", "https://neo.example.org"),
    ],
)
def test_origin_normalises(value, expected):
    assert origin(value) == expected


@pytest.mark.parametrize(
    "value",
    ["", "ftp://ca.idexxneo.com", "https://user:pw@ca.idexxneo.com", "https://ca.idexxneo.com/login",
     "https://ca.idexxneo.com?x=1", "https://ca.idexxneo.com:99999"],
)
def test_origin_refuses_anything_but_a_place(value):
    with pytest.raises(HostSyntaxError) as info:
        origin(value)
    assert "pw" not in str(info.value)


@pytest.mark.parametrize(
    "url, allowed",
    [
        ("https://us.idexxneo.com", True),
        ("https://ca.idexxneo.com", True),
        ("https://uk.idexxneo.com", True),
        ("https://clinic-42.idexxneocloud.com", True),
        ("https://idexxneocloud.com", False),  # the suffix needs a deployment name
        ("https://evil-idexxneocloud.com", False),
        ("https://us.idexxneo.com.evil.net", False),
        ("http://us.idexxneo.com", False),  # never plain http to IDEXX
        ("https://us.idexxneo.com:8443", False),
        ("https://au.idexxneo.com", False),  # not a host the facts name
    ],
)
def test_allow_list(url, allowed):
    assert is_idexx_origin(url) is allowed


def test_no_clinic_host_means_the_operators_default_whatever_it_is():
    assert base_url_for("c1", None, default_url="http://simulator:5080/") == "http://simulator:5080"
    assert base_url_for("c1", "  ", default_url=DEFAULT) == DEFAULT


def test_clinic_on_an_idexx_host_uses_it():
    assert base_url_for("c1", "ca.idexxneo.com", default_url=DEFAULT) == "https://ca.idexxneo.com"
    assert base_url_for("c2", "https://vet1.idexxneocloud.com", default_url=DEFAULT) == "https://vet1.idexxneocloud.com"


def test_clinic_on_any_other_host_is_refused_naming_clinic_and_setting():
    with pytest.raises(PimsHostRefused) as info:
        base_url_for("clinic-7", "https://collector.example.net", default_url=DEFAULT)
    message = str(info.value)
    assert "clinic-7" in message and "IDEXX_EXTRA_HOSTS" in message and "collector.example.net" in message
    assert isinstance(info.value, ConfigError) and info.value.code == "pims_host_refused"


def test_http_is_refused_even_on_an_idexx_host():
    with pytest.raises(PimsHostRefused, match="https only"):
        base_url_for("c1", "http://ca.idexxneo.com", default_url=DEFAULT)


def test_malformed_clinic_host_is_refused_without_echoing_it():
    with pytest.raises(PimsHostRefused) as info:
        base_url_for("c1", "https://admin:hunter2@ca.idexxneo.com", default_url=DEFAULT)
    assert "hunter2" not in str(info.value) and "c1" in str(info.value)


def test_operator_listed_hosts_are_allowed():
    extra = parse_extra_hosts("neo.example.org, http://127.0.0.1:5080")
    assert extra == ("https://neo.example.org", "http://127.0.0.1:5080")
    assert base_url_for("c1", "neo.example.org", default_url=DEFAULT, extra_hosts=extra) == "https://neo.example.org"
    assert base_url_for("c1", "http://127.0.0.1:5080", default_url=DEFAULT, extra_hosts=extra) == "http://127.0.0.1:5080"
    with pytest.raises(PimsHostRefused):  # listing https does not allow http on the same host
        base_url_for("c1", "http://neo.example.org", default_url=DEFAULT, extra_hosts=extra)


def test_the_default_url_itself_is_trusted_as_a_clinic_host():
    assert base_url_for("c1", "http://127.0.0.1:5080", default_url="http://127.0.0.1:5080") == "http://127.0.0.1:5080"


def test_parse_extra_hosts_empty_and_duplicates():
    assert parse_extra_hosts(None) == () and parse_extra_hosts(" , ") == ()
    assert parse_extra_hosts("a.example, https://A.example") == ("https://a.example",)
