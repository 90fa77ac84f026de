"""One exception tree for pims-sync.

::

    PimsSyncError
    ├── ConfigError                 a setting is missing or malformed (names the variable)
    │   └── PimsHostRefused         a clinic's PIMS host is not one credentials may be sent to
    ├── ValidationError             bad input from a caller (API body, CLI argument, schedule entry)
    ├── CredentialError
    │   ├── CredentialsMissing      the clinic has no active credentials for the provider
    │   └── CredentialDecryptError  wrong key, tampered bytes or unknown key id
    ├── ProviderError               anything the PIMS did
    │   ├── AuthenticationFailed    wrong credentials, two-factor required, login page changed
    │   ├── SessionExpired          the PIMS no longer accepts our session cookies
    │   ├── RateLimited             429 that outlived our retries (carries retry_after_s)
    │   ├── PimsUnavailable         timeouts, connection errors, 5xx after retries
    │   └── PimsProtocolError       a body that is not the JSON shape we expect (never quoted)
    ├── StoreError                  the database refused or could not be reached
    │   └── NotFound                a row the caller named does not exist
    ├── QueueUnavailable            the broker (Redis) could not take or report work
    ├── SyncAborted                 a phase refused to act (e.g. the reconciliation guard)
    ├── SyncInProgress              the clinic already has a sync running (carries sync_id)
    └── SyncDisabled                the clinic is not ours to sync now (inactive, legacy-owned, disabled)

Adapters raise these with ``raise ... from e`` so the cause survives; the API maps them to
HTTP statuses in one error handler, the CLI to exit codes.
"""

from __future__ import annotations

from typing import Any


class PimsSyncError(Exception):
    """Root of every error pims-sync raises on purpose."""

    code = "internal_error"


class ConfigError(PimsSyncError):
    code = "config_error"

    def __init__(self, variable: str, expected: str, got: str | None = None):
        self.variable = variable
        self.expected = expected
        shown = "" if got is None else f" (got {got!r})"
        super().__init__(f"{variable}: expected {expected}{shown}")


class PimsHostRefused(ConfigError):
    """A clinic's PIMS host is outside the allow-list: no credentials or cookies go there."""

    code = "pims_host_refused"

    def __init__(self, clinic_id: str, why: str, *, setting: str = "IDEXX_EXTRA_HOSTS"):
        PimsSyncError.__init__(
            self, f"clinic {clinic_id}: its PIMS host {why}; an operator must list it in {setting} "
            "before pims-sync sends credentials there"
        )
        self.variable, self.expected, self.clinic_id = setting, why, clinic_id


class ValidationError(PimsSyncError):
    code = "validation_error"

    def __init__(self, message: str, *, details: dict[str, Any] | list[Any] | None = None):
        super().__init__(message)
        self.details = details or {}


class CredentialError(PimsSyncError):
    code = "credential_error"


class CredentialsMissing(CredentialError):
    code = "credentials_missing"


class CredentialDecryptError(CredentialError):
    code = "credential_decrypt_error"


class ProviderError(PimsSyncError):
    code = "provider_error"


class AuthenticationFailed(ProviderError):
    code = "authentication_failed"

    def __init__(self, message: str, *, reason: str = "invalid_credentials"):
        super().__init__(message)
        self.reason = reason  # invalid_credentials | two_factor_required | login_page_changed


class SessionExpired(ProviderError):
    code = "session_expired"


class RateLimited(ProviderError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PimsUnavailable(ProviderError):
    code = "pims_unavailable"


class PimsProtocolError(ProviderError):
    """Names the endpoint (and the caller names the field and record id), never the body.

    Bodies hold patient and client data, and this message reaches audit rows, API answers and
    CLI output; an operator who needs the raw bodies turns on ``IDEXX_DEBUG_DUMP_DIR``.
    """

    code = "pims_protocol_error"

    def __init__(self, message: str, *, endpoint: str = ""):
        detail = f"{message} [endpoint {endpoint}]" if endpoint else message
        super().__init__(detail)
        self.endpoint = endpoint


class StoreError(PimsSyncError):
    code = "store_error"


class NotFound(StoreError):
    code = "not_found"


class QueueUnavailable(PimsSyncError):
    code = "queue_unavailable"


class SyncAborted(PimsSyncError):
    code = "sync_aborted"

    def __init__(self, message: str, *, reason: str = ""):
        super().__init__(message)
        self.reason = reason or message


class SyncInProgress(PimsSyncError):
    code = "sync_in_progress"

    def __init__(self, message: str, *, sync_id: str | None = None):
        super().__init__(message)
        self.sync_id = sync_id


class SyncDisabled(PimsSyncError):
    """A cut-over flag says this clinic is not synced by pims-sync now; ``flag`` names which one."""

    code = "sync_disabled"

    def __init__(self, message: str, *, clinic_id: str, flag: str, value: object = None):
        super().__init__(message)
        self.clinic_id = clinic_id
        self.flag = flag
        self.value = value
