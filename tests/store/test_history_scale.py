"""A clinic's history reads its own runs only, however many runs other clinics have.

The page and the totals behind /api/sync/history and `pims-sync history` are SQL functions.
Written with `p_clinic_id is null or clinic_id = p_clinic_id`, a plan made without the
argument's value (a non-inlined function body, or a prepared statement's generic plan) cannot use
the clinic's index and reads the whole table: the read benchmark slowed run after run as its
enqueues grew the table. The tuples a call read are counted from pg_stat_xact_user_tables, for
this connection's own transaction, so nothing else on the server can move the numbers.
"""

from __future__ import annotations

import secrets

import psycopg
import pytest

OTHER_RUNS = 5000
OWN_RUNS = 3


def tuples_read(conn: psycopg.Connection) -> int:
    row = conn.execute(
        "select coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) from pg_stat_xact_user_tables "
        "where relname = 'pims_sync_runs'").fetchone()
    return int(row[0]) if row else 0


@pytest.fixture
def crowded(database_url, store):
    """A clinic with 3 runs next to another with 5,000; both deleted (runs cascade) afterwards."""
    mine = store.create_clinic(name=f"History Clinic {secrets.token_hex(3)}", timezone="UTC")
    busy = store.create_clinic(name=f"Busy Clinic {secrets.token_hex(3)}", timezone="UTC")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "insert into pims_sync_runs (clinic_id, sync_type, status, trigger, created_at) "
            "select %s, 'inbound', 'completed', 'api', now() - make_interval(secs => g) "
            "from generate_series(1, %s) g", (busy.id, OTHER_RUNS))
        conn.execute(
            "insert into pims_sync_runs (clinic_id, sync_type, status, trigger, created_at) "
            "select %s, 'inbound', 'failed', 'api', now() - make_interval(secs => g) "
            "from generate_series(1, %s) g", (mine.id, OWN_RUNS))
        conn.execute("analyze pims_sync_runs")
    try:
        yield mine.id
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("delete from clinics where id = any(%s)", ([mine.id, busy.id],))


@pytest.mark.parametrize("prepared", [False, True], ids=["first-call", "generic-plan"])
def test_a_clinics_history_reads_only_its_own_runs(database_url, crowded, prepared):
    with psycopg.connect(database_url) as conn:  # one transaction: its own statistics
        # psycopg prepares a statement after 5 runs; PostgreSQL may then switch to a generic plan
        for _ in range(8 if prepared else 1):
            page = conn.execute("select * from sync_history_page(%s, %s, %s, %s, %s)",
                                (crowded, None, 21, None, None), prepare=prepared).fetchall()
            (summary,) = conn.execute("select sync_history_summary(%s, %s)", (crowded, None),
                                      prepare=prepared).fetchone()
        assert len(page) == OWN_RUNS
        assert summary == {"total": OWN_RUNS, "succeeded": 0, "failed": OWN_RUNS}
        read = tuples_read(conn)
        calls = 8 if prepared else 1
        # each call may read this clinic's runs; a scan past the other clinic's would read 5,000
        assert read <= 4 * OWN_RUNS * calls, f"history read {read} rows of pims_sync_runs for {calls} call(s)"


def test_every_clinics_history_and_a_cursor_still_page_newest_first(database_url, crowded):
    with psycopg.connect(database_url, autocommit=True) as conn:
        first = conn.execute("select id, created_at from sync_history_page(%s, null, 2)", (crowded,)).fetchall()
        assert len(first) == 2 and first[0][1] > first[1][1]
        rest = conn.execute("select id from sync_history_page(%s, null, 10, %s, %s)",
                            (crowded, first[1][1], first[1][0])).fetchall()
        assert len(rest) == OWN_RUNS - 2 and rest[0][0] not in {r[0] for r in first}
        everyone = conn.execute("select sync_history_summary(null, 'inbound')").fetchone()[0]
        assert everyone["total"] >= OTHER_RUNS + OWN_RUNS
        newest = conn.execute("select created_at from sync_history_page(null, null, 3)").fetchall()
        assert [r[0] for r in newest] == sorted((r[0] for r in newest), reverse=True)
