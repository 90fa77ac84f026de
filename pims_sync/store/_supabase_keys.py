"""SupabaseStore's API keys over PostgREST: clinic_api_keys and the grants of shared keys.

The same rules as :mod:`._pg_keys` (whose validators it imports); a key's grants come embedded
in the one request that reads it (``pims_sync_key_clinics`` references ``clinic_api_keys``).
Every change bumps ``api_keys_version``, as in :mod:`._pg_keys`. Mixed into
:class:`~pims_sync.store.supabase.SupabaseStore`, which provides ``table``, ``_read``
and ``_read_all``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from postgrest.types import ReturnMethod

from ..errors import NotFound
from ..models import ApiKeyRecord
from . import _clinic_rules as rules
from . import _rows as rows
from ._clinic_rules import bound_elsewhere, grant_ids, grants_need_a_shared_key, permissions_arg
from ._host import SupabaseHost

KEYS = "clinic_api_keys"
GRANTS = "pims_sync_key_clinics"
KEY_SELECT = f"*,{GRANTS}(clinic_id)"


class SupabaseApiKeys(SupabaseHost):
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
        """As PostgresStore.create_api_key: the owner's user_id; permissions None = the column default."""
        cid = None if clinic_id is None else rows.parse_uuid(clinic_id, "clinic")
        row: dict[str, Any] = {
            "clinic_id": cid,
            "user_id": None,
            "name": rules.check_key_name(name),
            "key_prefix": key_prefix,
            "key_hash": key_hash,
            "expires_at": None if expires_at is None else expires_at.isoformat(),
        }
        if permissions is not None:  # None: the column's default (NULL fresh; every permission adopted)
            row["permissions"] = permissions_arg(permissions)
        if cid is not None:
            query = self.table("clinics").select("owner_user_id").eq("id", cid)
            owner = self._read("create API key", "clinics", query)
            if not owner:
                raise NotFound(f"clinic {cid} not found")
            row["user_id"] = owner[0]["owner_user_id"]
        (made,) = self._read("create API key", KEYS, self.table(KEYS).insert(row))
        return rows.api_key(made)  # a new key has no grants

    def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        found = self._read("find API key", KEYS, self.table(KEYS).select(KEY_SELECT).eq("key_hash", key_hash))
        return rows.api_key(found[0]) if found else None

    def get_api_key(self, key_id: str) -> ApiKeyRecord:
        kid = rows.parse_uuid(key_id, "API key")
        found = self._read("get API key", KEYS, self.table(KEYS).select(KEY_SELECT).eq("id", kid))
        if not found:
            raise NotFound(f"API key {kid} not found")
        return rows.api_key(found[0])

    def list_api_keys(self, clinic_id: str | None) -> list[ApiKeyRecord]:
        """The clinic's keys; with None, the shared keys (no clinic_id)."""
        cid = None if clinic_id is None else rows.parse_uuid(clinic_id, "clinic")

        def build() -> Any:
            query = self.table(KEYS).select(KEY_SELECT)
            query = query.is_("clinic_id", None) if cid is None else query.eq("clinic_id", cid)
            return query.order("created_at").order("id")

        return [rows.api_key(r) for r in self._read_all("list API keys", KEYS, build)]

    def bind_api_key(self, key_id: str, clinic_id: str) -> ApiKeyRecord:
        """Give a shared key its clinic (idempotent for the same clinic)."""
        key = self.get_api_key(key_id)
        cid = rows.parse_uuid(clinic_id, "clinic")
        if key.clinic_id == cid:
            return key
        if key.clinic_id is not None:
            raise bound_elsewhere(key.id, key.clinic_id, cid)
        if not self._read("bind API key", "clinics", self.table("clinics").select("id").eq("id", cid)):
            raise NotFound(f"clinic {cid} not found")
        # only while still shared: a concurrent bind to another clinic wins, and we say so
        query = self.table(KEYS).update({"clinic_id": cid}).eq("id", key.id).is_("clinic_id", None)
        if not self._read("bind API key", KEYS, query.select("id")):
            now = self.get_api_key(key.id)
            if now.clinic_id != cid:
                raise bound_elsewhere(key.id, str(now.clinic_id), cid)
        self._api_keys_changed()
        return self.get_api_key(key.id)

    def grant_api_key_clinics(self, key_id: str, clinic_ids: Sequence[str]) -> ApiKeyRecord:
        """Let a shared key act on these clinics (an operator's explicit multi-clinic permission)."""
        ids = grant_ids(clinic_ids)
        key = self.get_api_key(key_id)
        if key.clinic_id is not None:
            raise grants_need_a_shared_key(key.id, key.clinic_id)
        known = {
            r["id"]
            for r in self._read(
                "grant API key clinics", "clinics", self.table("clinics").select("id").in_("id", ids)
            )
        }
        missing = [c for c in ids if c not in known]
        if missing:
            raise NotFound(f"clinic {missing[0]} not found")
        query = self.table(GRANTS).upsert(
            [{"key_id": key.id, "clinic_id": c} for c in ids],
            on_conflict="key_id,clinic_id",
            ignore_duplicates=True,
            returning=ReturnMethod.minimal,
        )
        self._read("grant API key clinics", GRANTS, query)
        self._api_keys_changed()
        return self.get_api_key(key.id)

    def revoke_api_key_grant(self, key_id: str, clinic_id: str) -> bool:
        """True when the key had the clinic granted and no longer has."""
        try:
            kid = rows.parse_uuid(key_id, "API key")
            cid = rows.parse_uuid(clinic_id, "clinic")
        except NotFound:
            return False
        query = self.table(GRANTS).delete().eq("key_id", kid).eq("clinic_id", cid).select("key_id")
        done = bool(self._read("revoke API key grant", GRANTS, query))
        self._api_keys_changed()
        return done

    def revoke_api_key(self, key_id: str, *, clinic_id: str | None = None) -> bool:
        """True when an active key was revoked now (False: unknown, another clinic's, or already)."""
        try:
            kid = rows.parse_uuid(key_id, "API key")
            cid = None if clinic_id is None else rows.parse_uuid(clinic_id, "clinic")
        except NotFound:
            return False
        query = self.table(KEYS).update({"is_active": False}).eq("id", kid).eq("is_active", True)
        if cid is not None:
            query = query.eq("clinic_id", cid)
        done = bool(self._read("revoke API key", KEYS, query.select("id")))
        self._api_keys_changed()
        return done

    def touch_api_keys(self, key_ids: Sequence[str], at: datetime) -> None:
        ids = []
        for key_id in key_ids:
            try:
                ids.append(rows.parse_uuid(key_id, "API key"))
            except NotFound:
                continue
        if not ids:
            return
        stamp = at.isoformat()
        query = (
            self.table(KEYS)
            .update({"last_used_at": stamp}, returning=ReturnMethod.minimal)
            .in_("id", ids)
            # never move last_used_at backwards: batches may arrive out of order
            .or_(f'last_used_at.is.null,last_used_at.lt."{stamp}"')
        )
        self._read("touch API keys", KEYS, query)
