"""The per-clinic beat: ``celery -A workers.app beat -S workers.beat:ClinicScheduler``.

One job per module:

* ``scheduler`` — :class:`ClinicScheduler`, Celery's ``Scheduler`` fed from ``clinic_schedule_configs``;
* ``entries`` — pure decisions: which entries a clinic row yields, which are due, what to rebuild;
* ``schedule`` — :class:`ClinicCronSchedule`, a cron on the clinic's wall clock;
* ``dispatch`` — turns a due slot into an enqueued phase chain (or a logged skip);
* ``heap`` — the lazily pruned heap that keeps ticks cheap with thousands of clinics;
* ``listen`` — LISTEN/NOTIFY on schedule edits, without blocking a tick;
* ``lock`` — the Redis lock that keeps one beat dispatching.
"""

from .scheduler import LAST_RUN_KEY, ClinicCronSchedule, ClinicScheduler

__all__ = ["LAST_RUN_KEY", "ClinicCronSchedule", "ClinicScheduler"]
