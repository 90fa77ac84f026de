"""Refused-credential statuses: which stored validation_status stops a login, and the message."""

from pims_sync.credential_status import refusal_for, status_after_refusal
from pims_sync.errors import AuthenticationFailed


def test_refusal_for_a_refused_status_names_the_clinic_and_the_status():
    err = refusal_for("clinic-7", "invalid")
    assert isinstance(err, AuthenticationFailed)
    assert "clinic clinic-7" in str(err) and "rejected these credentials" in str(err)
    assert status_after_refusal(err.reason) == "invalid"


def test_refusal_for_a_status_with_stray_whitespace_is_the_same_refusal():
    # found by mypy: the reason was looked up stripped but the message indexed the raw value (KeyError)
    err = refusal_for("clinic-7", " two_factor_required\n")
    assert isinstance(err, AuthenticationFailed)
    assert "two-step verification" in str(err)


def test_refusal_for_a_working_or_unknown_status_is_none():
    for status in (None, "", "valid", "pending", "something-else"):
        assert refusal_for("clinic-7", status) is None
