"""What a refused login means for the stored credentials, so scheduled syncs stop retrying them.

A PIMS that refuses a login (wrong password, two-step verification) will refuse the next one too,
and every attempt costs something real: accounts lock after a few failures, and a two-step
account is sent a code each time. So a sync that meets such a refusal writes it on the
credentials row (``validation_status``), and a worker does not try those credentials again
until an operator stores new ones (``pims-sync credentials set`` resets the status) or a
``pims-sync credentials test`` login succeeds. A login page we could not read is our problem,
not the credentials', and leaves the status alone.
"""

from __future__ import annotations

from .errors import AuthenticationFailed

#: AuthenticationFailed.reason -> the validation_status written on the credentials
STATUS_FOR_REASON = {
    "invalid_credentials": "invalid",
    "two_factor_required": "two_factor_required",
}
_REASON_FOR_STATUS = {status: reason for reason, status in STATUS_FOR_REASON.items()}
_WHY = {
    "invalid": "the PIMS rejected these credentials at the last login",
    "two_factor_required": "two-step verification is on for this account",
}


def status_after_refusal(reason: str) -> str | None:
    """The validation_status a refused login leaves behind, or None when it says nothing."""
    return STATUS_FOR_REASON.get(reason)


def refusal_for(clinic_id: str, validation_status: str | None) -> AuthenticationFailed | None:
    """The error to raise instead of logging in with credentials marked as refused, or None."""
    status = (validation_status or "").strip()
    reason = _REASON_FOR_STATUS.get(status)
    if reason is None:
        return None
    return AuthenticationFailed(
        f"not logging in for clinic {clinic_id}: {_WHY[status]} "
        f"(the stored credentials' validation_status = '{validation_status}'); store working credentials with "
        f"`pims-sync credentials set --clinic {clinic_id}` or check them with `pims-sync credentials test`",
        reason=reason,
    )
