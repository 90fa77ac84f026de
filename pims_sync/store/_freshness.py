"""PostgresStore's freshness summary: how many active clinics lack a recent successful sync.

One aggregate query, cheap enough for every Prometheus scrape: metrics carry no clinic ids, so
the alert "a clinic has had no successful sync for N hours" reads these counts, and
``pims-sync status`` names the clinics. Mixed into :class:`~pims_sync.store.postgres.PostgresStore`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._host import PostgresHost

# the ages an operator alerts on; "never" counts active clinics with no completed sync at all
SUCCESS_AGE_THRESHOLDS_H = (1, 6, 24)


class FreshnessQueries(PostgresHost):
    def clinics_by_success_age(self, thresholds_h: Sequence[int] = SUCCESS_AGE_THRESHOLDS_H) -> dict[str, int]:
        """{"1h": n, "6h": n, "24h": n, "never": n}: active clinics whose last success is older."""
        older = ", ".join(
            f"count(*) filter (where last_ok < now() - make_interval(hours => {int(h)})) as \"{int(h)}h\""
            for h in thresholds_h)
        row = self._one(
            "summarise sync freshness",
            f"""select {older}, count(*) filter (where last_ok is null) as never
                  from (select c.id, max(coalesce(r.finished_at, r.created_at))
                                     filter (where r.status = 'completed') as last_ok
                          from clinics c left join pims_sync_runs r on r.clinic_id = c.id and r.parent_id is null
                         where c.is_active group by c.id) per_clinic""",
        )
        return {k: int(v or 0) for k, v in (row or {}).items()}
