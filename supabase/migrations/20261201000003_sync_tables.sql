-- pims-sync's own tables: the run log behind the API/CLI/history (pims_sync_runs), the legacy
-- schedule snapshots, and the archive of merged-away duplicate cases. All are new on every
-- database, so RLS is enabled at creation (PostgREST's anon role sees nothing; the service role
-- and a direct owner connection work as before).

-- One row per sync and per phase of a full sync (parent_id). Our vocabulary: every SYNC_TYPES,
-- AUDIT_STATUSES and TRIGGERS value of pims_sync/models.py (a test compares them).
create table if not exists pims_sync_runs (
    id                 uuid primary key default gen_random_uuid(),  -- the sync id
    parent_id          uuid references pims_sync_runs (id) on delete cascade,  -- a full sync's phases
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
alter table pims_sync_runs enable row level security;
create or replace trigger pims_sync_updated_at before update on pims_sync_runs
    for each row execute function pims_sync.set_updated_at();
-- history, newest first, keyset-paged on (created_at, id)
create index if not exists pims_sync_runs_history_idx
    on pims_sync_runs (clinic_id, created_at desc, id desc) where parent_id is null;
create index if not exists pims_sync_runs_all_history_idx
    on pims_sync_runs (created_at desc, id desc) where parent_id is null;
create index if not exists pims_sync_runs_parent_idx on pims_sync_runs (parent_id)
    where parent_id is not null;
-- the stale sweep: only unfinished rows are indexed
create index if not exists pims_sync_runs_unfinished_idx on pims_sync_runs (updated_at)
    where status in ('queued', 'in_progress');

-- The product's screens watch case_sync_audits (Realtime): every phase run (inbound, cases,
-- reconciliation) is mirrored there with the same id in the product's vocabulary. A run still
-- queued, or one that never started (skipped / not_run), has nothing to show yet; full-sync
-- parent rows and our other sync types never appear. A mirror the product's table refuses
-- (a constraint we do not know) is logged as a WARNING and never fails the sync itself.
create or replace function pims_sync.mirror_run() returns trigger
language plpgsql as $$
declare
    v_status text;
    v_note   text := new.error_message;
    v_doc    jsonb;
begin
    if new.sync_type not in ('inbound', 'cases', 'reconciliation') or new.status = 'queued' then
        return null;
    end if;
    if new.status in ('skipped', 'not_run')
       and not exists (select 1 from case_sync_audits where id = new.id) then
        return null;
    end if;
    v_status := case new.status
        when 'in_progress' then 'in_progress'
        when 'completed' then 'completed'
        when 'partial' then 'completed'
        when 'skipped' then 'completed'
        else 'failed'  -- failed, aborted, not_run
    end;
    if new.status in ('partial', 'skipped', 'aborted', 'not_run') then
        v_note := concat_ws(': ', replace(new.status, '_', ' '), new.error_message);
    end if;
    v_doc := jsonb_build_object(
        'id', new.id, 'clinic_id', new.clinic_id, 'sync_type', new.sync_type, 'status', v_status,
        'error_message', v_note,
        'appointments_found', greatest(new.appointments_found, 0),
        'cases_created', greatest(new.cases_created, 0),
        'cases_updated', greatest(new.cases_updated, 0),
        'cases_skipped', greatest(new.cases_skipped, 0),
        'cases_deleted', greatest(new.cases_deleted, 0),
        'total_items', greatest(new.total_items, 0),
        'processed_items', greatest(new.processed_items, 0),
        'progress_percentage', case
            when v_status = 'completed' then 100
            when new.total_items > 0 then least(100, floor(new.processed_items * 100.0 / new.total_items))::integer
            else 0 end,
        'created_at', new.created_at, 'updated_at', clock_timestamp());
    begin
        -- through the row type, so the product's column types (an enum, numeric progress) apply
        insert into case_sync_audits as a (
            id, clinic_id, sync_type, status, error_message, appointments_found, cases_created,
            cases_updated, cases_skipped, cases_deleted, total_items, processed_items,
            progress_percentage, created_at, updated_at)
        select r.id, r.clinic_id, r.sync_type, r.status, r.error_message, r.appointments_found,
               r.cases_created, r.cases_updated, r.cases_skipped, r.cases_deleted, r.total_items,
               r.processed_items, r.progress_percentage, r.created_at, r.updated_at
          from jsonb_populate_record(null::case_sync_audits, v_doc) as r
        on conflict (id) do update set
            status = excluded.status,
            error_message = excluded.error_message,
            appointments_found = excluded.appointments_found,
            cases_created = excluded.cases_created,
            cases_updated = excluded.cases_updated,
            cases_skipped = excluded.cases_skipped,
            cases_deleted = excluded.cases_deleted,
            total_items = excluded.total_items,
            processed_items = excluded.processed_items,
            progress_percentage = excluded.progress_percentage,
            updated_at = excluded.updated_at
        -- no Realtime event for a write that changes nothing the screens show
        where (a.status, a.error_message, a.appointments_found, a.cases_created, a.cases_updated,
               a.cases_skipped, a.cases_deleted, a.total_items, a.processed_items, a.progress_percentage)
              is distinct from
              (excluded.status, excluded.error_message, excluded.appointments_found,
               excluded.cases_created, excluded.cases_updated, excluded.cases_skipped,
               excluded.cases_deleted, excluded.total_items, excluded.processed_items,
               excluded.progress_percentage);
    exception when others then
        raise warning 'pims-sync: run % was not mirrored into case_sync_audits: % (SQLSTATE %)',
            new.id, sqlerrm, sqlstate;
    end;
    return null;
end;
$$;
create or replace trigger pims_sync_mirror after insert or update on pims_sync_runs
    for each row execute function pims_sync.mirror_run();

-- Schedule data from the legacy schedule sync (business hours, providers, rooms, free slots).
create table if not exists clinic_schedule_snapshots (
    id         uuid primary key default gen_random_uuid(),
    clinic_id  uuid not null references clinics (id) on delete cascade,
    day        date not null,
    payload    jsonb not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (clinic_id, day)
);
alter table clinic_schedule_snapshots enable row level security;
create or replace trigger pims_sync_updated_at before update on clinic_schedule_snapshots
    for each row execute function pims_sync.set_updated_at();

-- Duplicate cases merged away before the unique key (clinic_id, source, external_id) was built:
-- the whole row as it was, the survivor it was merged into, and the product rows whose foreign
-- keys were re-pointed to the survivor ({table, column, key}), so `pims-sync db
-- restore-duplicates` can put both back.
create table if not exists pims_sync_archived_cases (
    archive_id  bigint generated always as identity primary key,
    case_id     uuid not null,
    survivor_id uuid not null,
    clinic_id   uuid,
    source      text,
    external_id text,
    row_data    jsonb not null,
    repointed   jsonb not null default '[]'::jsonb,
    archived_at timestamptz not null default clock_timestamp(),
    restored_at timestamptz
);
create index if not exists pims_sync_archived_cases_pending_idx on pims_sync_archived_cases (archive_id)
    where restored_at is null;
alter table pims_sync_archived_cases enable row level security;
