"""ClinicScheduler: Celery beat entries from clinic_schedule_configs, one active beat at a time.

Run it with ``celery -A workers.app beat -S workers.beat:ClinicScheduler`` (or ``pims-sync beat``).

* Entries are ``clinic:<id>:<type>``, one per enabled schedule of an active clinic, each a
  :class:`ClinicCronSchedule` on the clinic's wall clock.
* Edits arrive through LISTEN (checked without blocking every tick, ticks are at most
  ``LIVE_RELOAD_S`` apart) and through a poll for changed rows every SCHEDULE_POLL_SECONDS.
  Only changed clinics are rebuilt, with NEW Entry objects (Celery does not see in-place
  edits); unchanged entries keep their last_run_at.
* One beat dispatches: the others wait on a Redis lock and take over within BEAT_LOCK_TTL_S.
  A beat that loses the lock drops its entries and waits again instead of exiting.
* last_run_at is kept in Redis, so a restarted or standby beat runs a slot missed within
  SCHEDULE_GRACE_SECONDS once and skips (and logs) older misses.
* ENABLE_SCHEDULER=false turns the clinic schedules off, not housekeeping: such a beat runs
  only the static entries (the stale-audit sweep, celeryconfig.beat_schedule), without the lock.

The heap (workers/beat/heap.py) differs from Celery's in one way: a reload pushes the new
entries and leaves the replaced ones to be dropped lazily when they reach the top, instead
of rebuilding the whole heap (and comparing every entry each tick) — that keeps ticks and
one-clinic reloads cheap with thousands of clinics. Decisions live in workers/beat/entries.py.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import psycopg
import redis
from celery.beat import Scheduler

from pims_sync import metrics
from pims_sync.config import Settings, get_settings
from pims_sync.errors import NotFound, PimsSyncError
from pims_sync.models import ScheduleConfigRow
from pims_sync.store import open_store

from ..enqueue import InFlight, sync_refusal
from .dispatch import dispatch_slot
from .entries import initial_last_run, is_clinic_entry, needs_rebuild, plan_clinic, specs_for_row
from .heap import LazyHeapMixin
from .listen import ConfigListener
from .lock import BeatLock
from .schedule import ClinicCronSchedule

__all__ = ["ClinicScheduler", "ClinicCronSchedule"]

log = logging.getLogger("workers.beat")
LAST_RUN_KEY = "pims:beat:last_run"
PLACEHOLDER_TASK = "pims_sync.beat.clinic_sync"  # never sent: apply_entry enqueues the phase chain
LIVE_RELOAD_S = 2.0
FULL_RESYNC_S = 3600.0  # also catches deleted configs whose NOTIFY was missed
POLL_OVERLAP = timedelta(seconds=60)  # rows committed late carry an older updated_at
MAX_NOTIFIED_ONE_BY_ONE = 50


class ClinicScheduler(LazyHeapMixin, Scheduler):
    def __init__(
        self,
        app,
        *args,
        settings: Settings | None = None,
        store=None,
        redis_client=None,
        nowfun=None,
        lock_key: str | None = None,
        **kwargs,
    ):
        self._settings = settings
        self._store = store
        self._redis = redis_client
        self._nowfun = nowfun
        self._lock_key = lock_key
        self._lock: BeatLock | None = None
        self._listener: ConfigListener | None = None
        self._inflight: InFlight | None = None
        self._specs: dict = {}  # entry name -> ScheduleEntrySpec
        self._clinics: dict[str, set[str]] = {}  # clinic id -> entry names
        self._versions: dict[str, int] = {}
        self._watermark: datetime | None = None
        self._leading = False
        self._renew_at = 0.0
        self._next_poll = self._next_full = 0.0
        self._standby_logged = False
        self.enabled = True
        super().__init__(app, *args, **kwargs)
        self.max_interval = min(self.max_interval, LIVE_RELOAD_S)

    # --- wiring (lazy: `celery beat` also builds a lazy instance just to print its banner) -----

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = get_settings()
        return self._settings

    @property
    def store(self):
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    @property
    def redis(self) -> redis.Redis:
        if self._redis is None:
            self._redis = redis.Redis.from_url(self.settings.redis_url or self.settings.broker_url)
        return self._redis

    @property
    def lock(self) -> BeatLock:
        if self._lock is None:
            kw = {"key": self._lock_key} if self._lock_key else {}
            self._lock = BeatLock(self.redis, ttl_s=self.settings.beat_lock_ttl_s, **kw)
        return self._lock

    def now(self) -> datetime:
        return self._nowfun() if self._nowfun else datetime.now(UTC)

    def setup_schedule(self) -> None:
        self.data = {}
        s = self.settings
        self.enabled = s.enable_scheduler
        self.merge_inplace(self.app.conf.beat_schedule or {})  # static entries: housekeeping
        if not self.enabled:
            log.warning(
                "beat: ENABLE_SCHEDULER=false: no clinic schedules are loaded or dispatched; housekeeping "
                "(%s) still runs", ", ".join(sorted(self.schedule)) or "none")
            return
        self._inflight = InFlight(self.redis)
        if s.database_url:
            self._listener = ConfigListener(s.database_url)
        else:
            log.warning(
                "beat: no DATABASE_URL (Supabase REST): polling for schedule changes every %ss, "
                "LISTEN needs a direct Postgres connection",
                s.schedule_poll_seconds,
            )
        log.info(
            "beat: clinic schedules: poll %ss, grace %ss, lock TTL %ss",
            s.schedule_poll_seconds,
            s.schedule_grace_seconds,
            s.beat_lock_ttl_s,
        )

    @property
    def info(self) -> str:
        return "    . clinic schedules from the database (ClinicScheduler)"

    # --- the loop ---------------------------------------------------------------------------

    def tick(self, *args, **kwargs) -> float:
        if not self.enabled:
            # housekeeping only: no lock (every such beat may sweep; the sweep is idempotent), so
            # a beat without clinic schedules can never hold the lock a scheduling beat needs
            return self._tick_heap()
        standby_s = min(2.0, max(0.2, self.settings.beat_lock_ttl_s / 10))
        try:
            if not self._lead():
                return standby_s
            self._refresh()
        except (redis.RedisError, psycopg.Error, PimsSyncError) as e:
            log.error("beat: %s: %s; retrying in %.1fs", e.__class__.__name__, e, standby_s)
            if isinstance(e, redis.RedisError) and self._leading:
                self._step_down("Redis is unreachable, so the lock cannot be renewed")
            return standby_s
        delay = self._tick_heap()
        return max(0.0, min(delay, self._renew_at - time.monotonic()))

    def _lead(self) -> bool:
        now = time.monotonic()
        ttl = self.settings.beat_lock_ttl_s
        if self._leading:
            if now < self._renew_at:
                return True
            if self.lock.renew():
                self._renew_at = now + ttl / 3
                return True
            if self.lock.acquire():  # it expired while this beat was paused, and no standby took it
                log.warning("beat: the scheduler lock had expired (a tick ran past its %ss TTL); "
                            "re-taken, still dispatching", ttl)
                self._renew_at = now + ttl / 3
                return True
            self._step_down(f"lost the scheduler lock (now held by {self.lock.holder() or 'nobody'})")
            return False
        if self.lock.acquire() or self.lock.holder() == self.lock.token:
            log.info("beat: holding the scheduler lock as %s: dispatching", self.lock.token)
            self._leading, self._renew_at, self._standby_logged = True, now + ttl / 3, False
            self.reload_all()
            return True
        if not self._standby_logged:
            log.info(
                "beat: standby: the scheduler lock is held by %s; waiting to take over", self.lock.holder()
            )
            self._standby_logged = True
        return False

    def _step_down(self, why: str) -> None:
        log.error("beat: %s: stopped dispatching, waiting for the lock again", why)
        self._leading = False
        self._forget()
        if self._listener is not None:
            self._listener.close()

    def _forget(self) -> None:
        for name in list(self.schedule):
            if is_clinic_entry(name):
                del self.schedule[name]
        self._specs.clear()
        self._clinics.clear()
        self._versions.clear()
        self._watermark = None
        self._heap = None

    def _refresh(self) -> None:
        ids = self._listener.drain() if self._listener is not None else set()
        now = time.monotonic()
        if ids is None or now >= self._next_poll:
            self.poll_changed()
        elif ids:
            self.reload_clinics(ids)
        if now >= self._next_full:
            self._apply_full(self.store.list_schedule_configs())

    # --- reloads ----------------------------------------------------------------------------

    def reload_all(self) -> int:
        """Forget every clinic entry and build them all again from the database."""
        self._forget()
        return self._apply_full(self.store.list_schedule_configs())

    def poll_changed(self) -> int:
        since = self._watermark - POLL_OVERLAP if self._watermark else None
        changed = self._apply_rows(
            {r.clinic_id: r for r in self.store.list_schedule_configs(changed_since=since)}
        )
        self._next_poll = time.monotonic() + self.settings.schedule_poll_seconds
        return changed

    def reload_clinics(self, clinic_ids) -> int:
        """Rebuild the notified clinics (a flood of notifications becomes one poll)."""
        if len(clinic_ids) > MAX_NOTIFIED_ONE_BY_ONE:
            return self.poll_changed()
        rows: dict[str, ScheduleConfigRow | None] = {}
        for cid in clinic_ids:
            try:
                rows[cid] = self.store.get_schedule_config(cid)
            except NotFound:
                rows[cid] = None
        return self._apply_rows(rows)

    def _apply_full(self, found: list[ScheduleConfigRow]) -> int:
        rows: dict[str, ScheduleConfigRow | None] = {r.clinic_id: r for r in found}
        for cid in set(self._versions) - set(rows):
            rows[cid] = None
        self._next_full = time.monotonic() + FULL_RESYNC_S
        self._next_poll = time.monotonic() + self.settings.schedule_poll_seconds
        return self._apply_rows(rows)

    def _apply_rows(self, rows: dict[str, ScheduleConfigRow | None]) -> int:
        """Rebuild the clinics whose version changed; returns how many were rebuilt."""
        changed = {cid: r for cid, r in rows.items() if needs_rebuild(self._versions.get(cid), r)}
        if not changed:
            return 0
        now = self.now()
        plans = {}
        for cid, row in changed.items():
            specs, problems = specs_for_row(row) if row is not None else ([], [])
            for problem in problems:
                log.warning("beat: skipping a schedule entry: %s", problem)
            old = {n: self._specs[n] for n in self._clinics.get(cid, ())}
            plans[cid] = (row, old, plan_clinic(old, specs))
        fresh = [s.name for _, _, p in plans.values() for s in p.fresh]
        stored_raw = self.redis.hmget(LAST_RUN_KEY, fresh) if fresh else []
        stored = {n: _parse_time(v) for n, v in zip(fresh, stored_raw, strict=True)}
        writes: dict[str, str] = {}
        removed: list[str] = []
        for cid, (row, old, plan) in plans.items():
            for name in plan.remove:
                self.schedule.pop(name, None)
                self._specs.pop(name, None)
                removed.append(name)
            for spec in plan.keep:
                prior = self.schedule[spec.name]
                self._install(spec, prior.last_run_at, prior.total_run_count)
            for spec in plan.fresh:
                last = self._first_last_run(spec, now, edited=spec.name in old, stored=stored.get(spec.name))
                if last != stored.get(spec.name):
                    writes[spec.name] = last.isoformat()
                self._install(spec, last)
            names = {s.name for s in (*plan.keep, *plan.fresh)}
            if row is None:
                self._clinics.pop(cid, None)
                self._versions.pop(cid, None)
                log.info(
                    "beat: clinic %s has no schedule config any more: %d entries removed",
                    cid,
                    len(plan.remove),
                )
                continue
            self._clinics[cid] = names
            self._versions[cid] = row.version
            if self._watermark is None or row.updated_at > self._watermark:
                self._watermark = row.updated_at
        pipe = self.redis.pipeline(transaction=False)
        if writes:
            pipe.hset(LAST_RUN_KEY, mapping=writes)
        if removed:
            pipe.hdel(LAST_RUN_KEY, *removed)
        pipe.execute()
        if len(changed) <= 5:
            log.info(
                "beat: reloaded clinic(s) %s: %d entries in all", ", ".join(sorted(changed)), len(self._specs)
            )
        else:
            log.info("beat: reloaded %d clinics: %d entries in all", len(changed), len(self._specs))
        return len(changed)

    def _first_last_run(self, spec, now: datetime, *, edited: bool, stored: datetime | None) -> datetime:
        if edited:  # a changed cron starts from the edit: no catch-up on a schedule that just began
            return now
        sched = self._schedule_for(spec)
        prev, nxt = sched.bounds(now)
        last, skipped = initial_last_run(stored=stored, now=now, prev_slot=prev, grace_s=sched.grace_s)
        if skipped is not None:
            metrics.BEAT_MISSED_SLOTS.inc()
            log.warning(
                "beat: %s missed its %s slot by more than the %ss grace window: skipped; next run %s",
                spec.name,
                skipped.isoformat(),
                sched.grace_s,
                nxt.isoformat(),
            )
        return last

    def _schedule_for(self, spec) -> ClinicCronSchedule:
        return ClinicCronSchedule(
            spec.cron, spec.timezone, self.settings.schedule_grace_seconds, nowfun=self._nowfun, app=self.app
        )

    def _install(self, spec, last_run_at: datetime, total_run_count: int = 0) -> None:
        entry = self.Entry(
            name=spec.name,
            task=PLACEHOLDER_TASK,
            schedule=self._schedule_for(spec),
            kwargs={"clinic_id": spec.clinic_id, "schedule_type": spec.type},
            last_run_at=last_run_at,
            total_run_count=total_run_count,
            app=self.app,
        )
        self.schedule[spec.name] = entry
        self._specs[spec.name] = spec
        if self._heap is not None:
            self._push(entry)

    def apply_entry(self, entry, producer=None) -> None:
        if not is_clinic_entry(entry.name):
            return super().apply_entry(entry, producer=self.producer)
        spec = self._specs.get(entry.name)
        slot = entry.schedule.state(entry.last_run_at).slot
        if spec is None or slot is None:
            return None
        try:
            if self._refused(entry.name, spec.clinic_id, slot):
                self.redis.hset(LAST_RUN_KEY, entry.name, self.now().isoformat())
                return None
            dispatch_slot(
                self.app,
                self.store,
                self._inflight,
                self.redis,
                spec=spec,
                slot=slot,
                inflight_ttl_s=self.settings.inflight_ttl_s,
                dedupe_ttl_s=self.settings.schedule_grace_seconds + 86_400,
                owner=self.lock.token,
            )
            self.redis.hset(LAST_RUN_KEY, entry.name, self.now().isoformat())
        except redis.RedisError as e:
            log.error(
                "beat: %s slot %s not dispatched: Redis error %s", entry.name, slot, e.__class__.__name__
            )
        return None

    def _refused(self, name: str, clinic_id: str, slot: datetime) -> bool:
        """The cut-over gate: a clinic that is inactive, legacy-owned or disabled is skipped, in one log line."""
        try:
            refusal = sync_refusal(self.store.get_clinic(clinic_id))
        except NotFound:
            log.warning("beat: %s slot %s skipped: clinic %s does not exist", name, slot.isoformat(), clinic_id)
            return True
        except PimsSyncError as e:  # the database hiccuped: let the enqueue path decide and report
            log.warning("beat: %s: could not read clinic %s (%s); dispatching anyway", name, clinic_id, e)
            return False
        if refusal is None:
            return False
        log.info("beat: %s slot %s skipped: %s", name, slot.isoformat(), refusal)
        return True

    def sync(self) -> None:
        """Nothing to flush: last runs are written to Redis as they happen."""

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._leading and self._lock is not None:
                try:
                    self._lock.release()
                except redis.RedisError:
                    pass
                self._leading = False
            if self._listener is not None:
                self._listener.close()


def _parse_time(value) -> datetime | None:
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value.decode() if isinstance(value, bytes) else value)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
