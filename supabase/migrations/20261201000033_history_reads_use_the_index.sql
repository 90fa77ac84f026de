-- History reads that stay fast as pims_sync_runs grows (issue #18's read benchmark found them
-- slowing run after run).
--
-- sync_history_summary was a SQL function whose body is not inlined (it has a FROM), so it was
-- planned without knowing its arguments: `p_clinic_id is null or a.clinic_id = p_clinic_id`
-- cannot use an index then, and every history read counted the whole table (12 ms at 200,000
-- rows here, and growing with every sync). sync_history_page had the same filter; it is inlined
-- while a statement is planned with its values, but a prepared statement's generic plan (psycopg
-- prepares a query after 5 executions on a connection) is in the same position.
--
-- Both are PL/pgSQL now, with one query per case, so each plan (custom or generic) has
-- `clinic_id = $1` when a clinic is given: an index scan of pims_sync_runs_history_idx. The page's
-- keyset condition is one row comparison against ('infinity', max uuid) when there is no cursor,
-- which the index can start from instead of filtering row by row.
-- Same signatures, results and ordering as 20261201000005_run_functions.sql.

create or replace function sync_history_page(
    p_clinic_id uuid default null, p_sync_type text default null, p_limit integer default 20,
    p_before_created_at timestamptz default null, p_before_id uuid default null)
returns setof pims_sync_runs
language plpgsql stable as $$
declare
    v_limit     integer := greatest(1, least(coalesce(p_limit, 20), 500));
    v_before_at timestamptz := coalesce(p_before_created_at, 'infinity'::timestamptz);
    v_before_id uuid := coalesce(p_before_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid);
begin
    if p_clinic_id is not null then
        return query
            select * from pims_sync_runs a
             where a.parent_id is null and a.clinic_id = p_clinic_id
               and (p_sync_type is null or a.sync_type = p_sync_type)
               and (a.created_at, a.id) < (v_before_at, v_before_id)
             order by a.created_at desc, a.id desc
             limit v_limit;
    else
        return query
            select * from pims_sync_runs a
             where a.parent_id is null
               and (p_sync_type is null or a.sync_type = p_sync_type)
               and (a.created_at, a.id) < (v_before_at, v_before_id)
             order by a.created_at desc, a.id desc
             limit v_limit;
    end if;
end;
$$;

-- Totals behind the success rate: succeeded = completed; failed = failed, partial or aborted.
create or replace function sync_history_summary(p_clinic_id uuid default null, p_sync_type text default null)
returns jsonb
language plpgsql stable as $$
declare
    v_summary jsonb;
begin
    if p_clinic_id is not null then
        select jsonb_build_object(
                   'total', count(*),
                   'succeeded', count(*) filter (where a.status = 'completed'),
                   'failed', count(*) filter (where a.status in ('failed', 'partial', 'aborted')))
          into v_summary
          from pims_sync_runs a
         where a.parent_id is null and a.clinic_id = p_clinic_id
           and (p_sync_type is null or a.sync_type = p_sync_type);
    else
        select jsonb_build_object(
                   'total', count(*),
                   'succeeded', count(*) filter (where a.status = 'completed'),
                   'failed', count(*) filter (where a.status in ('failed', 'partial', 'aborted')))
          into v_summary
          from pims_sync_runs a
         where a.parent_id is null
           and (p_sync_type is null or a.sync_type = p_sync_type);
    end if;
    return v_summary;
end;
$$;
