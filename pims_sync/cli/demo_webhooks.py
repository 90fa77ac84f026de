"""The demo's own webhook receiver: every demo clinic gets an endpoint pointing here.

A small HTTP server on 127.0.0.1 inside the demo process (which is why the demo's worker runs
with ``WEBHOOK_ALLOW_PRIVATE_URLS=true``). It checks each message's Standard Webhooks signature
with the secret its clinic's endpoint was given, and the demo prints what arrived beside the sync
summary. Endpoints from an earlier run of the demo (same path) are replaced, not piled up.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from rich.table import Table

from ..webhooks import register_endpoint, sign

if TYPE_CHECKING:
    from ..config import Settings
    from ..crypto import CredentialCipher
    from ..store.base import Store

DEMO_PATH = "/demo-webhooks"
TOLERANCE_S = 300


class DemoReceiver:
    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}  # clinic id -> its endpoint's secret (this process only)
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(min(int(self.headers.get("Content-Length") or 0), 1 << 20))
                receiver.accept({k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, name="demo-webhooks", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}{DEMO_PATH}"

    def register(self, store: Store, cipher: CredentialCipher, settings: Settings, clinic_ids: list[str]) -> None:
        for clinic_id in clinic_ids:
            for old in store.list_webhooks(clinic_id):
                if old.url.endswith(DEMO_PATH):
                    store.delete_webhook(old.id)
            _, secret = register_endpoint(store, cipher, settings.replace(webhook_allow_private=True),
                                          clinic_id=clinic_id, url=self.url)
            self.secrets[clinic_id] = secret

    def accept(self, headers: dict[str, str], body: bytes) -> None:
        try:
            message = json.loads(body)
            data = message.get("data") or {}
        except ValueError:
            message, data = {}, {}
        self._record({"clinicId": data.get("clinicId"), "syncId": data.get("syncId"), "event": message.get("type"),
                      "msgId": headers.get("webhook-id"), "verified": self.verify(data.get("clinicId"), headers, body)})

    def verify(self, clinic_id: str | None, headers: dict[str, str], body: bytes) -> bool:
        secret = self.secrets.get(clinic_id or "")
        try:
            msg_id, timestamp = headers["webhook-id"], int(headers["webhook-timestamp"])
        except (KeyError, ValueError):
            return False
        if secret is None or abs(time.time() - timestamp) > TOLERANCE_S:
            return False
        expected = sign(secret, msg_id=msg_id, timestamp=timestamp, body=body)
        return any(hmac.compare_digest(expected, given) for given in headers.get("webhook-signature", "").split())

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.received.append(entry)

    def wait_for(self, sync_ids: list[str], *, timeout_s: float) -> list[dict[str, Any]]:
        """The messages of these syncs, waiting up to ``timeout_s`` for one per sync."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                found = [r for r in self.received if r["syncId"] in sync_ids]
            if len({r["syncId"] for r in found}) >= len(set(sync_ids)) or time.monotonic() >= deadline:
                return found
            time.sleep(0.2)

    def table(self, found: list[dict[str, Any]], names: dict[str, str]) -> Table:
        table = Table(title=f"Webhooks received by the demo's receiver ({self.url})", title_justify="left")
        for column in ("clinic", "event", "webhook-id", "signature"):
            table.add_column(column)
        for r in found:
            table.add_row(names.get(r["clinicId"] or "", "?"), r["event"] or "?", r["msgId"] or "?",
                          "[green]verified[/]" if r["verified"] else "[red]bad[/]")
        if not found:
            table.add_row("-", "none arrived yet", "-", "-")
        return table

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
