"""A test-only task that kills its worker process on every delivery (loaded with --include)."""

from __future__ import annotations

import os
import signal

from celery import shared_task

from workers.phase_task import SyncRef, run_delivery

POISON_TASK = "tests.workers.poison"


@shared_task(bind=True, name=POISON_TASK)
def poison(self, *, clinic_id: str, sync_id: str, audit_id: str, options: dict | None = None,
           trigger: str = "api") -> dict:
    ref = SyncRef(clinic_id=clinic_id, sync_id=sync_id, audit_id=audit_id, phase="inbound")

    def body(rt, lock) -> dict:
        rt.store.start_audit(audit_id, task_id=self.request.id)
        os.kill(os.getpid(), signal.SIGKILL)  # what an OOM kill or a segfault looks like
        return {}

    return run_delivery(self, ref, body)
