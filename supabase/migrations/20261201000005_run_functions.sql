-- The run log's lifecycle (pims_sync_runs), shared by PostgresStore (SELECT ...) and SupabaseStore
-- (.rpc(...)). Same names and signatures as before the take-over; only the table moved, since
-- case_sync_audits now holds exactly the product's columns and values (pims_sync.mirror_run
-- copies phase runs there). A missing run raises SQLSTATE P0002 (no_data_found), which the
-- stores turn into NotFound.

-- A task picked the sync up: in_progress, first start time kept, one more attempt counted
-- (a redelivered task shows attempts > 1).
create or replace function start_audit(p_audit_id uuid, p_task_id text default null)
returns pims_sync_runs
language plpgsql as $$
declare
    v_row pims_sync_runs;
begin
    update pims_sync_runs
       set status = 'in_progress',
           started_at = coalesce(started_at, clock_timestamp()),
           attempts = attempts + 1,
           task_id = coalesce(p_task_id, task_id),
           finished_at = null,
           duration_ms = null,
           error_message = null
     where id = p_audit_id
    returning * into v_row;
    if not found then
        raise exception 'sync audit % not found', p_audit_id using errcode = 'P0002';
    end if;
    return v_row;
end;
$$;

-- Progress as the task reports it (the same {phase, processed, total, stats} as Celery PROGRESS).
create or replace function audit_progress(
    p_audit_id uuid, p_processed integer, p_total integer, p_stats jsonb default '{}'::jsonb,
    p_phase text default null)
returns void
language plpgsql as $$
begin
    update pims_sync_runs
       set processed_items = greatest(coalesce(p_processed, 0), 0),
           total_items = greatest(coalesce(p_total, 0), 0),
           stats = stats || coalesce(p_stats, '{}'::jsonb),
           phase = coalesce(p_phase, phase)
     where id = p_audit_id;
    if not found then
        raise exception 'sync audit % not found', p_audit_id using errcode = 'P0002';
    end if;
end;
$$;

-- Final status; the count columns come from the stats keys (camelCase as the pipeline reports
-- them, snake_case accepted), absent keys keep what the row had.
create or replace function finish_audit(
    p_audit_id uuid, p_status text, p_stats jsonb default null, p_error text default null)
returns pims_sync_runs
language plpgsql as $$
declare
    v_row pims_sync_runs;
    s jsonb := coalesce(p_stats, '{}'::jsonb);
begin
    update pims_sync_runs a
       set status = p_status,
           stats = a.stats || s,
           appointments_found = coalesce((coalesce(s ->> 'appointmentsFound', s ->> 'appointments_found'))::integer, a.appointments_found),
           cases_created = coalesce((coalesce(s ->> 'casesCreated', s ->> 'cases_created'))::integer, a.cases_created),
           cases_updated = coalesce((coalesce(s ->> 'casesUpdated', s ->> 'cases_updated'))::integer, a.cases_updated),
           cases_skipped = coalesce((coalesce(s ->> 'casesSkipped', s ->> 'cases_skipped'))::integer, a.cases_skipped),
           cases_deleted = coalesce((coalesce(s ->> 'casesDeleted', s ->> 'cases_deleted'))::integer, a.cases_deleted),
           cases_restored = coalesce((coalesce(s ->> 'casesRestored', s ->> 'cases_restored'))::integer, a.cases_restored),
           cases_enriched = coalesce((coalesce(s ->> 'casesEnriched', s ->> 'cases_enriched'))::integer, a.cases_enriched),
           failed = coalesce((s ->> 'failed')::integer, a.failed),
           error_message = p_error,
           finished_at = clock_timestamp(),
           duration_ms = greatest(0, floor(extract(epoch from clock_timestamp() - coalesce(a.started_at, a.created_at)) * 1000))::bigint
     where a.id = p_audit_id
    returning * into v_row;
    if not found then
        raise exception 'sync audit % not found', p_audit_id using errcode = 'P0002';
    end if;
    return v_row;
end;
$$;

-- fail_stale_audits: a queue backlog is not a lost worker.
-- A row still `queued` may simply be waiting behind other clinics; failing it after the hard
-- time limit would fail syncs that have not started. Lost work is:
--   * `in_progress` rows not updated since p_older_than (the worker died mid-phase);
--   * `queued` phase rows whose parent sync has already ended (they will never run);
--   * `queued` rows untouched for a day (their message is gone; the in-flight claim expired long ago).
create or replace function fail_stale_audits(p_older_than timestamptz, p_reason text default 'worker lost')
returns integer
language sql as $$
    with f as (
        update pims_sync_runs a
           set status = 'failed',
               error_message = p_reason,
               finished_at = clock_timestamp(),
               duration_ms = greatest(0, floor(extract(epoch from clock_timestamp() - coalesce(a.started_at, a.created_at)) * 1000))::bigint
         where (a.status = 'in_progress' and a.updated_at < p_older_than)
            or (a.status = 'queued' and a.updated_at < p_older_than and exists (
                    select 1 from pims_sync_runs p
                     where p.id = a.parent_id
                       and p.status in ('completed', 'failed', 'partial', 'skipped', 'aborted', 'not_run')))
            or (a.status = 'queued' and a.updated_at < least(p_older_than, clock_timestamp() - interval '1 day'))
        returning 1
    )
    select count(*)::integer from f;
$$;

-- One page of top-level syncs (a full sync's phases hang off it via parent_id), newest first,
-- keyset-paged on (created_at, id); p_clinic_id / p_sync_type null = all.
create or replace function sync_history_page(
    p_clinic_id uuid default null, p_sync_type text default null, p_limit integer default 20,
    p_before_created_at timestamptz default null, p_before_id uuid default null)
returns setof pims_sync_runs
language sql stable as $$
    select *
      from pims_sync_runs a
     where a.parent_id is null
       and (p_clinic_id is null or a.clinic_id = p_clinic_id)
       and (p_sync_type is null or a.sync_type = p_sync_type)
       and (p_before_created_at is null
            or (a.created_at, a.id) < (p_before_created_at, coalesce(p_before_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)))
     order by a.created_at desc, a.id desc
     limit greatest(1, least(coalesce(p_limit, 20), 500));
$$;

-- Totals behind the success rate: succeeded = completed; failed = failed, partial or aborted.
create or replace function sync_history_summary(p_clinic_id uuid default null, p_sync_type text default null)
returns jsonb
language sql stable as $$
    select jsonb_build_object(
        'total', count(*),
        'succeeded', count(*) filter (where a.status = 'completed'),
        'failed', count(*) filter (where a.status in ('failed', 'partial', 'aborted')))
      from pims_sync_runs a
     where a.parent_id is null
       and (p_clinic_id is null or a.clinic_id = p_clinic_id)
       and (p_sync_type is null or a.sync_type = p_sync_type);
$$;
