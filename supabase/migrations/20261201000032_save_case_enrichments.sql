-- Enrichment in batches (issue #18): the consultations whose details arrive together are saved
-- by one call, one statement and one commit, instead of one transaction (and one ~5 ms WAL flush)
-- per consultation. Each row goes through save_case_enrichment, so what is written, the
-- "changed" answer and the tenancy check are the single save's. A case that is not the clinic's
-- (or does not exist) raises P0002 and the whole batch is rolled back: the caller then saves the
-- rows one by one to find out which one it was.
--
-- p_consultations is a JSON array aligned with p_case_ids (jsonb rather than jsonb[]: PostgREST
-- passes a JSON array as is). Rows are written in case id order, one global lock order for two
-- transactions that touch the same cases; the answer is in the caller's order.
create or replace function save_case_enrichments(p_clinic_id uuid, p_case_ids uuid[], p_consultations jsonb)
returns boolean[]
language plpgsql as $$
declare
    v_n integer := coalesce(cardinality(p_case_ids), 0);
    v_changed boolean[] := array_fill(null::boolean, array[v_n]);
    v_row record;
begin
    if jsonb_typeof(p_consultations) is distinct from 'array' or jsonb_array_length(p_consultations) <> v_n then
        raise exception 'save_case_enrichments: % case ids but consultations are not an array of as many', v_n
            using errcode = '22023';
    end if;
    for v_row in
        select t.case_id, t.ord from unnest(p_case_ids) with ordinality as t(case_id, ord) order by t.case_id, t.ord
    loop
        v_changed[v_row.ord] := save_case_enrichment(p_clinic_id, v_row.case_id,
                                                     p_consultations -> (v_row.ord::integer - 1));
    end loop;
    return v_changed;
end;
$$;
