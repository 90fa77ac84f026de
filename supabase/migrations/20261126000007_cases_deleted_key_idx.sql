-- upsert_cases counts the incoming cases that were soft-deleted (its was_deleted CTE). Without
-- an index that matches "deleted, by key", the planner may probe the (clinic_id, source,
-- scheduled_at) index and filter every case of the clinic for each incoming row: quadratic in
-- a clinic's cases (bench/store.py measured 10,000 upserts at ~500 rows/s, each 500-row chunk
-- slower than the last). This partial index holds only soft-deleted cases, so it is tiny and
-- the lookup is one probe per incoming row whatever the table statistics say.
create index if not exists cases_deleted_key_idx on cases (clinic_id, source, external_id)
    where deleted_at is not null;
