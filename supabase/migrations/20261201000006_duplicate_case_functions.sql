-- Duplicate cases (same clinic, source and external id: the product's data has them) must be
-- merged before the unique key (clinic_id, source, external_id) can be built. Nothing is lost:
-- the most recently updated row survives, every other row goes to pims_sync_archived_cases as it
-- was, and product rows whose foreign keys pointed at a merged-away case are re-pointed to the
-- survivor first (ON DELETE CASCADE would otherwise delete them). restore_duplicate_cases()
-- undoes it (`pims-sync db restore-duplicates`, which drops the unique key first).

-- Single-column foreign keys that reference cases(id): the rows to re-point. A multi-column one
-- cannot be re-pointed safely, so merging stops and names it.
create or replace function pims_sync.case_references()
returns table (tbl regclass, col name, key_expr text)
language sql stable as $$
    select c.conrelid::regclass, a.attname,
           coalesce((select 'jsonb_build_object(' || string_agg(format('%L, t.%I', pa.attname, pa.attname), ', '
                                                          order by k.ord) || ')'
                       from pg_index i
                       cross join unnest(i.indkey::int2[]) with ordinality as k(attnum, ord)
                       join pg_attribute pa on pa.attrelid = i.indrelid and pa.attnum = k.attnum
                      where i.indrelid = c.conrelid and i.indisprimary),
                    'to_jsonb(t)')
      from pg_constraint c
      join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
     where c.contype = 'f' and c.confrelid = 'public.cases'::regclass and cardinality(c.conkey) = 1
     order by 1::text, 2;
$$;

-- The duplicates now: (clinic_id, source, external_id) groups with more than one row.
create or replace function pims_sync.duplicate_case_ids(out case_id uuid, out survivor_id uuid)
returns setof record
language sql stable as $$
    select d.id, d.survivor_id
      from (select c.id,
                   first_value(c.id) over w as survivor_id,
                   row_number() over w as rn
              from cases c
             where c.source is not null and c.external_id is not null
            window w as (partition by c.clinic_id, c.source, c.external_id
                         order by c.updated_at desc nulls last, c.created_at desc nulls last, c.id desc)) d
     where d.rn > 1;
$$;

-- Merge every duplicate group into its most recently updated row; returns how many rows were
-- archived (and says so in a NOTICE that `pims-sync db migrate` prints).
create or replace function pims_sync.merge_duplicate_cases() returns integer
language plpgsql as $$
declare
    v_ids       uuid[];
    v_survivors uuid[];
    v_moved     jsonb := '{}'::jsonb;
    v_found     jsonb;
    v_ref       record;
    v_case      text;
    v_keys      jsonb;
    v_n         integer;
begin
    select coalesce(array_agg(d.case_id order by d.case_id), '{}'),
           coalesce(array_agg(d.survivor_id order by d.case_id), '{}')
      into v_ids, v_survivors
      from pims_sync.duplicate_case_ids() d;
    if cardinality(v_ids) = 0 then
        raise notice 'pims-sync: no duplicate cases to merge';
        return 0;
    end if;
    select format('%s (%s)', c.conname, c.conrelid::regclass) into v_case
      from pg_constraint c
     where c.contype = 'f' and c.confrelid = 'public.cases'::regclass and cardinality(c.conkey) > 1
     limit 1;
    if v_case is not null then
        raise exception 'pims-sync: cannot merge duplicate cases: foreign key % references cases with several columns', v_case
            using hint = 'merge those duplicates by hand, then run pims-sync db migrate again';
    end if;

    for v_ref in select * from pims_sync.case_references() loop
        execute format($f$
            with u as (
                update %1$s t set %2$I = m.survivor_id
                  from unnest($1::uuid[], $2::uuid[]) as m(case_id, survivor_id)
                 where t.%2$I = m.case_id
                returning m.case_id, %3$s as key)
            select coalesce(jsonb_object_agg(g.case_id, g.keys), '{}'::jsonb)
              from (select case_id, jsonb_agg(key) as keys from u group by case_id) g
            $f$, v_ref.tbl, v_ref.col, v_ref.key_expr)
            into v_found using v_ids, v_survivors;
        for v_case, v_keys in select * from jsonb_each(v_found) loop
            v_moved := jsonb_set(v_moved, array[v_case],
                coalesce(v_moved -> v_case, '[]'::jsonb)
                || jsonb_build_array(jsonb_build_object('table', v_ref.tbl::text, 'column', v_ref.col, 'keys', v_keys)));
        end loop;
    end loop;

    insert into pims_sync_archived_cases (case_id, survivor_id, clinic_id, source, external_id, row_data, repointed)
    select c.id, m.survivor_id, c.clinic_id, c.source, c.external_id, to_jsonb(c),
           coalesce(v_moved -> c.id::text, '[]'::jsonb)
      from cases c
      join unnest(v_ids, v_survivors) as m(case_id, survivor_id) on m.case_id = c.id;
    delete from cases c where c.id = any (v_ids);
    get diagnostics v_n = row_count;
    raise notice 'pims-sync: merged % duplicate case(s) into their most recently updated copy (archived in pims_sync_archived_cases; pims-sync db restore-duplicates puts them back)', v_n;
    return v_n;
end;
$$;

-- Put archived duplicates back (their original id and columns) and point the re-pointed product
-- rows at them again. Needs the unique key gone first (the caller drops it). Returns how many.
create or replace function pims_sync.restore_duplicate_cases() returns integer
language plpgsql as $$
declare
    v_row  record;
    v_ref  jsonb;
    v_key  jsonb;
    v_n    integer := 0;
begin
    for v_row in select * from pims_sync_archived_cases where restored_at is null order by archive_id loop
        insert into cases select (jsonb_populate_record(null::cases, v_row.row_data)).*
        on conflict (id) do nothing;
        for v_ref in select * from jsonb_array_elements(v_row.repointed) loop
            for v_key in select * from jsonb_array_elements(v_ref -> 'keys') loop
                execute format('update %s t set %I = $1 where t.%I = $2 and to_jsonb(t) @> $3',
                               v_ref ->> 'table', v_ref ->> 'column', v_ref ->> 'column')
                    using v_row.case_id, v_row.survivor_id, v_key;
            end loop;
        end loop;
        update pims_sync_archived_cases set restored_at = clock_timestamp() where archive_id = v_row.archive_id;
        v_n := v_n + 1;
    end loop;
    return v_n;
end;
$$;

-- only the migration's owner (pims-sync db migrate / restore-duplicates) merges or restores
revoke execute on function pims_sync.merge_duplicate_cases() from public;
revoke execute on function pims_sync.restore_duplicate_cases() from public;
revoke execute on function pims_sync.case_references() from public;
