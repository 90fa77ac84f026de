-- Completion webhooks (docs/WEBHOOKS.md): per-clinic endpoints, one delivery per endpoint and
-- sync (its id is the Standard Webhooks `webhook-id`, the same on every attempt), and the log of
-- attempts. The signing secret is sealed with the credentials' cipher and key ids
-- (pims_sync/crypto.py) and never stored in the clear; the delivery rows keep the payload (ids,
-- statuses, counts and error messages, which never carry values) and HTTP status codes, never a
-- receiver's response body. New on every database: RLS on at creation.
create table if not exists pims_sync_webhooks (
    id                   uuid primary key default gen_random_uuid(),
    clinic_id            uuid not null references clinics (id) on delete cascade,
    url                  text not null check (url ~ '^https?://'),
    events               text[] not null default '{sync.completed,sync.failed,sync.partial}'
                         check (events <@ '{sync.completed,sync.failed,sync.partial}'::text[]
                                and cardinality(events) > 0),
    secret_encrypted     bytea not null,
    encryption_key_id    text not null default 'default',
    enabled              boolean not null default true,
    disabled_reason      text,
    consecutive_failures integer not null default 0,
    last_success_at      timestamptz,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now()
);
alter table pims_sync_webhooks enable row level security;
create index if not exists pims_sync_webhooks_clinic on pims_sync_webhooks (clinic_id);
create or replace trigger pims_sync_updated_at before update on pims_sync_webhooks
    for each row execute function pims_sync.set_updated_at();

create table if not exists pims_sync_webhook_deliveries (
    id               uuid primary key default gen_random_uuid(),
    webhook_id       uuid not null references pims_sync_webhooks (id) on delete cascade,
    sync_id          uuid not null,
    event            text not null,
    payload          jsonb not null,
    status           text not null default 'pending'
                     check (status in ('pending', 'delivering', 'delivered', 'failed')),
    attempts         integer not null default 0,
    next_attempt_at  timestamptz not null default now(),  -- also the lease end while delivering
    last_status_code integer,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    unique (webhook_id, sync_id)
);
alter table pims_sync_webhook_deliveries enable row level security;
create index if not exists pims_sync_webhook_deliveries_due on pims_sync_webhook_deliveries (next_attempt_at)
    where status in ('pending', 'delivering');
create or replace trigger pims_sync_updated_at before update on pims_sync_webhook_deliveries
    for each row execute function pims_sync.set_updated_at();

create table if not exists pims_sync_webhook_attempts (
    id           bigint generated always as identity primary key,
    delivery_id  uuid not null references pims_sync_webhook_deliveries (id) on delete cascade,
    attempt      integer not null,
    status_code  integer,          -- null: no HTTP answer (refused, timed out, blocked)
    error        text,             -- our own words (e.g. 'timed out'), never the response body
    latency_ms   integer not null,
    attempted_at timestamptz not null default now()
);
alter table pims_sync_webhook_attempts enable row level security;
create index if not exists pims_sync_webhook_attempts_delivery on pims_sync_webhook_attempts (delivery_id);
