-- Supabase exposes every public table over PostgREST. With RLS on and no policies, the anon and
-- authenticated roles see nothing (credentials, API-key hashes, client data), while the
-- service-role key (BYPASSRLS) and a direct connection as the owning role work as before.
-- A direct DATABASE_URL must therefore use the owner (e.g. postgres) or a BYPASSRLS role.
alter table clinics enable row level security;
alter table pims_credentials enable row level security;
alter table clinic_api_keys enable row level security;
alter table clinic_schedule_configs enable row level security;
alter table cases enable row level security;
alter table case_sync_audits enable row level security;
alter table clinic_schedule_snapshots enable row level security;
