"""PostgREST errors become StoreError/NotFound that name the table or function and the fix, never the key."""

from __future__ import annotations

import pytest

from pims_sync.errors import NotFound, StoreError
from pims_sync.store.supabase import SupabaseStore
from tests.store.factories import make_cases

from .conftest import SERVICE_ROLE_KEY
from .sample_rows import AUDIT_ID, CLINIC_ID


def _raised(call, kind=StoreError) -> str:
    with pytest.raises(kind) as err:
        call()
    text = str(err.value)
    assert SERVICE_ROLE_KEY not in text and SERVICE_ROLE_KEY not in repr(err.value)
    assert err.value.__cause__ is None or SERVICE_ROLE_KEY not in str(err.value.__cause__)
    return text


def test_function_missing_names_the_function_and_the_migrations(sb, postgrest):
    postgrest.error(
        "POST",
        "rpc/upsert_cases",
        404,
        "PGRST202",
        "Could not find the function public.upsert_cases(p_cases, p_clinic_id) in the schema cache",
        details="Searched for the function public.upsert_cases with parameters p_cases, p_clinic_id or with "
        "a single unnamed json/jsonb parameter, but no matches were found in the schema cache.",
        hint=None,
    )
    text = _raised(lambda: sb.upsert_cases(CLINIC_ID, make_cases(CLINIC_ID, 1)))
    assert "function upsert_cases(p_clinic_id, p_cases)" in text
    assert "supabase db push" in text and "pims-sync db migrate" in text
    assert "PGRST202" in text and "reload schema" in text


def test_table_missing_names_the_table_and_the_migrations(sb, postgrest):
    postgrest.error(
        "GET",
        "clinics",
        404,
        "PGRST205",
        "Could not find the table 'public.clinics' in the schema cache",
        hint="Perhaps you meant the table 'public.clinic'",
    )
    text = _raised(sb.ping)
    assert "table clinics" in text and "supabase db push" in text and "PGRST205" in text


def test_relation_missing_inside_a_function_names_the_fix(sb, postgrest):
    postgrest.error("POST", "rpc/start_audit", 404, "42P01", 'relation "pims_sync_runs" does not exist')
    text = _raised(lambda: sb.start_audit(AUDIT_ID))
    assert "start_audit" in text and "pims_sync_runs" in text and "pims-sync db migrate" in text


@pytest.mark.parametrize(
    "code, message",
    [
        ("PGRST303", "JWT expired"),
        ("PGRST301", "JWT expired"),
        ("PGRST301", "No suitable key or wrong key type"),
    ],
)
def test_expired_or_wrong_jwt_names_the_key_variable(sb, postgrest, code, message):
    postgrest.error("GET", "clinic_schedule_configs", 401, code, message)
    text = _raised(sb.list_schedule_configs)
    assert "SUPABASE_SERVICE_ROLE_KEY" in text and "table clinic_schedule_configs" in text and code in text


def test_gateway_rejecting_the_api_key(sb, postgrest):
    """Supabase's gateway answers a bad apikey before PostgREST: 401 and a body without a code."""
    body = {
        "message": "Invalid API key",
        "hint": "Double check your Supabase `anon` or `service_role` API key.",
    }
    postgrest.reply("GET", "clinics", body, status=401)
    assert "SUPABASE_SERVICE_ROLE_KEY" in _raised(sb.ping)


def test_anon_key_is_refused_by_row_level_security(sb, postgrest):
    postgrest.error("GET", "idexx_credentials", 401, "42501", "permission denied for table idexx_credentials")
    text = _raised(lambda: sb.get_credentials(CLINIC_ID))
    assert "service_role" in text and "idexx_credentials" in text


def test_server_error_without_a_postgrest_body(sb, postgrest):
    postgrest.reply(
        "POST",
        "rpc/finish_audit",
        b"<html><body>502 Bad Gateway</body></html>",
        status=502,
        headers={"Content-Type": "text/html"},
    )
    text = _raised(lambda: sb.finish_audit(AUDIT_ID, status="completed"))
    assert "HTTP 502" in text and "finish_audit" in text and "<html>" not in text


def test_postgres_error_in_a_500_keeps_its_words(sb, postgrest):
    postgrest.error(
        "POST", "rpc/upsert_cases", 500, "XX000", "could not extend file: No space left on device"
    )
    text = _raised(lambda: sb.upsert_cases(CLINIC_ID, make_cases(CLINIC_ID, 1)))
    assert "No space left on device" in text and "XX000" in text and "upsert_cases" in text


def test_check_violation_names_the_constraint_without_row_values(sb, postgrest):
    postgrest.error(
        "POST",
        "rpc/upsert_cases",
        400,
        "23514",
        'new row for relation "cases" violates check constraint "cases_status_check"',
        details="Failing row contains (1, client1@example.test, +15550100123).",
    )
    text = _raised(lambda: sb.upsert_cases(CLINIC_ID, make_cases(CLINIC_ID, 1)))
    assert "cases_status_check" in text and "client1@example.test" not in text


def test_no_data_found_and_foreign_key_are_not_found(sb, postgrest):
    postgrest.error("POST", "rpc/start_audit", 404, "P0002", f"sync audit {AUDIT_ID} not found")
    assert AUDIT_ID in _raised(lambda: sb.start_audit(AUDIT_ID), NotFound)
    postgrest.error(
        "POST",
        "pims_sync_runs",
        409,
        "23503",
        'insert or update on table "pims_sync_runs" violates foreign key constraint "pims_sync_runs_clinic_id_fkey"',
        details=f'Key (clinic_id)=({CLINIC_ID}) is not present in table "clinics".',
    )
    text = _raised(lambda: sb.create_audit(clinic_id=CLINIC_ID, sync_type="inbound", trigger="api"), NotFound)
    assert CLINIC_ID in text


def test_unique_violation_is_a_store_error(sb, postgrest):
    postgrest.error(
        "POST",
        "clinics",
        409,
        "23505",
        'duplicate key value violates unique constraint "clinics_pkey"',
        details=f"Key (id)=({CLINIC_ID}) already exists.",
    )
    with pytest.raises(StoreError) as err:
        sb.create_clinic(name="Dup", timezone="UTC", clinic_id=CLINIC_ID)
    assert not isinstance(err.value, NotFound)
    assert "clinics_pkey" in str(err.value) and f"Key (id)=({CLINIC_ID})" in str(err.value)


def test_unreachable_project_names_the_url_not_the_key(postgrest):
    url = postgrest.url
    postgrest.stop()  # nothing listens there any more
    store = SupabaseStore(url, SERVICE_ROLE_KEY, timeout_s=5)
    try:
        text = _raised(store.ping)
    finally:
        store.close()
    assert url in text and "cannot reach Supabase" in text and "SUPABASE_URL" in text


def test_repr_hides_the_key(sb):
    assert SERVICE_ROLE_KEY not in repr(sb) and "SupabaseStore(" in repr(sb)


def test_missing_settings_are_refused():
    with pytest.raises(StoreError, match="SUPABASE_SERVICE_ROLE_KEY"):
        SupabaseStore("https://example.supabase.co", "")


def test_a_required_user_names_the_owner_fix(sb, postgrest):
    postgrest.error(
        "POST",
        "rpc/upsert_cases",
        400,
        "23502",
        'null value in column "user_id" of relation "cases" violates not-null constraint',
        details="Failing row contains (…, client1@example.test, …).",
    )
    text = _raised(lambda: sb.upsert_cases(CLINIC_ID, make_cases(CLINIC_ID, 1)))
    assert "--owner-user" in text and "client1@example.test" not in text
