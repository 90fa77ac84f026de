"""LISTEN for schedule-config changes on a dedicated psycopg connection, polled without blocking.

The migration's trigger sends NOTIFY ``clinic_schedule_configs_changed`` with the clinic id on
every insert, update and delete. Notifications are lost while the connection is down, so
every (re)connect tells the caller to poll for changed rows instead.
"""

from __future__ import annotations

import logging
import time

import psycopg

log = logging.getLogger(__name__)
CHANNEL = "clinic_schedule_configs_changed"


class ConfigListener:
    def __init__(self, database_url: str, *, retry_s: float = 5.0, connect_timeout_s: int = 5):
        self._url = database_url
        self._retry_s = retry_s
        self._connect_timeout_s = connect_timeout_s
        self._conn: psycopg.Connection | None = None
        self._next_attempt = 0.0
        self._warned = False

    def drain(self) -> set[str] | None:
        """Clinic ids notified since the last call; None when changes may have been missed.

        Never blocks on the socket: a tick calls this each time round.
        """
        if self._conn is None:
            return self._connect()
        try:
            return {n.payload for n in self._conn.notifies(timeout=0)}
        except psycopg.Error as e:
            log.warning(
                "beat: lost the LISTEN connection (%s); polling until it is back", e.__class__.__name__
            )
            self.close()
            return None

    def _connect(self) -> set[str] | None:
        now = time.monotonic()
        if now < self._next_attempt:
            return set()
        self._next_attempt = now + self._retry_s
        try:
            conn = psycopg.connect(self._url, autocommit=True, connect_timeout=self._connect_timeout_s)
            conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as e:
            if not self._warned:
                log.warning(
                    "beat: cannot LISTEN for schedule changes (%s); polling only", e.__class__.__name__
                )
                self._warned = True
            return set()
        self._conn, self._warned = conn, False
        log.info("beat: listening on %s for schedule changes", CHANNEL)
        return None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
        self._conn = None
