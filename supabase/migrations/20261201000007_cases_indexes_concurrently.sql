-- pims-sync: no-transaction
-- Built CONCURRENTLY, so the product keeps writing cases while they build: each statement runs on
-- its own (the runner sees the marker above), with lock_timeout. Duplicates are merged first
-- (again here, in case the old service wrote new ones since); an INVALID index left by an
-- interrupted build is dropped and rebuilt. If a build fails (a duplicate written in between),
-- `pims-sync db migrate` again picks up from here.

select pims_sync.merge_duplicate_cases();

do $$
declare
    v_name text;
begin
    for v_name in
        select c.relname from pg_index i join pg_class c on c.oid = i.indexrelid
         where i.indrelid = 'public.cases'::regclass and not i.indisvalid
           and c.relname in ('cases_clinic_source_external_key', 'cases_clinic_scheduled_live_idx',
                             'cases_clinic_source_scheduled_idx')
    loop
        raise notice 'pims-sync: dropping index % left INVALID by an interrupted build', v_name;
        execute format('drop index public.%I', v_name);
    end loop;
end;
$$;

-- the key upsert_cases' ON CONFLICT uses
create unique index concurrently if not exists cases_clinic_source_external_key
    on cases (clinic_id, source, external_id);

-- enrichment and the calendar: live cases of a clinic by time
create index concurrently if not exists cases_clinic_scheduled_live_idx
    on cases (clinic_id, scheduled_at) where deleted_at is null;

-- reconciliation: every case (deleted too) of a clinic and source in a window
create index concurrently if not exists cases_clinic_source_scheduled_idx
    on cases (clinic_id, source, scheduled_at);
