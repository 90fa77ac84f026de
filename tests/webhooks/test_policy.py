"""The pure parts and the SSRF guard: signatures, events, the retry schedule, refused URLs."""

from __future__ import annotations

import time

import pytest
import standardwebhooks

from pims_sync.config import Settings
from pims_sync.errors import ConfigError, ValidationError
from pims_sync.webhooks import (
    DEFAULT_RETRY_DELAYS_S,
    WebhookUrlRefused,
    check_url,
    new_secret,
    next_delay,
    parse_events,
    post_once,
    signed_headers,
)
from tests.webhooks.receiver import receiver


def test_our_signature_verifies_with_the_specs_library_and_only_for_that_body():
    secret = new_secret()
    body = b'{"type":"sync.completed","data":{"syncId":"x"}}'
    headers = signed_headers(secret, msg_id="msg_1", timestamp=int(time.time()), body=body)
    assert standardwebhooks.Webhook(secret).verify(body, headers)["data"]["syncId"] == "x"
    assert headers["webhook-signature"].startswith("v1,")
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(body.replace(b"x", b"y"), headers)
    stale = signed_headers(secret, msg_id="msg_1", timestamp=int(time.time()) - 3600, body=body)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(body, stale)  # the timestamp is signed too


def test_retry_schedule_events_and_settings():
    assert next_delay(1) == DEFAULT_RETRY_DELAYS_S[0] and next_delay(len(DEFAULT_RETRY_DELAYS_S)) is not None
    assert next_delay(len(DEFAULT_RETRY_DELAYS_S) + 1) is None
    assert 20 * 3600 < sum(DEFAULT_RETRY_DELAYS_S) < 30 * 3600  # about a day
    assert parse_events(None) == ("sync.completed", "sync.failed", "sync.partial")
    assert parse_events(["sync.failed,sync.failed"]) == ("sync.failed",)
    with pytest.raises(ValidationError, match="sync.done"):
        parse_events(["sync.done"])
    assert Settings.from_env({"WEBHOOK_RETRY_DELAYS_S": "1, 2"}).webhook_retry_delays_s == (1, 2)
    with pytest.raises(ConfigError, match="WEBHOOK_RETRY_DELAYS_S"):
        Settings.from_env({"WEBHOOK_RETRY_DELAYS_S": "soon"})


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/x", "https://127.0.0.1/x", "https://localhost/x", "https://10.1.2.3/x",
    "https://169.254.169.254/latest/meta-data", "https://[::1]/x", "https://192.168.0.10/x",
    "http://93.184.216.34/plain-http", "https://user:pw@93.184.216.34/x", "ftp://93.184.216.34/x",
])
def test_private_plain_or_odd_urls_are_refused(url):
    with pytest.raises(WebhookUrlRefused):
        check_url(url, allow_private=False)


def test_a_public_address_passes_and_the_operator_setting_allows_private_ones():
    check_url("https://93.184.216.34/hooks", allow_private=False)
    check_url("http://127.0.0.1:9/x", allow_private=True)


def test_delivery_refuses_private_targets_and_never_follows_redirects():
    with receiver(statuses=(302,)) as rx:
        blocked = post_once(rx.url, body=b"{}", headers={}, allow_private=False)
        assert blocked.status_code is None and blocked.error.startswith("refused") and rx.received == []
        moved = post_once(rx.url, body=b"{}", headers={}, allow_private=True)
        assert moved.status_code == 302 and moved.error == "redirect not followed" and not moved.ok
        assert len(rx.received) == 1  # the Location was not visited
