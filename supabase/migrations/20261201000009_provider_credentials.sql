-- Credentials of PIMS providers other than IDEXX Neo (whose stay in the product's
-- idexx_credentials). One row per clinic and provider; every field the provider declares
-- (pims_sync/providers/registry.py) is sealed together as one AES-256-GCM JSON object with the
-- same cipher and key ids as idexx_credentials (pims_sync/crypto.py), so a row never shows which
-- fields it holds, let alone their values. New on every database: RLS on at creation.
create table if not exists pims_sync_provider_credentials (
    clinic_id          uuid not null references clinics (id) on delete cascade,
    provider           text not null check (provider ~ '^[a-z][a-z0-9-]{0,39}$' and provider <> 'idexx'
                                            and provider <> 'idexx-neo'),
    fields_encrypted   bytea not null,
    encryption_key_id  text not null default 'default',
    is_active          boolean not null default true,
    validation_status  text,
    last_validated_at  timestamptz,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    primary key (clinic_id, provider)
);
alter table pims_sync_provider_credentials enable row level security;
create or replace trigger pims_sync_updated_at before update on pims_sync_provider_credentials
    for each row execute function pims_sync.set_updated_at();
