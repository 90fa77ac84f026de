-- Multi-row case semantics, shared by PostgresStore (SELECT fn(...)) and SupabaseStore (.rpc(...)).
-- They work on a fresh database (status/type are text) and on the product's own (ENUMs with
-- names we do not know): values reach the table through jsonb_populate_record(null::cases, ...),
-- which converts them to whatever type each column has; comparisons go through ::text.
-- Ownership of cases.status: pims_sync.status_is_synced (a human's change wins).

-- What inbound writes into cases.type: NULL = our CASE_TYPES value as it is (a text column),
-- else {normalised enum label: label} (an ENUM: only a label matching ours is written).
create or replace function pims_sync.case_type_labels() returns jsonb
language sql stable as $$
    select case when t.typtype = 'e' then coalesce(
                    (select jsonb_object_agg(pims_sync.normalise_label(e.enumlabel), e.enumlabel)
                       from pg_enum e where e.enumtypid = t.oid), '{}'::jsonb)
           end
      from pg_attribute a join pg_type t on t.oid = a.atttypid
     where a.attrelid = 'public.cases'::regclass and a.attname = 'type' and not a.attisdropped;
$$;

-- The default of cases.type as text (what a new case gets when our type has no enum label).
create or replace function pims_sync.case_type_default() returns text
language plpgsql stable as $$
declare
    v_expr  text;
    v_value text;
begin
    select pg_get_expr(d.adbin, d.adrelid) into v_expr
      from pg_attrdef d join pg_attribute a on a.attrelid = d.adrelid and a.attnum = d.adnum
     where d.adrelid = 'public.cases'::regclass and a.attname = 'type';
    if v_expr is null then
        return null;
    end if;
    execute format('select (%s)::text', v_expr) into v_value;
    return v_value;
end;
$$;

-- Batch upsert: one statement; created/updated/unchanged reported separately.
-- * insert: status and sync_status = the product's status the caller mapped (models.case_status_for),
--   pims_status, pims_type = our type, type = the matching enum label (or ours on a text column,
--   else the column's default), user_id = the clinic's owner_user_id;
-- * update: status only while the sync owns it; type only when it maps; metadata MERGED (the
--   product's keys kept, pimsConsultation left to enrichment); user_id and every product column
--   untouched; unchanged rows are not rewritten (xmin and updated_at stay);
-- * a soft-deleted case that comes back (deleted_at, or the reconciliation marker the old service
--   left) is restored: deleted_at NULL, metadata.reconciliation removed, status per the mapping
--   when the sync owns it; counted as updated and in "restored";
-- * rows go in key order so two concurrent batches cannot deadlock; a key repeated within one
--   batch keeps its last occurrence.
create or replace function upsert_cases(p_clinic_id uuid, p_cases jsonb)
returns jsonb
language plpgsql as $$
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
    if p_cases is null or jsonb_typeof(p_cases) <> 'array' then
        raise exception 'upsert_cases: p_cases must be a JSON array of cases' using errcode = '22023';
    end if;
    v_total := jsonb_array_length(p_cases);
    if v_total = 0 then
        return jsonb_build_object('created', 0, 'updated', 0, 'unchanged', 0, 'restored', 0);
    end if;
    select c.owner_user_id into v_owner from clinics c where c.id = p_clinic_id;

    with raw as (
        select e.ord, e.doc,
               coalesce(e.doc ->> 'source', 'pims:idexx-neo') as source,
               e.doc ->> 'external_id' as external_id,
               case when v_labels is null then e.doc ->> 'type'
                    else v_labels ->> pims_sync.normalise_label(e.doc ->> 'type') end as mapped_type
          from jsonb_array_elements(p_cases) with ordinality as e(doc, ord)
    ),
    incoming as (
        select distinct on (r.source, r.external_id)
               r.source, r.external_id, r.mapped_type,
               jsonb_populate_record(null::cases, jsonb_build_object(
                   'clinic_id', p_clinic_id, 'user_id', v_owner, 'source', r.source,
                   'external_id', r.external_id, 'status', r.doc -> 'status',
                   'sync_status', r.doc -> 'status', 'pims_status', r.doc -> 'pims_status',
                   'type', coalesce(r.mapped_type, v_type_default), 'pims_type', r.doc -> 'type',
                   'scheduled_at', r.doc -> 'scheduled_at', 'ends_at', r.doc -> 'ends_at',
                   'patient_name', r.doc -> 'patient_name',
                   'patient_external_id', r.doc -> 'patient_external_id',
                   'species', r.doc -> 'species', 'client_name', r.doc -> 'client_name',
                   'client_external_id', r.doc -> 'client_external_id',
                   'client_email', r.doc -> 'client_email', 'client_phone', r.doc -> 'client_phone',
                   'client_phone_e164', r.doc -> 'client_phone_e164',
                   'provider_name', r.doc -> 'provider_name', 'room', r.doc -> 'room',
                   'consultation_external_id', r.doc -> 'consultation_external_id',
                   'metadata', coalesce(nullif(r.doc -> 'metadata', 'null'::jsonb), '{}'::jsonb)
                               - 'pimsConsultation' - 'reconciliation')) as c
          from raw r
         order by r.source, r.external_id, r.ord desc
    ),
    was_deleted as (
        select count(*) as n
          from incoming i
          join cases c on c.clinic_id = p_clinic_id and c.source = i.source and c.external_id = i.external_id
         where c.deleted_at is not null or coalesce(c.metadata ? 'reconciliation', false)
    ),
    upserted as (
        insert into cases as c (
            clinic_id, user_id, source, external_id, status, sync_status, pims_status, type,
            pims_type, scheduled_at, ends_at, patient_name, patient_external_id, species,
            client_name, client_external_id, client_email, client_phone, client_phone_e164,
            provider_name, room, consultation_external_id, metadata)
        select (i.c).clinic_id, (i.c).user_id, (i.c).source, (i.c).external_id, (i.c).status,
               (i.c).sync_status, (i.c).pims_status, (i.c).type, (i.c).pims_type,
               (i.c).scheduled_at, (i.c).ends_at, (i.c).patient_name, (i.c).patient_external_id,
               (i.c).species, (i.c).client_name, (i.c).client_external_id, (i.c).client_email,
               (i.c).client_phone, (i.c).client_phone_e164, (i.c).provider_name, (i.c).room,
               (i.c).consultation_external_id, (i.c).metadata
          from incoming i
         order by i.source, i.external_id
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
        where c.deleted_at is not null
           or coalesce(c.metadata ? 'reconciliation', false)
           or (pims_sync.status_is_synced(c.status::text, c.sync_status, c.metadata)
               and (c.status::text, c.sync_status) is distinct from (excluded.status::text, excluded.sync_status))
           or ((v_labels is null or v_labels ? pims_sync.normalise_label(excluded.pims_type))
               and c.type::text is distinct from excluded.type::text)
           or (c.pims_status, c.pims_type, c.scheduled_at, c.ends_at, c.patient_name,
               c.patient_external_id, c.species, c.client_name, c.client_external_id,
               c.client_email, c.client_phone, c.client_phone_e164, c.provider_name, c.room,
               c.consultation_external_id, coalesce(c.metadata, '{}'::jsonb) || excluded.metadata)
              is distinct from
              (excluded.pims_status, excluded.pims_type, excluded.scheduled_at, excluded.ends_at,
               excluded.patient_name, excluded.patient_external_id, excluded.species,
               excluded.client_name, excluded.client_external_id, excluded.client_email,
               excluded.client_phone, excluded.client_phone_e164, excluded.provider_name,
               excluded.room, excluded.consultation_external_id, c.metadata)
        -- xmax = 0 only on a freshly inserted row; an ON CONFLICT update leaves our xid there
        returning (c.xmax = 0) as inserted
    )
    select count(*) filter (where inserted), count(*) filter (where not inserted), (select n from was_deleted)
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
       set metadata = jsonb_set(coalesce(metadata, '{}'::jsonb), '{pimsConsultation}',
                                coalesce(p_consultation, 'null'::jsonb), true),
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

-- Reconciliation's soft delete, the product's way: deleted_at, and what the product's screens
-- read — status 'reviewed' (where the sync owns the status) and metadata.reconciliation (when,
-- why, the status before). A marker the old service left is kept as it was. Returns how many
-- cases were deleted now.
create or replace function soft_delete_cases(p_clinic_id uuid, p_case_ids uuid[])
returns integer
language plpgsql as $$
declare
    v_n integer;
begin
    update cases c
       set deleted_at = clock_timestamp(),
           status = case when pims_sync.status_is_synced(c.status::text, c.sync_status, c.metadata)
                         then 'reviewed' else c.status end,
           sync_status = case when pims_sync.status_is_synced(c.status::text, c.sync_status, c.metadata)
                              then 'reviewed' else c.sync_status end,
           metadata = case when coalesce(c.metadata ? 'reconciliation', false) then c.metadata
                           else coalesce(c.metadata, '{}'::jsonb) || jsonb_build_object('reconciliation',
                                jsonb_build_object(
                                    'deletedAt', to_jsonb(clock_timestamp()),
                                    'reason', 'appointment no longer in the PIMS',
                                    'previousStatus', c.status::text,
                                    'by', 'pims-sync')) end
     where c.clinic_id = p_clinic_id and c.id = any (p_case_ids) and c.deleted_at is null;
    get diagnostics v_n = row_count;
    return v_n;
end;
$$;

-- Reconciliation: bring back soft-deleted cases whose appointment reappeared. Clears deleted_at
-- and metadata.reconciliation; the status becomes the mapping of the PIMS status where the sync
-- owns it (a human's status stays).
create or replace function restore_cases(p_clinic_id uuid, p_case_ids uuid[])
returns integer
language plpgsql as $$
declare
    v_n integer;
begin
    update cases c
       set deleted_at = null,
           metadata = c.metadata - 'reconciliation',
           status = case when pims_sync.status_is_synced(c.status::text, c.sync_status, c.metadata)
                         then (jsonb_populate_record(null::cases, jsonb_build_object(
                                   'status', pims_sync.case_status_for(c.pims_status)))).status
                         else c.status end,
           sync_status = case when pims_sync.status_is_synced(c.status::text, c.sync_status, c.metadata)
                              then pims_sync.case_status_for(c.pims_status) else c.sync_status end
     where c.clinic_id = p_clinic_id and c.id = any (p_case_ids)
       and (c.deleted_at is not null or coalesce(c.metadata ? 'reconciliation', false));
    get diagnostics v_n = row_count;
    return v_n;
end;
$$;
