-- Multi-row case semantics, shared by PostgresStore (SELECT fn(...)) and SupabaseStore (.rpc(...)).

-- Batch upsert: one statement, created/updated/unchanged reported separately.
-- * unchanged rows are not rewritten (the DO UPDATE ... WHERE filters them out; xmin stays);
-- * metadata.pimsConsultation belongs to enrichment: an inbound upsert never overwrites it and
--   is not "changed" because of it;
-- * a soft-deleted case that comes back is restored (deleted_at = null) and counted as updated
--   (and in "restored");
-- * rows are inserted in key order so two concurrent batches lock overlapping keys in the same
--   order and cannot deadlock; a key repeated within one batch keeps its last occurrence.
create or replace function upsert_cases(p_clinic_id uuid, p_cases jsonb)
returns jsonb
language plpgsql as $$
declare
    v_total    integer;
    v_created  integer := 0;
    v_updated  integer := 0;
    v_restored integer := 0;
begin
    if p_clinic_id is null then
        raise exception 'upsert_cases: p_clinic_id is required' using errcode = '22023';
    end if;
    if p_cases is null or jsonb_typeof(p_cases) <> 'array' then
        raise exception 'upsert_cases: p_cases must be a JSON array of cases' using errcode = '22023';
    end if;
    v_total := jsonb_array_length(p_cases);
    if v_total = 0 then
        return jsonb_build_object('created', 0, 'updated', 0, 'unchanged', 0, 'restored', 0);
    end if;

    with raw as (
        select e.ord, coalesce(x.source, 'pims:idexx-neo') as source, x.external_id, x.status, x.type,
               x.scheduled_at, x.ends_at, x.patient_name, x.patient_external_id, x.species,
               x.client_name, x.client_external_id, x.client_email, x.client_phone,
               x.client_phone_e164, x.provider_name, x.room, x.consultation_external_id,
               coalesce(x.metadata, '{}'::jsonb) as metadata
        from jsonb_array_elements(p_cases) with ordinality as e(doc, ord)
        cross join lateral jsonb_to_record(e.doc) as x(
            source text, external_id text, status text, type text, scheduled_at timestamptz,
            ends_at timestamptz, patient_name text, patient_external_id text, species text,
            client_name text, client_external_id text, client_email text, client_phone text,
            client_phone_e164 text, provider_name text, room text, consultation_external_id text,
            metadata jsonb)
    ),
    incoming as (
        select distinct on (source, external_id) *
        from raw
        order by source, external_id, ord desc
    ),
    was_deleted as (
        select count(*) as n
        from incoming i
        join cases c on c.clinic_id = p_clinic_id and c.source = i.source
                    and c.external_id = i.external_id
        where c.deleted_at is not null
    ),
    upserted as (
        insert into cases as c (
            clinic_id, source, external_id, status, type, scheduled_at, ends_at, patient_name,
            patient_external_id, species, client_name, client_external_id, client_email,
            client_phone, client_phone_e164, provider_name, room, consultation_external_id, metadata)
        select p_clinic_id, i.source, i.external_id, i.status, i.type, i.scheduled_at, i.ends_at,
               i.patient_name, i.patient_external_id, i.species, i.client_name,
               i.client_external_id, i.client_email, i.client_phone, i.client_phone_e164,
               i.provider_name, i.room, i.consultation_external_id, i.metadata
        from incoming i
        order by i.source, i.external_id
        on conflict (clinic_id, source, external_id) do update set
            status = excluded.status,
            type = excluded.type,
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
            metadata = (excluded.metadata - 'pimsConsultation')
                || case when c.metadata ? 'pimsConsultation'
                        then jsonb_build_object('pimsConsultation', c.metadata -> 'pimsConsultation')
                        else '{}'::jsonb end,
            deleted_at = null
        where c.deleted_at is not null
           or (c.status, c.type, c.scheduled_at, c.ends_at, c.patient_name, c.patient_external_id,
               c.species, c.client_name, c.client_external_id, c.client_email, c.client_phone,
               c.client_phone_e164, c.provider_name, c.room, c.consultation_external_id,
               c.metadata - 'pimsConsultation')
              is distinct from
              (excluded.status, excluded.type, excluded.scheduled_at, excluded.ends_at,
               excluded.patient_name, excluded.patient_external_id, excluded.species,
               excluded.client_name, excluded.client_external_id, excluded.client_email,
               excluded.client_phone, excluded.client_phone_e164, excluded.provider_name,
               excluded.room, excluded.consultation_external_id,
               excluded.metadata - 'pimsConsultation')
        -- xmax = 0 only on a freshly inserted row; an ON CONFLICT update leaves our xid there
        returning (c.xmax = 0) as inserted
    )
    select count(*) filter (where inserted),
           count(*) filter (where not inserted),
           (select n from was_deleted)
      into v_created, v_updated, v_restored
      from upserted;

    return jsonb_build_object(
        'created', v_created,
        'updated', v_updated,
        'unchanged', v_total - v_created - v_updated,
        'restored', least(v_restored, v_updated));
end;
$$;

-- Enrichment owns metadata.pimsConsultation. True when something was written.
create or replace function save_case_enrichment(p_clinic_id uuid, p_case_id uuid, p_consultation jsonb)
returns boolean
language plpgsql as $$
begin
    update cases
       set metadata = jsonb_set(metadata, '{pimsConsultation}', coalesce(p_consultation, 'null'::jsonb), true),
           enriched_at = clock_timestamp()
     where id = p_case_id
       and clinic_id = p_clinic_id
       and (metadata -> 'pimsConsultation' is distinct from p_consultation or enriched_at is null);
    if found then
        return true;
    end if;
    perform 1 from cases where id = p_case_id and clinic_id = p_clinic_id;
    if not found then
        raise exception 'case % not found for clinic %', p_case_id, p_clinic_id using errcode = 'P0002';
    end if;
    return false;
end;
$$;

-- Reconciliation: soft delete live cases; returns how many were deleted now.
create or replace function soft_delete_cases(p_clinic_id uuid, p_case_ids uuid[])
returns integer
language sql as $$
    with d as (
        update cases set deleted_at = clock_timestamp()
         where clinic_id = p_clinic_id and id = any (p_case_ids) and deleted_at is null
        returning 1
    )
    select count(*)::integer from d;
$$;

-- Reconciliation: bring back soft-deleted cases whose appointment reappeared.
create or replace function restore_cases(p_clinic_id uuid, p_case_ids uuid[])
returns integer
language sql as $$
    with r as (
        update cases set deleted_at = null
         where clinic_id = p_clinic_id and id = any (p_case_ids) and deleted_at is not null
        returning 1
    )
    select count(*)::integer from r;
$$;
