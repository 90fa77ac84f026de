-- A sync's bookkeeping with fewer WAL flushes (issue #18: the fixed cost at the start and end of a
-- sync). Each synchronous commit on the development machine waits ~5 ms for fdatasync.
--
-- 1. Writes that a later write always supersedes commit without waiting for the WAL
-- flush (synchronous_commit = off for their transaction only, set inside the function so both
-- stores get it): a phase's start mark and its progress; a full sync wrote nine of these (three
-- starts, six progress rows) on its critical path. What this gives up is small and bounded: after a *database*
-- crash (not a worker crash) the last fraction of a second of these marks may be missing; the
-- next synchronous commit of any session (a phase's finish_audit, a case write) flushes them,
-- because the WAL is written in order. The rows are visible to other sessions at commit as
-- before. Creating a sync and finishing a phase stay fully synchronous.

create or replace function start_audit(p_audit_id uuid, p_task_id text default null)
returns pims_sync_runs
language plpgsql as $$
declare
    v_row pims_sync_runs;
begin
    perform set_config('synchronous_commit', 'off', true);
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

create or replace function audit_progress(
    p_audit_id uuid, p_processed integer, p_total integer, p_stats jsonb default '{}'::jsonb,
    p_phase text default null)
returns void
language plpgsql as $$
begin
    perform set_config('synchronous_commit', 'off', true);
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

-- 2. A sync's queued rows in one statement (one transaction, one WAL flush) instead of one per row:
-- the top row first (idempotent on p_audit_id: a retried enqueue gets the existing row back,
-- P0002 when that id belongs to another clinic), then one child per phase type of a full sync,
-- parented to it. created_at is one microsecond apart per child so their order (created_at, id)
-- is the phases' order, as when each row had its own transaction.
create or replace function create_sync_runs(
    p_clinic_id uuid, p_sync_type text, p_trigger text, p_audit_id uuid default null,
    p_phase_types text[] default '{}')
returns setof pims_sync_runs
language plpgsql as $$
declare
    v_top pims_sync_runs;
begin
    insert into pims_sync_runs (id, clinic_id, sync_type, trigger, status)
    values (coalesce(p_audit_id, gen_random_uuid()), p_clinic_id, p_sync_type, p_trigger, 'queued')
    on conflict (id) do nothing
    returning * into v_top;
    if not found then
        select * into v_top from pims_sync_runs where id = p_audit_id and clinic_id = p_clinic_id;
        if not found then
            raise exception 'sync audit % not found', p_audit_id using errcode = 'P0002';
        end if;
    end if;
    return next v_top;
    return query
        insert into pims_sync_runs (clinic_id, sync_type, trigger, parent_id, status, created_at)
        select p_clinic_id, t.sync_type, p_trigger, v_top.id, 'queued',
               clock_timestamp() + t.ord * interval '1 microsecond'
          from unnest(coalesce(p_phase_types, '{}')) with ordinality as t(sync_type, ord)
         order by t.ord
        returning *;
end;
$$;
