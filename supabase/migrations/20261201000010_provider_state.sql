-- What pims-sync keeps between syncs about a clinic's PIMS, for providers other than IDEXX Neo
-- (pims_sync/store/_provider_state.py). One row per clinic and provider:
-- * the incremental watermark of providers that declare supports_incremental
--   (pims_sync/providers/registry.py): the start of the last successful inbound fetch
--   (modified_since) and the window it read (covered_start, covered_end). A later inbound run
--   whose window lies inside that one asks the PIMS only for appointments modified since then;
--   any other window is read in full. Written only when an inbound phase succeeded.
-- * what the PIMS reported about the site (site_timezone: ezyVet's /v3/siteInformation), so
--   `pims-sync clinics show` compares it with clinics.timezone without calling the PIMS.
-- New on every database: RLS on at creation.
create table if not exists pims_sync_provider_state (
    clinic_id        uuid not null references clinics (id) on delete cascade,
    provider         text not null check (provider ~ '^[a-z][a-z0-9-]{0,39}$'),
    modified_since   timestamptz,
    covered_start    timestamptz,
    covered_end      timestamptz,
    site_timezone    text check (site_timezone is null or length(site_timezone) <= 64),
    site_checked_at  timestamptz,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    primary key (clinic_id, provider),
    check ((covered_start is null) = (covered_end is null) and (covered_start is null) = (modified_since is null))
);
alter table pims_sync_provider_state enable row level security;
create or replace trigger pims_sync_updated_at before update on pims_sync_provider_state
    for each row execute function pims_sync.set_updated_at();
