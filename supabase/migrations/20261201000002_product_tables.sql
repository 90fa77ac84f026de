-- The product's tables, created on a fresh database and adopted in place on the product's own.
-- A table that already exists keeps every column, constraint, trigger, policy and RLS setting it
-- has: we only add the columns the sync needs (nullable, or with a constant default, so Postgres
-- never rewrites the table). RLS is enabled only on a table this file creates (on a fresh
-- Supabase, PostgREST must not hand credentials or client data to the anon role); on the
-- product's own tables it stays exactly as the product set it, or its screens and Realtime go blank.

-- clinics ------------------------------------------------------------------------------------
do $$
begin
    if to_regclass('public.clinics') is null then
        create table public.clinics (
            id         uuid primary key default gen_random_uuid(),
            name       text not null check (length(btrim(name)) > 0),
            timezone   text not null default 'America/Los_Angeles',
            is_active  boolean not null default true,
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now()
        );
        alter table public.clinics enable row level security;
    end if;
end;
$$;
alter table clinics add column if not exists pims_provider text not null default 'idexx-neo';
alter table clinics add column if not exists phone_region text not null default 'US'
    constraint clinics_phone_region_check check (phone_region ~ '^[A-Z]{2}$');
alter table clinics add column if not exists pims_host text;
alter table clinics add column if not exists owner_user_id uuid;  -- cases.user_id of new cases
alter table clinics add column if not exists created_at timestamptz not null default now();
alter table clinics add column if not exists updated_at timestamptz not null default now();
-- The cut-over flag: clinics that existed when pims-sync arrived stay with the old service
-- ('legacy') until an operator hands each one over; clinics created from now on are ours.
alter table clinics add column if not exists sync_owner text not null default 'legacy'
    constraint clinics_sync_owner_check check (sync_owner in ('pims-sync', 'legacy'));
alter table clinics alter column sync_owner set default 'pims-sync';
do $$
declare
    v_legacy integer;
begin
    select count(*) into v_legacy from clinics where sync_owner = 'legacy';
    if v_legacy > 0 then
        raise notice 'pims-sync: % existing clinic(s) keep sync_owner = ''legacy'' (the old service syncs them) until you hand each over: pims-sync clinics set ID --sync-owner pims-sync', v_legacy;
    end if;
end;
$$;
create or replace trigger pims_sync_updated_at before update on clinics
    for each row execute function pims_sync.set_updated_at();

-- idexx_credentials (the seed's name; several rows per clinic, one per user: the store reads the
-- most recently updated active one) -----------------------------------------------------------
do $$
begin
    if to_regclass('public.idexx_credentials') is null then
        create table public.idexx_credentials (
            id                   uuid primary key default gen_random_uuid(),
            clinic_id            uuid not null references public.clinics (id) on delete cascade,
            user_id              uuid,
            username_encrypted   bytea not null,
            password_encrypted   bytea not null,
            company_id_encrypted bytea not null,
            encryption_key_id    text not null default 'default',
            is_active            boolean not null default true,
            sync_enabled         boolean not null default true,
            validation_status    text,
            last_validated_at    timestamptz,
            created_at           timestamptz not null default now(),
            updated_at           timestamptz not null default now()
        );
        alter table public.idexx_credentials enable row level security;
    end if;
end;
$$;
alter table idexx_credentials add column if not exists encryption_key_id text not null default 'default';
alter table idexx_credentials add column if not exists is_active boolean not null default true;
alter table idexx_credentials add column if not exists sync_enabled boolean not null default true;
alter table idexx_credentials add column if not exists validation_status text;
alter table idexx_credentials add column if not exists last_validated_at timestamptz;
alter table idexx_credentials add column if not exists created_at timestamptz not null default now();
alter table idexx_credentials add column if not exists updated_at timestamptz not null default now();
create or replace trigger pims_sync_updated_at before update on idexx_credentials
    for each row execute function pims_sync.set_updated_at();
create index if not exists idexx_credentials_clinic_active_idx
    on idexx_credentials (clinic_id, updated_at desc) where is_active;

-- clinic_api_keys: a NULL clinic_id is a shared key (the product's later migration dropped the
-- column; we add it back, nullable). Fresh: the seed's INSERT (clinic_id, key_prefix, key_hash,
-- permissions) works, so user_id and name are nullable here; the product's own NOT NULLs stay. --
do $$
begin
    if to_regclass('public.clinic_api_keys') is null then
        create table public.clinic_api_keys (
            id           uuid primary key default gen_random_uuid(),
            clinic_id    uuid references public.clinics (id) on delete cascade,
            user_id      uuid,
            name         text check (name is null or length(name) between 3 and 100),
            key_prefix   text not null,
            key_hash     text not null unique check (key_hash ~ '^[0-9a-f]{64}$'),
            permissions  text[],  -- NULL = every permission
            expires_at   timestamptz,
            is_active    boolean not null default true,
            last_used_at timestamptz,
            created_at   timestamptz not null default now(),
            updated_at   timestamptz not null default now()
        );
        alter table public.clinic_api_keys enable row level security;
    end if;
end;
$$;
alter table clinic_api_keys add column if not exists clinic_id uuid references clinics (id) on delete cascade;
alter table clinic_api_keys add column if not exists permissions text[];
alter table clinic_api_keys add column if not exists expires_at timestamptz;
alter table clinic_api_keys add column if not exists is_active boolean not null default true;
alter table clinic_api_keys add column if not exists last_used_at timestamptz;
alter table clinic_api_keys add column if not exists created_at timestamptz not null default now();
alter table clinic_api_keys add column if not exists updated_at timestamptz not null default now();
create or replace trigger pims_sync_updated_at before update of clinic_id, name, key_prefix, key_hash,
    permissions, expires_at, is_active on clinic_api_keys
    for each row execute function pims_sync.set_updated_at();
create index if not exists clinic_api_keys_clinic_idx on clinic_api_keys (clinic_id, created_at);

-- the clinics an operator granted a shared key (ours)
do $$
begin
    if to_regclass('public.pims_sync_key_clinics') is null then
        create table public.pims_sync_key_clinics (
            key_id     uuid not null references public.clinic_api_keys (id) on delete cascade,
            clinic_id  uuid not null references public.clinics (id) on delete cascade,
            granted_at timestamptz not null default now(),
            primary key (key_id, clinic_id)
        );
        create index pims_sync_key_clinics_clinic_idx on public.pims_sync_key_clinics (clinic_id);
        alter table public.pims_sync_key_clinics enable row level security;
    end if;
end;
$$;

-- clinic_schedule_configs (the seed's sync_schedules) ------------------------------------------
do $$
begin
    if to_regclass('public.clinic_schedule_configs') is null then
        create table public.clinic_schedule_configs (
            id             uuid primary key default gen_random_uuid(),
            clinic_id      uuid not null unique references public.clinics (id) on delete cascade,
            sync_schedules jsonb not null default '[]'::jsonb check (jsonb_typeof(sync_schedules) = 'array'),
            version        bigint not null default 1,
            created_at     timestamptz not null default now(),
            updated_at     timestamptz not null default now()
        );
        alter table public.clinic_schedule_configs enable row level security;
    end if;
end;
$$;
alter table clinic_schedule_configs add column if not exists sync_schedules jsonb not null default '[]'::jsonb;
alter table clinic_schedule_configs add column if not exists version bigint not null default 1;
alter table clinic_schedule_configs add column if not exists created_at timestamptz not null default now();
alter table clinic_schedule_configs add column if not exists updated_at timestamptz not null default now();
-- the store upserts on clinic_id: one config row per clinic
do $$
begin
    if not exists (
        select 1 from pg_index i
         where i.indrelid = 'public.clinic_schedule_configs'::regclass and i.indisunique
           and i.indpred is null and i.indnkeyatts = 1
           and i.indkey[0] = (select attnum from pg_attribute
                               where attrelid = 'public.clinic_schedule_configs'::regclass
                                 and attname = 'clinic_id')) then
        create unique index clinic_schedule_configs_clinic_id_key on public.clinic_schedule_configs (clinic_id);
    end if;
end;
$$;
create index if not exists clinic_schedule_configs_updated_idx on clinic_schedule_configs (updated_at);

-- a version that changes on every edit, and a NOTIFY for the beat scheduler (it LISTENs on
-- 'clinic_schedule_configs_changed' with a direct connection, else polls on updated_at)
create or replace function pims_sync.schedule_configs_bump() returns trigger
language plpgsql as $$
begin
    if tg_op = 'UPDATE' then
        new.version := coalesce(old.version, 0) + 1;
    end if;
    -- clock_timestamp, not now(): a poller comparing updated_at must not miss an edit made late
    -- in a long transaction
    new.updated_at := clock_timestamp();
    return new;
end;
$$;
create or replace function pims_sync.schedule_configs_notify() returns trigger
language plpgsql as $$
begin
    perform pg_notify(
        'clinic_schedule_configs_changed',
        (case when tg_op = 'DELETE' then old.clinic_id else new.clinic_id end)::text);
    return null;
end;
$$;
create or replace trigger pims_sync_bump before insert or update on clinic_schedule_configs
    for each row execute function pims_sync.schedule_configs_bump();
create or replace trigger pims_sync_notify after insert or update or delete on clinic_schedule_configs
    for each row execute function pims_sync.schedule_configs_notify();

-- a clinic's time zone or active flag is part of what the scheduler evaluates: touching its
-- config row bumps the version and sends the NOTIFY through the triggers above
create or replace function pims_sync.clinics_touch_schedule_config() returns trigger
language plpgsql as $$
begin
    update clinic_schedule_configs set sync_schedules = sync_schedules where clinic_id = new.id;
    return null;
end;
$$;
create or replace trigger pims_sync_touch_schedule_config after update of timezone, is_active on clinics
    for each row
    when (old.timezone is distinct from new.timezone or old.is_active is distinct from new.is_active)
    execute function pims_sync.clinics_touch_schedule_config();

-- The old code's singular clinic_schedule_config: its rows are carried over once, for clinics
-- with no row in the plural table (the plural row wins; the singular table is left as it is).
do $$
declare
    v_copied  integer := 0;
    v_skipped integer := 0;
begin
    if to_regclass('public.clinic_schedule_config') is null
       or not exists (select 1 from pg_attribute where attrelid = to_regclass('public.clinic_schedule_config')
                         and attname = 'clinic_id' and not attisdropped)
       or not exists (select 1 from pg_attribute where attrelid = to_regclass('public.clinic_schedule_config')
                         and attname = 'sync_schedules' and not attisdropped) then
        return;
    end if;
    with src as (
        select distinct on (s.clinic_id) s.clinic_id, s.sync_schedules::jsonb as schedules
          from public.clinic_schedule_config s
         where s.clinic_id is not null
           and exists (select 1 from clinics c where c.id = s.clinic_id)
           and not exists (select 1 from clinic_schedule_configs p where p.clinic_id = s.clinic_id)
         order by s.clinic_id
    ), ins as (
        insert into clinic_schedule_configs (clinic_id, sync_schedules)
        select clinic_id, schedules from src where jsonb_typeof(schedules) = 'array'
        returning 1
    )
    select (select count(*) from ins), (select count(*) from src where jsonb_typeof(schedules) is distinct from 'array')
      into v_copied, v_skipped;
    raise notice 'pims-sync: copied % schedule row(s) from clinic_schedule_config into clinic_schedule_configs%',
        v_copied, case when v_skipped > 0 then format(' (%s row(s) skipped: sync_schedules is not a JSON array)', v_skipped) else '' end;
end;
$$;

-- cases (shared with the whole product) -------------------------------------------------------
-- Fresh: status is text + CHECK in the product's four values and type is nullable text; on the
-- product's database both are its ENUMs and stay so (the SQL functions cast through the row type).
do $$
begin
    if to_regclass('public.cases') is null then
        create table public.cases (
            id           uuid primary key default gen_random_uuid(),
            clinic_id    uuid not null references public.clinics (id) on delete cascade,
            user_id      uuid,
            source       text default 'pims:idexx-neo',
            external_id  text,
            status       text not null default 'draft'
                         check (status in ('draft', 'ongoing', 'completed', 'reviewed')),
            type         text check (type in ('consultation', 'checkup', 'vaccination', 'surgery',
                                              'dental', 'emergency', 'follow_up', 'grooming', 'other')),
            scheduled_at timestamptz,
            metadata     jsonb not null default '{}'::jsonb,
            visibility   text,
            created_at   timestamptz not null default now(),
            updated_at   timestamptz not null default now()
        );
        alter table public.cases enable row level security;
    end if;
end;
$$;
alter table cases add column if not exists source text;
alter table cases add column if not exists external_id text;
alter table cases add column if not exists scheduled_at timestamptz;
alter table cases add column if not exists metadata jsonb default '{}'::jsonb;
alter table cases add column if not exists pims_status text;  -- the PIMS's own (normalised) status
alter table cases add column if not exists pims_type text;    -- our CASE_TYPES value
alter table cases add column if not exists sync_status text;  -- the status the sync last wrote
alter table cases add column if not exists ends_at timestamptz;
alter table cases add column if not exists patient_name text;
alter table cases add column if not exists patient_external_id text;
alter table cases add column if not exists species text;
alter table cases add column if not exists client_name text;
alter table cases add column if not exists client_external_id text;
alter table cases add column if not exists client_email text;
alter table cases add column if not exists client_phone text;
alter table cases add column if not exists client_phone_e164 text;
alter table cases add column if not exists provider_name text;
alter table cases add column if not exists room text;
alter table cases add column if not exists consultation_external_id text;
alter table cases add column if not exists enriched_at timestamptz;
alter table cases add column if not exists deleted_at timestamptz;
alter table cases add column if not exists created_at timestamptz not null default now();
alter table cases add column if not exists updated_at timestamptz not null default now();
create or replace trigger pims_sync_updated_at before update on cases
    for each row execute function pims_sync.set_updated_at();
-- cases' indexes (the unique key included) are built CONCURRENTLY by 20261201000007.

-- case_sync_audits: exactly the product's columns and values. pims-sync writes it only through
-- the mirror trigger on pims_sync_runs (20261201000003). --------------------------------------
do $$
begin
    if to_regclass('public.case_sync_audits') is null then
        create table public.case_sync_audits (
            id                  uuid primary key default gen_random_uuid(),
            clinic_id           uuid not null references public.clinics (id) on delete cascade,
            sync_type           text not null check (sync_type in ('inbound', 'cases', 'reconciliation')),
            status              text not null check (status in ('in_progress', 'completed', 'failed')),
            error_message       text,
            appointments_found  integer not null default 0 check (appointments_found >= 0),
            cases_created       integer not null default 0 check (cases_created >= 0),
            cases_updated       integer not null default 0 check (cases_updated >= 0),
            cases_skipped       integer not null default 0 check (cases_skipped >= 0),
            cases_deleted       integer not null default 0 check (cases_deleted >= 0),
            total_items         integer not null default 0,
            processed_items     integer not null default 0,
            progress_percentage integer not null default 0,
            created_at          timestamptz not null default now(),
            updated_at          timestamptz not null default now()
        );
        create index case_sync_audits_clinic_created_idx on public.case_sync_audits (clinic_id, created_at desc);
        alter table public.case_sync_audits enable row level security;
    end if;
end;
$$;
-- the product's later progress migration, for a database that predates it
alter table case_sync_audits add column if not exists total_items integer not null default 0;
alter table case_sync_audits add column if not exists processed_items integer not null default 0;
alter table case_sync_audits add column if not exists progress_percentage integer not null default 0;
