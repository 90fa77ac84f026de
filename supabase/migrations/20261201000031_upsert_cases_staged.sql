-- upsert_cases without the JSON round trip and without row locks on unchanged cases (issue #18).
--
-- The cases of one upsert are staged in a temporary table, pims_sync_incoming_cases (empty
-- between upserts): PostgresStore fills it with COPY, upsert_cases(jsonb) (the Supabase store's .rpc, and
-- older callers) fills it from its JSON array. upsert_staged_cases then does what
-- upsert_cases did, with one difference: incoming rows that would change nothing are dropped by
-- a join on the unique key BEFORE the INSERT ... ON CONFLICT. That statement locks every
-- conflicting row before it evaluates its WHERE, and row locks are WAL-logged and set xmax, so
-- re-upserting unchanged cases used to write ~560 KB of WAL per 10,000 rows; now it writes
-- nothing at all. Whether a stored case differs from an incoming one is one SQL function,
-- pims_sync.case_differs, used by that filter and by the ON CONFLICT's WHERE (which still decides
-- for a row that changed between the two, e.g. a concurrent sync).
-- Semantics are those of 20261201000004's upsert_cases (described there), unchanged.

-- The staging table: created once per database session and kept (creating it for every upsert
-- wrote ~100 KB of catalog WAL each time); ON COMMIT DELETE ROWS and a DELETE after every use
-- keep it empty between upserts.
create or replace function stage_cases() returns void
language plpgsql as $$
begin
    if to_regclass('pg_temp.pims_sync_incoming_cases') is not null then
        return;
    end if;
    create temporary table pims_sync_incoming_cases (
        ord                      bigint not null,  -- input order: a repeated key keeps its last
        source                   text,
        external_id              text,
        status                   text,
        pims_status              text,
        type                     text,
        scheduled_at             timestamptz,
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
        metadata                 jsonb
    ) on commit delete rows;
end;
$$;

-- True when upserting these values would change the stored case c (p_type: the value for
-- cases.type, already mapped to the column's labels; p_pims_type: ours as it came).
create or replace function pims_sync.case_differs(
    c cases, p_labels jsonb, p_status text, p_sync_status text, p_type text, p_pims_type text,
    p_pims_status text, p_scheduled_at timestamptz, p_ends_at timestamptz, p_patient_name text,
    p_patient_external_id text, p_species text, p_client_name text, p_client_external_id text,
    p_client_email text, p_client_phone text, p_client_phone_e164 text, p_provider_name text,
    p_room text, p_consultation_external_id text, p_metadata jsonb)
returns boolean
language sql stable as $$
    select c.deleted_at is not null
        or coalesce(c.metadata ? 'reconciliation', false)
        or (pims_sync.status_is_synced(c.status::text, c.sync_status, c.metadata)
            and (c.status::text, c.sync_status) is distinct from (p_status, p_sync_status))
        or ((p_labels is null or p_labels ? pims_sync.normalise_label(p_pims_type))
            and c.type::text is distinct from p_type)
        or (c.pims_status, c.pims_type, c.scheduled_at, c.ends_at, c.patient_name,
            c.patient_external_id, c.species, c.client_name, c.client_external_id,
            c.client_email, c.client_phone, c.client_phone_e164, c.provider_name, c.room,
            c.consultation_external_id, coalesce(c.metadata, '{}'::jsonb) || p_metadata)
           is distinct from
           (p_pims_status, p_pims_type, p_scheduled_at, p_ends_at, p_patient_name,
            p_patient_external_id, p_species, p_client_name, p_client_external_id,
            p_client_email, p_client_phone, p_client_phone_e164, p_provider_name, p_room,
            p_consultation_external_id, c.metadata);
$$;

-- Upsert the staged cases into p_clinic_id's; {created, updated, unchanged, restored}.
-- cases.status and cases.type may be the product's ENUMs (names we do not know): their values go
-- through jsonb_populate_record(null::cases, ...), which converts text to each column's own type,
-- so the statement is static and its plan is cached for the session (EXECUTE planned it per call).
-- work_mem for this call only: a batch of 10,000 cases sorts ~6 MB twice (the repeated-key rule,
-- then key order), which the 4 MB default spills to disk.
create or replace function upsert_staged_cases(p_clinic_id uuid)
returns jsonb
language plpgsql
set work_mem = '32MB'
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

    with incoming as (
        select distinct on (s.source, s.external_id)
               s.source, s.external_id, s.status, s.pims_status, s.type as pims_type,
               coalesce(case when v_labels is null then s.type
                             else v_labels ->> pims_sync.normalise_label(s.type) end, v_type_default) as type,
               s.scheduled_at, s.ends_at, s.patient_name, s.patient_external_id, s.species,
               s.client_name, s.client_external_id, s.client_email, s.client_phone,
               s.client_phone_e164, s.provider_name, s.room, s.consultation_external_id,
               coalesce(nullif(s.metadata, 'null'::jsonb), '{}'::jsonb)
                   - 'pimsConsultation' - 'reconciliation' as metadata
          from (select coalesce(x.source, 'pims:idexx-neo') as source, x.external_id, x.status,
                       x.pims_status, x.type, x.scheduled_at, x.ends_at, x.patient_name,
                       x.patient_external_id, x.species, x.client_name, x.client_external_id,
                       x.client_email, x.client_phone, x.client_phone_e164, x.provider_name, x.room,
                       x.consultation_external_id, x.metadata, x.ord
                  from pims_sync_incoming_cases x) s
         order by s.source, s.external_id, s.ord desc
    ),
    changed as (  -- new keys, and stored cases the upsert would change: the rest is never locked
        select i.*, (c.deleted_at is not null or coalesce(c.metadata ? 'reconciliation', false)) as was_deleted
          from incoming i
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
        select p_clinic_id, v_owner, ch.source, ch.external_id, typed.status, ch.status, ch.pims_status,
               typed.type, ch.pims_type, ch.scheduled_at, ch.ends_at, ch.patient_name,
               ch.patient_external_id, ch.species, ch.client_name, ch.client_external_id,
               ch.client_email, ch.client_phone, ch.client_phone_e164, ch.provider_name, ch.room,
               ch.consultation_external_id, ch.metadata
          from changed ch
         cross join lateral jsonb_populate_record(
                 null::cases, jsonb_build_object('status', ch.status, 'type', ch.type)) as typed
         order by ch.source, ch.external_id  -- key order: concurrent batches cannot deadlock
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

-- The JSON entry point (SupabaseStore's .rpc): same signature and result as before.
create or replace function upsert_cases(p_clinic_id uuid, p_cases jsonb)
returns jsonb
language plpgsql as $$
begin
    if p_clinic_id is null then
        raise exception 'upsert_cases: p_clinic_id is required' using errcode = '22023';
    end if;
    if p_cases is null or jsonb_typeof(p_cases) <> 'array' then
        raise exception 'upsert_cases: p_cases must be a JSON array of cases' using errcode = '22023';
    end if;
    perform stage_cases();
    insert into pims_sync_incoming_cases (
        ord, source, external_id, status, pims_status, type, scheduled_at, ends_at, patient_name,
        patient_external_id, species, client_name, client_external_id, client_email, client_phone,
        client_phone_e164, provider_name, room, consultation_external_id, metadata)
    select e.ord, e.doc ->> 'source', e.doc ->> 'external_id', e.doc ->> 'status',
           e.doc ->> 'pims_status', e.doc ->> 'type', (e.doc ->> 'scheduled_at')::timestamptz,
           (e.doc ->> 'ends_at')::timestamptz, e.doc ->> 'patient_name',
           e.doc ->> 'patient_external_id', e.doc ->> 'species', e.doc ->> 'client_name',
           e.doc ->> 'client_external_id', e.doc ->> 'client_email', e.doc ->> 'client_phone',
           e.doc ->> 'client_phone_e164', e.doc ->> 'provider_name', e.doc ->> 'room',
           e.doc ->> 'consultation_external_id', e.doc -> 'metadata'
      from jsonb_array_elements(p_cases) with ordinality as e(doc, ord);
    return upsert_staged_cases(p_clinic_id);
end;
$$;
