-- clinic_schedule_configs: a version that changes on every edit, and a NOTIFY for the beat scheduler.
-- The scheduler LISTENs on 'clinic_schedule_configs_changed' (payload: the clinic id) when it has a
-- direct connection, and otherwise polls list_schedule_configs(changed_since=...) on updated_at.

create or replace function clinic_schedule_configs_bump() returns trigger
language plpgsql as $$
begin
    if tg_op = 'UPDATE' then
        new.version := old.version + 1;
    end if;
    -- clock_timestamp, not now(): a poller comparing updated_at must not miss an edit made
    -- late in a long transaction
    new.updated_at := clock_timestamp();
    return new;
end;
$$;

create or replace function clinic_schedule_configs_notify() returns trigger
language plpgsql as $$
begin
    perform pg_notify(
        'clinic_schedule_configs_changed',
        (case when tg_op = 'DELETE' then old.clinic_id else new.clinic_id end)::text
    );
    return null;
end;
$$;

create trigger clinic_schedule_configs_bump before insert or update on clinic_schedule_configs
    for each row execute function clinic_schedule_configs_bump();
create trigger clinic_schedule_configs_notify after insert or update or delete on clinic_schedule_configs
    for each row execute function clinic_schedule_configs_notify();

-- a clinic's time zone or active flag is part of what the scheduler evaluates: touching the config
-- row bumps its version and sends the NOTIFY through the triggers above
create or replace function clinics_touch_schedule_config() returns trigger
language plpgsql as $$
begin
    update clinic_schedule_configs set sync_schedules = sync_schedules where clinic_id = new.id;
    return null;
end;
$$;

create trigger clinics_touch_schedule_config after update of timezone, is_active on clinics
    for each row
    when (old.timezone is distinct from new.timezone or old.is_active is distinct from new.is_active)
    execute function clinics_touch_schedule_config();
