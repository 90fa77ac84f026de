"""Webhook endpoints and deliveries as the store returns them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class WebhookEndpoint:
    id: str
    clinic_id: str
    url: str
    events: tuple[str, ...]
    enabled: bool
    disabled_reason: str | None = None
    consecutive_failures: int = 0
    last_success_at: datetime | None = None
    created_at: datetime | None = None
    secret_encrypted: bytes = field(default=b"", repr=False)
    encryption_key_id: str = "default"

    def to_json(self) -> dict[str, Any]:
        """What the CLI shows: never the secret, sealed or not."""
        return {
            "id": self.id, "clinicId": self.clinic_id, "url": self.url, "events": list(self.events),
            "enabled": self.enabled, "disabledReason": self.disabled_reason,
            "consecutiveFailures": self.consecutive_failures,
            "lastSuccessAt": self.last_success_at.isoformat() if self.last_success_at else None,
            "createdAt": self.created_at.isoformat() if self.created_at else None,
        }


@dataclass(frozen=True)
class Delivery:
    """One message to one endpoint; ``id`` is its Standard Webhooks ``webhook-id`` (with ``msg_``)."""

    id: str
    webhook_id: str
    sync_id: str
    event: str
    status: str
    attempts: int
    payload: dict[str, Any] = field(repr=False, default_factory=dict)
    next_attempt_at: datetime | None = None
    last_status_code: int | None = None
    created_at: datetime | None = None
    attempt_log: tuple[dict[str, Any], ...] = ()

    @property
    def msg_id(self) -> str:
        return "msg_" + self.id.replace("-", "")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "webhookId": self.webhook_id, "msgId": self.msg_id, "syncId": self.sync_id,
            "event": self.event, "status": self.status, "attempts": self.attempts,
            "lastStatusCode": self.last_status_code,
            "nextAttemptAt": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
            "createdAt": self.created_at.isoformat() if self.created_at else None,
            "log": list(self.attempt_log),
        }
