-- pims-sync core tables: clinics, credentials, API keys, schedule configs, cases, audits, snapshots.
-- Names follow the product database. Every allowed value list mirrors pims_sync/models.py; a test
-- compares the CHECK constraints with the Python tuples so they cannot drift apart.

-- updated_at on every real write; an upsert that changes nothing never fires it (no UPDATE happens).
create or replace function set_updated_at() returns trigger
language plpgsql as $$
begin
    new.updated_at := clock_timestamp();
    return new;
end;
$$;

create table if not exists clinics (
    id            uuid primary key default gen_random_uuid(),
    name          text not null check (length(btrim(name)) > 0),
    timezone      text not null default 'America/New_York',
    pims_provider text not null default 'idexx',
    is_active     boolean not null default true,
    phone_region  text not null default 'US' check (phone_region ~ '^[A-Z]{2}$'),
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now()
);
create trigger clinics_updated_at before update on clinics
    for each row execute function set_updated_at();

create table if not exists pims_credentials (
    id                   uuid primary key default gen_random_uuid(),
    clinic_id            uuid not null references clinics (id) on delete cascade,
    provider             text not null default 'idexx',
    username_encrypted   bytea not null,
    password_encrypted   bytea not null,
    company_id_encrypted bytea not null,
    encryption_key_id    text not null default 'default',
    is_active            boolean not null default true,
    validation_status    text,
    last_validated_at    timestamptz,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    unique (clinic_id, provider)
);
create trigger pims_credentials_updated_at before update on pims_credentials
    for each row execute function set_updated_at();

create table if not exists clinic_api_keys (
    id           uuid primary key default gen_random_uuid(),
    clinic_id    uuid not null references clinics (id) on delete cascade,
    name         text not null,
    key_prefix   text not null,
    key_hash     text not null unique check (key_hash ~ '^[0-9a-f]{64}$'),
    permissions  text[],  -- NULL = every permission
    expires_at   timestamptz,
    is_active    boolean not null default true,
    last_used_at timestamptz,
    created_at   timestamptz not null default now()
);
create index if not exists clinic_api_keys_clinic_idx on clinic_api_keys (clinic_id, created_at);

create table if not exists clinic_schedule_configs (
    id             uuid primary key default gen_random_uuid(),
    clinic_id      uuid not null unique references clinics (id) on delete cascade,
    sync_schedules jsonb not null default '[]'::jsonb check (jsonb_typeof(sync_schedules) = 'array'),
    version        bigint not null default 1,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now()
);
create index if not exists clinic_schedule_configs_updated_idx on clinic_schedule_configs (updated_at);

create table if not exists cases (
    id                       uuid primary key default gen_random_uuid(),
    clinic_id                uuid not null references clinics (id) on delete cascade,
    source                   text not null default 'pims:idexx-neo',
    external_id              text not null,
    status                   text not null check (status in (
        'scheduled', 'confirmed', 'checked_in', 'in_progress', 'completed', 'cancelled', 'no_show')),
    type                     text not null check (type in (
        'consultation', 'checkup', 'vaccination', 'surgery', 'dental', 'emergency', 'follow_up',
        'grooming', 'other')),
    scheduled_at             timestamptz not null,
    ends_at                  timestamptz,
    patient_name             text,
    patient_external_id      text,
    species                  text,
    client_name              text,
    client_external_id       text,
    client_email             text,
    client_phone             text,
    client_phone_e164        text,
    provider_name            text,
    room                     text,
    consultation_external_id text,
    metadata                 jsonb not null default '{}'::jsonb,
    enriched_at              timestamptz,
    deleted_at               timestamptz,
    created_at               timestamptz not null default now(),
    updated_at               timestamptz not null default now(),
    constraint cases_clinic_source_external_key unique (clinic_id, source, external_id)
);
create trigger cases_updated_at before update on cases
    for each row execute function set_updated_at();
-- enrichment and the calendar: live cases of a clinic by time
create index if not exists cases_clinic_scheduled_live_idx on cases (clinic_id, scheduled_at)
    where deleted_at is null;
-- reconciliation: every case (deleted too) of a clinic and source in a window
create index if not exists cases_clinic_source_scheduled_idx on cases (clinic_id, source, scheduled_at);

create table if not exists case_sync_audits (
    id                 uuid primary key default gen_random_uuid(),  -- the sync id
    parent_id          uuid references case_sync_audits (id) on delete cascade,  -- a full sync's phases
    phase              text,
    clinic_id          uuid not null references clinics (id) on delete cascade,
    sync_type          text not null check (sync_type in (
        'inbound', 'cases', 'reconciliation', 'full', 'schedule', 'consultation')),
    status             text not null default 'queued' check (status in (
        'queued', 'in_progress', 'completed', 'failed', 'partial', 'skipped', 'aborted', 'not_run')),
    trigger            text not null check (trigger in ('api', 'schedule', 'cli')),
    appointments_found integer not null default 0,
    cases_created      integer not null default 0,
    cases_updated      integer not null default 0,
    cases_skipped      integer not null default 0,
    cases_deleted      integer not null default 0,
    cases_restored     integer not null default 0,
    cases_enriched     integer not null default 0,
    failed             integer not null default 0,
    total_items        integer not null default 0,
    processed_items    integer not null default 0,
    stats              jsonb not null default '{}'::jsonb,
    error_message      text,
    task_id            text,
    attempts           integer not null default 0,
    created_at         timestamptz not null default clock_timestamp(),
    started_at         timestamptz,
    finished_at        timestamptz,
    duration_ms        bigint,
    updated_at         timestamptz not null default clock_timestamp()
);
create trigger case_sync_audits_updated_at before update on case_sync_audits
    for each row execute function set_updated_at();
-- history, newest first, keyset-paged on (created_at, id)
create index if not exists case_sync_audits_history_idx
    on case_sync_audits (clinic_id, created_at desc, id desc) where parent_id is null;
create index if not exists case_sync_audits_all_history_idx
    on case_sync_audits (created_at desc, id desc) where parent_id is null;
create index if not exists case_sync_audits_parent_idx on case_sync_audits (parent_id)
    where parent_id is not null;
-- the stale sweep: only unfinished rows are indexed
create index if not exists case_sync_audits_unfinished_idx on case_sync_audits (updated_at)
    where status in ('queued', 'in_progress');

create table if not exists clinic_schedule_snapshots (
    id         uuid primary key default gen_random_uuid(),
    clinic_id  uuid not null references clinics (id) on delete cascade,
    day        date not null,
    payload    jsonb not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (clinic_id, day)
);
create trigger clinic_schedule_snapshots_updated_at before update on clinic_schedule_snapshots
    for each row execute function set_updated_at();
