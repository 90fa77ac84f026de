"""PostgresStore's API keys: clinic_api_keys (the product's table) and the grants of shared keys.

A key without a clinic_id is a shared key (the product's later migration dropped the column,
and the clinic came from the request). pims-sync refuses those unless an operator binds the key
to one clinic or grants it clinics in ``pims_sync_key_clinics``; every read returns the grants
with the key (one query: authentication runs on every request). Every change to a key or its
grants bumps ``api_keys_version``, so the API's key cache in this process drops what it holds
(api/auth.py ``KeyCache``; other processes learn it from Redis). Mixed into
:class:`~pims_sync.store.postgres.PostgresStore`, which provides ``_conn``, ``_one``, ``_all``
and ``_count``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from psycopg import sql

from ..errors import NotFound
from ..models import ApiKeyRecord
from . import _clinic_rules as rules
from . import _rows as rows
from ._clinic_rules import bound_elsewhere, grant_ids, grants_need_a_shared_key, permissions_arg
from ._host import PostgresHost

_KEY_SELECT = """
select k.*, array(select g.clinic_id from pims_sync_key_clinics g where g.key_id = k.id) as granted_clinic_ids
  from clinic_api_keys k
"""


class ApiKeyQueries(PostgresHost):
    api_keys_version = 0  # bumped by every change below (the API's KeyCache watches it)

    def _api_keys_changed(self) -> None:
        self.api_keys_version += 1

    def create_api_key(
        self,
        *,
        clinic_id: str | None,
        name: str | None = None,
        key_prefix: str,
        key_hash: str,
        permissions: Sequence[str] | None = None,
        expires_at: datetime | None = None,
    ) -> ApiKeyRecord:
        """user_id is the clinic's owner (the product's table may require one); None for a shared key.

        permissions=None ("every permission") leaves the column to its default: NULL on a fresh
        database, the product's NOT NULL list of every permission on an adopted one.
        """
        cid = None if clinic_id is None else rows.parse_uuid(clinic_id, "clinic")
        name = rules.check_key_name(name)
        perms = () if permissions is None else (permissions_arg(permissions),)
        query = sql.SQL(
            """
            with made as (
                insert into clinic_api_keys (clinic_id, user_id, name, key_prefix, key_hash, permissions, expires_at)
                values (%s, (select owner_user_id from clinics where id = %s), %s, %s, %s, {perms}, %s)
                returning *
            )
            select made.*, '{{}}'::uuid[] as granted_clinic_ids from made
            """
        ).format(perms=sql.Placeholder() if perms else sql.SQL("default"))
        row = self._one("create API key", query, (cid, cid, name, key_prefix, key_hash, *perms, expires_at))
        return rows.api_key(rows.returned(row, "create API key"))

    def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        """The key with this hash: one statement, one round trip (the API asks on every uncached key)."""
        row = self._one("find API key", f"{_KEY_SELECT} where k.key_hash = %s", (key_hash,))
        return None if row is None else rows.api_key(row)

    def get_api_key(self, key_id: str) -> ApiKeyRecord:
        kid = rows.parse_uuid(key_id, "API key")
        row = self._one("get API key", f"{_KEY_SELECT} where k.id = %s", (kid,))
        if row is None:
            raise NotFound(f"API key {kid} not found")
        return rows.api_key(row)

    def list_api_keys(self, clinic_id: str | None) -> list[ApiKeyRecord]:
        """The clinic's keys; with None, the shared keys (no clinic_id)."""
        cid = None if clinic_id is None else rows.parse_uuid(clinic_id, "clinic")
        found = self._all(
            "list API keys",
            f"{_KEY_SELECT} where k.clinic_id is not distinct from %s::uuid order by k.created_at, k.id",
            (cid,),
        )
        return [rows.api_key(r) for r in found]

    def bind_api_key(self, key_id: str, clinic_id: str) -> ApiKeyRecord:
        """Give a shared key its clinic (idempotent for the same clinic)."""
        kid = rows.parse_uuid(key_id, "API key")
        cid = rows.parse_uuid(clinic_id, "clinic")
        with self._conn("bind API key") as conn:
            found = conn.execute(
                "select id, clinic_id from clinic_api_keys where id = %s for update", (kid,)
            ).fetchone()
            if found is None:
                raise NotFound(f"API key {kid} not found")
            if found["clinic_id"] is not None and str(found["clinic_id"]) != cid:
                raise bound_elsewhere(kid, str(found["clinic_id"]), cid)
            if conn.execute("select 1 from clinics where id = %s", (cid,)).fetchone() is None:
                raise NotFound(f"clinic {cid} not found")
            conn.execute(
                "update clinic_api_keys set clinic_id = %s where id = %s and clinic_id is null", (cid, kid)
            )
        self._api_keys_changed()
        return self.get_api_key(kid)

    def grant_api_key_clinics(self, key_id: str, clinic_ids: Sequence[str]) -> ApiKeyRecord:
        """Let a shared key act on these clinics (an operator's explicit multi-clinic permission)."""
        kid = rows.parse_uuid(key_id, "API key")
        ids = grant_ids(clinic_ids)
        key = self.get_api_key(kid)
        if key.clinic_id is not None:
            raise grants_need_a_shared_key(key.id, key.clinic_id)
        with self._conn("grant API key clinics") as conn:
            known = {
                str(r["id"])
                for r in conn.execute("select id from clinics where id = any(%s::uuid[])", (ids,))
            }
            missing = [c for c in ids if c not in known]
            if missing:
                raise NotFound(f"clinic {missing[0]} not found")
            conn.execute(
                "insert into pims_sync_key_clinics (key_id, clinic_id) select %s, unnest(%s::uuid[]) "
                "on conflict do nothing",
                (kid, ids),
            )
        self._api_keys_changed()
        return self.get_api_key(kid)

    def revoke_api_key_grant(self, key_id: str, clinic_id: str) -> bool:
        """True when the key had the clinic granted and no longer has."""
        try:
            kid = rows.parse_uuid(key_id, "API key")
            cid = rows.parse_uuid(clinic_id, "clinic")
        except NotFound:
            return False
        n = self._count(
            "revoke API key grant",
            "delete from pims_sync_key_clinics where key_id = %s and clinic_id = %s",
            (kid, cid),
        )
        self._api_keys_changed()
        return n > 0

    def revoke_api_key(self, key_id: str, *, clinic_id: str | None = None) -> bool:
        """True when an active key was revoked now (False: unknown, another clinic's, or already)."""
        try:
            kid = rows.parse_uuid(key_id, "API key")
            cid = None if clinic_id is None else rows.parse_uuid(clinic_id, "clinic")
        except NotFound:
            return False
        n = self._count(
            "revoke API key",
            "update clinic_api_keys set is_active = false "
            "where id = %s and is_active and (%s::uuid is null or clinic_id = %s::uuid)",
            (kid, cid, cid),
        )
        self._api_keys_changed()
        return n > 0

    def touch_api_keys(self, key_ids: Sequence[str], at: datetime) -> None:
        ids = []
        for key_id in key_ids:
            try:
                ids.append(rows.parse_uuid(key_id, "API key"))
            except NotFound:
                continue
        if not ids:
            return
        self._count(
            "touch API keys",
            # never move last_used_at backwards: batches may arrive out of order
            "update clinic_api_keys set last_used_at = %s "
            "where id = any(%s::uuid[]) and (last_used_at is null or last_used_at < %s)",
            (at, ids, at),
        )
