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
        update case_sync_audits a
           set status = 'failed',
               error_message = p_reason,
               finished_at = clock_timestamp(),
               duration_ms = greatest(0, floor(extract(epoch from clock_timestamp() - coalesce(a.started_at, a.created_at)) * 1000))::bigint
         where (a.status = 'in_progress' and a.updated_at < p_older_than)
            or (a.status = 'queued' and a.updated_at < p_older_than and exists (
                    select 1 from case_sync_audits p
                     where p.id = a.parent_id
                       and p.status in ('completed', 'failed', 'partial', 'skipped', 'aborted', 'not_run')))
            or (a.status = 'queued' and a.updated_at < least(p_older_than, clock_timestamp() - interval '1 day'))
        returning 1
    )
    select count(*)::integer from f;
$$;
