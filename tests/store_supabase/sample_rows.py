"""Rows as PostgREST renders them: timestamps as ISO strings, bytea as "\\x<hex>", jsonb as JSON."""

from __future__ import annotations

CLINIC_ID = "0d6f8a52-3f0e-4a53-9f43-2b7f4f1c9a01"
OTHER_CLINIC_ID = "5b1c2d3e-4f50-4a61-8b72-93a4b5c6d7e8"
CASE_ID = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
CASE_ID_2 = "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e"
AUDIT_ID = "c3d4e5f6-a7b8-4c9d-8e1f-2a3b4c5d6e7f"
KEY_ID = "d4e5f6a7-b8c9-4d0e-9f2a-3b4c5d6e7f80"
STAMP = "2026-03-02T14:00:00.123456+00:00"


def clinic_row(**changes):
    row = {
        "id": CLINIC_ID,
        "name": "Harbor Vets",
        "timezone": "America/Los_Angeles",
        "pims_provider": "idexx-neo",
        "is_active": True,
        "phone_region": "US",
        "pims_host": None,
        "owner_user_id": None,
        "sync_owner": "pims-sync",
        "created_at": STAMP,
        "updated_at": STAMP,
        "idexx_credentials": [],  # embedded: CLINIC_SELECT
    }
    return {**row, **changes}


CREDENTIALS_ID = "e5f6a7b8-c9d0-4e1f-8a3b-4c5d6e7f8091"
OWNER_ID = "f6a7b8c9-d0e1-4f2a-9b4c-5d6e7f809102"


def credentials_row(**changes):
    row = {
        "id": CREDENTIALS_ID,
        "clinic_id": CLINIC_ID,
        "user_id": None,
        "username_encrypted": "\\x00757365",
        "password_encrypted": "\\x00706173",
        "company_id_encrypted": "\\x00636f6d",
        "encryption_key_id": "default",
        "is_active": True,
        "sync_enabled": True,
        "validation_status": "valid",
        "last_validated_at": STAMP,
        "created_at": STAMP,
        "updated_at": STAMP,
    }
    return {**row, **changes}


def api_key_row(**changes):
    row = {
        "id": KEY_ID,
        "clinic_id": CLINIC_ID,
        "name": "ops",
        "key_prefix": "pk_abc",
        "key_hash": "a" * 64,
        "permissions": ["sync:inbound", "sync:reconcile"],
        "expires_at": None,
        "is_active": True,
        "last_used_at": None,
        "created_at": STAMP,
        "pims_sync_key_clinics": [],  # embedded: the grants of a shared key
    }
    return {**row, **changes}


def config_row(**changes):
    row = {
        "clinic_id": CLINIC_ID,
        "sync_schedules": [{"type": "inbound", "cron": "0 6 * * *", "enabled": True}],
        "version": 3,
        "updated_at": STAMP,
        "clinics": {"timezone": "America/Los_Angeles", "is_active": True},
    }
    return {**row, **changes}


def case_ref_row(case_id=CASE_ID, **changes):
    row = {
        "id": case_id,
        "external_id": "pims-appt-idexx-neo-10001",
        "scheduled_at": "2026-03-02T14:15:00+00:00",
        "status": "draft",
        "consultation_external_id": "cons-1",
        "enriched_at": None,
        "deleted_at": None,
    }
    return {**row, **changes}


def case_row(**changes):
    row = {
        **case_ref_row(),
        "clinic_id": CLINIC_ID,
        "source": "pims:idexx-neo",
        "type": "checkup",
        "ends_at": "2026-03-02T14:30:00+00:00",
        "metadata": {"pimsAppointment": {"id": "10001"}},
        "created_at": STAMP,
        "updated_at": STAMP,
    }
    return {**row, **changes}


def audit_row(audit_id=AUDIT_ID, **changes):
    row = {
        "id": audit_id,
        "parent_id": None,
        "phase": None,
        "clinic_id": CLINIC_ID,
        "sync_type": "inbound",
        "status": "queued",
        "trigger": "api",
        "appointments_found": 0,
        "cases_created": 0,
        "cases_updated": 0,
        "cases_skipped": 0,
        "cases_deleted": 0,
        "cases_restored": 0,
        "cases_enriched": 0,
        "failed": 0,
        "total_items": 0,
        "processed_items": 0,
        "stats": {},
        "error_message": None,
        "task_id": None,
        "attempts": 0,
        "created_at": STAMP,
        "started_at": None,
        "finished_at": None,
        "duration_ms": None,
        "updated_at": STAMP,
    }
    return {**row, **changes}
