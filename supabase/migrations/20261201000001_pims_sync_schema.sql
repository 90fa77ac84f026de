-- pims-sync's own schema: the migration ledger (pims_sync.schema_migrations, created by the
-- runner) and helper functions that are ours alone. Keeping them out of `public` means nothing
-- here can collide with a function or table the product already has.
-- Adoption rule for every file: create if missing, add if missing; never drop, rename or
-- rewrite what the product owns, never enable RLS or change policies on an existing table.

create schema if not exists pims_sync;
-- upsert_cases & co. (in public, called by whatever role the store uses: Supabase's service_role,
-- or a dedicated login role) call the helpers below; what may only be run by the migration's
-- owner (merging duplicates) has its EXECUTE revoked where it is defined.
grant usage on schema pims_sync to public;

-- updated_at on every real write (an upsert that changes nothing never fires it: no UPDATE).
create or replace function pims_sync.set_updated_at() returns trigger
language plpgsql as $$
begin
    new.updated_at := clock_timestamp();
    return new;
end;
$$;

-- The product's case status for a normalised PIMS status: the SQL copy of
-- pims_sync.models.case_status_for (tests/store/test_adoption.py compares the two).
create or replace function pims_sync.case_status_for(p_pims_status text) returns text
language sql immutable as $$
    select case p_pims_status
        when 'scheduled' then 'draft'
        when 'confirmed' then 'draft'
        when 'arrived' then 'ongoing'
        when 'in_progress' then 'ongoing'
        when 'completed' then 'completed'
        when 'cancelled' then 'reviewed'
        when 'no_show' then 'reviewed'
        else 'draft'
    end;
$$;

-- Labels compared the way a person would: 'Follow-up', 'follow_up' and 'FOLLOW UP' match.
create or replace function pims_sync.normalise_label(p_label text) returns text
language sql immutable as $$
    select regexp_replace(lower(coalesce(p_label, '')), '[^a-z0-9]', '', 'g');
$$;

-- Is the case's status still the sync's to set? The sync owns it while it holds the value the
-- sync last wrote; a case adopted from the old service (sync_status unknown) while it is still
-- draft or ongoing, or while it is `reviewed` by the old service's reconciliation (its marker
-- has no "by"; ours always says "by": "pims-sync"). A human's `completed` / `reviewed` wins.
create or replace function pims_sync.status_is_synced(
    p_status text, p_sync_status text, p_metadata jsonb) returns boolean
language sql immutable as $$
    select case
        when p_sync_status is not null then p_status is not distinct from p_sync_status
        else p_status in ('draft', 'ongoing')
             or (p_status = 'reviewed' and jsonb_typeof(p_metadata -> 'reconciliation') = 'object'
                 and not (p_metadata -> 'reconciliation' ? 'by'))
    end;
$$;
