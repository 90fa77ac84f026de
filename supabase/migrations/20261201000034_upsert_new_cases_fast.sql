-- upsert_staged_cases at about COPY's cost for a batch of new cases (issue #18).
--
-- Same signature, result and semantics as 20261201000031_upsert_cases_staged.sql. Three costs
-- of that version go:
--
-- 1. A batch none of whose keys is stored yet (a clinic's first sync, a window synced for the
--    first time) is written with a plain INSERT: no speculative insertion per row, no comparison
--    with stored rows, no RETURNING. Should another transaction store one of its keys between
--    the check and the INSERT, the INSERT fails with unique_violation, its subtransaction rolls
--    back, and the general INSERT ... ON CONFLICT below runs instead, as before.
-- 2. cases.status and cases.type were converted to the columns' own types (the product's ENUMs
--    on an adopted database) with one jsonb_populate_record per row, and cases.type's label
--    looked up per row: now once per distinct (status, type) of the batch, a handful.
-- 3. The key order sorts compare bytes (COLLATE "C") instead of the database's collation, which
--    is costly under a locale such as en_US.UTF-8. Any one total order of the keys keeps
--    concurrent batches from deadlocking, so long as every batch uses the same one, and both
--    statements below sort by it themselves.

-- The function below reads the session's temporary staging table, which exists only once
-- stage_cases() has run, so its body cannot be checked now (reset after it: SET, not SET LOCAL,
-- so that it holds whether or not the tool applying this file wraps it in a transaction).
set check_function_bodies = off;

-- The staged cases, one per key (a repeated key keeps its last, by ord), in key order, with
-- `type` mapped to cases.type's labels (p_labels; null when the column is text) and `typed`
-- holding status and type as the columns' own types.
create or replace function pims_sync.incoming_cases(p_labels jsonb, p_type_default text)
returns table (
    source text, external_id text, status text, pims_status text, pims_type text, type text,
    scheduled_at timestamptz, ends_at timestamptz, patient_name text, patient_external_id text,
    species text, client_name text, client_external_id text, client_email text,
    client_phone text, client_phone_e164 text, provider_name text, room text,
    consultation_external_id text, metadata jsonb, typed cases)
language sql stable as $$
    with kinds as materialized (  -- converted once per kind, not per row
        select k.status, k.pims_type, m.type, t as typed
          from (select distinct x.status, x.type as pims_type from pims_sync_incoming_cases x) k
         cross join lateral (
               select coalesce(case when p_labels is null then k.pims_type
                                    else p_labels ->> pims_sync.normalise_label(k.pims_type) end,
                               p_type_default) as type) m
         cross join lateral jsonb_populate_record(
               null::cases, jsonb_build_object('status', k.status, 'type', m.type)) as t
    )
    select distinct on (s.source collate "C", s.external_id collate "C")
           s.source, s.external_id, s.status, s.pims_status, s.type, k.type, s.scheduled_at,
           s.ends_at, s.patient_name, s.patient_external_id, s.species, s.client_name,
           s.client_external_id, s.client_email, s.client_phone, s.client_phone_e164,
           s.provider_name, s.room, s.consultation_external_id,
           case when s.metadata is null or s.metadata = 'null'::jsonb then '{}'::jsonb
                when s.metadata ?| array['pimsConsultation', 'reconciliation']
                then s.metadata - 'pimsConsultation' - 'reconciliation'
                else s.metadata end,  -- `?|` reads the stored keys; `-` rebuilds the whole value
           k.typed
      from (select coalesce(x.source, 'pims:idexx-neo') as source, x.external_id, x.status,
                   x.pims_status, x.type, x.scheduled_at, x.ends_at, x.patient_name,
                   x.patient_external_id, x.species, x.client_name, x.client_external_id,
                   x.client_email, x.client_phone, x.client_phone_e164, x.provider_name, x.room,
                   x.consultation_external_id, x.metadata, x.ord
              from pims_sync_incoming_cases x) s
     cross join lateral (  -- a lookup in the handful of kinds (a join would materialize the batch)
           select k.type, k.typed from kinds k
            where (k.status, k.pims_type) is not distinct from (s.status, s.type) limit 1) k
     order by s.source collate "C", s.external_id collate "C", s.ord desc
$$;

reset check_function_bodies;

create or replace function upsert_staged_cases(p_clinic_id uuid)
returns jsonb
language plpgsql
set work_mem = '32MB'
set jit = off
as $$
declare
    v_total        integer;
    v_created      integer := 0;
    v_updated      integer := 0;
    v_restored     integer := 0;
    v_owner        uuid;
    v_labels       jsonb := pims_sync.case_type_labels();
    v_type_default text := pims_sync.case_type_default();
begin
    if p_clinic_id is null then
        raise exception 'upsert_cases: p_clinic_id is required' using errcode = '22023';
    end if;
    select count(*) into v_total from pims_sync_incoming_cases;
    if v_total = 0 then
        return jsonb_build_object('created', 0, 'updated', 0, 'unchanged', 0, 'restored', 0);
    end if;
    select c.owner_user_id into v_owner from clinics c where c.id = p_clinic_id;

    if not exists (
        select 1 from pims_sync_incoming_cases x
          join cases c on c.clinic_id = p_clinic_id
                      and c.source = coalesce(x.source, 'pims:idexx-neo')
                      and c.external_id = x.external_id) then
        begin
            insert into cases (
                clinic_id, user_id, source, external_id, status, sync_status, pims_status, type,
                pims_type, scheduled_at, ends_at, patient_name, patient_external_id, species,
                client_name, client_external_id, client_email, client_phone, client_phone_e164,
                provider_name, room, consultation_external_id, metadata)
            select p_clinic_id, v_owner, i.source, i.external_id, (i.typed).status, i.status,
                   i.pims_status, (i.typed).type, i.pims_type, i.scheduled_at, i.ends_at,
                   i.patient_name, i.patient_external_id, i.species, i.client_name,
                   i.client_external_id, i.client_email, i.client_phone, i.client_phone_e164,
                   i.provider_name, i.room, i.consultation_external_id, i.metadata
              from pims_sync.incoming_cases(v_labels, v_type_default) i
             order by i.source collate "C", i.external_id collate "C";
            get diagnostics v_created = row_count;
            delete from pims_sync_incoming_cases;
            return jsonb_build_object('created', v_created, 'updated', 0,
                                      'unchanged', v_total - v_created, 'restored', 0);
        exception when unique_violation then
            null;  -- a concurrent upsert stored one of these keys first: the general path decides
        end;
    end if;

    with changed as (  -- new keys, and stored cases the upsert would change: the rest is never locked
        select i.*, (c.deleted_at is not null or coalesce(c.metadata ? 'reconciliation', false)) as was_deleted
          from pims_sync.incoming_cases(v_labels, v_type_default) i
          left join cases c
            on c.clinic_id = p_clinic_id and c.source = i.source and c.external_id = i.external_id
         where c.id is null
            or pims_sync.case_differs(c, v_labels, i.status, i.status, i.type, i.pims_type, i.pims_status,
                   i.scheduled_at, i.ends_at, i.patient_name, i.patient_external_id, i.species,
                   i.client_name, i.client_external_id, i.client_email, i.client_phone,
                   i.client_phone_e164, i.provider_name, i.room, i.consultation_external_id,
                   i.metadata)
    ),
    upserted as (
        insert into cases as c (
            clinic_id, user_id, source, external_id, status, sync_status, pims_status, type,
            pims_type, scheduled_at, ends_at, patient_name, patient_external_id, species,
            client_name, client_external_id, client_email, client_phone, client_phone_e164,
            provider_name, room, consultation_external_id, metadata)
        select p_clinic_id, v_owner, ch.source, ch.external_id, (ch.typed).status, ch.status,
               ch.pims_status, (ch.typed).type, ch.pims_type, ch.scheduled_at, ch.ends_at,
               ch.patient_name, ch.patient_external_id, ch.species, ch.client_name,
               ch.client_external_id, ch.client_email, ch.client_phone, ch.client_phone_e164,
               ch.provider_name, ch.room, ch.consultation_external_id, ch.metadata
          from changed ch
         order by ch.source collate "C", ch.external_id collate "C"  -- concurrent batches cannot deadlock
        on conflict (clinic_id, source, external_id) do update set
            status = case when pims_sync.status_is_synced(c.status::text, c.sync_status, c.metadata)
                          then excluded.status else c.status end,
            sync_status = case when pims_sync.status_is_synced(c.status::text, c.sync_status, c.metadata)
                               then excluded.sync_status else c.sync_status end,
            pims_status = excluded.pims_status,
            type = case when v_labels is null or v_labels ? pims_sync.normalise_label(excluded.pims_type)
                        then excluded.type else c.type end,
            pims_type = excluded.pims_type,
            scheduled_at = excluded.scheduled_at,
            ends_at = excluded.ends_at,
            patient_name = excluded.patient_name,
            patient_external_id = excluded.patient_external_id,
            species = excluded.species,
            client_name = excluded.client_name,
            client_external_id = excluded.client_external_id,
            client_email = excluded.client_email,
            client_phone = excluded.client_phone,
            client_phone_e164 = excluded.client_phone_e164,
            provider_name = excluded.provider_name,
            room = excluded.room,
            consultation_external_id = excluded.consultation_external_id,
            metadata = (coalesce(c.metadata, '{}'::jsonb) - 'reconciliation') || excluded.metadata,
            deleted_at = null
        where pims_sync.case_differs(c, v_labels, excluded.status::text, excluded.sync_status,
                  excluded.type::text, excluded.pims_type, excluded.pims_status,
                  excluded.scheduled_at, excluded.ends_at, excluded.patient_name,
                  excluded.patient_external_id, excluded.species, excluded.client_name,
                  excluded.client_external_id, excluded.client_email, excluded.client_phone,
                  excluded.client_phone_e164, excluded.provider_name, excluded.room,
                  excluded.consultation_external_id, excluded.metadata)
        -- xmax = 0 only on a freshly inserted row; an ON CONFLICT update leaves our xid there
        returning (c.xmax = 0) as inserted
    )
    select (select count(*) from upserted where inserted),
           (select count(*) from upserted where not inserted),
           (select count(*) from changed where was_deleted)
    into v_created, v_updated, v_restored;

    delete from pims_sync_incoming_cases;  -- empty for the next upsert in this transaction
    return jsonb_build_object(
        'created', v_created,
        'updated', v_updated,
        'unchanged', v_total - v_created - v_updated,
        'restored', least(v_restored, v_updated));
end;
$$;
