"""Case enrichment: consultation details (SOAP notes, vitals, diagnoses) onto cases."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from datetime import datetime

from ..errors import AuthenticationFailed, CredentialError, PimsSyncError, ProviderError
from ..models import CaseRef, Clinic, DateWindow
from ..providers.base import PimsProvider
from ..store.base import Store

log = logging.getLogger(__name__)
ProgressFn = Callable[[int, int, dict], None]
MAX_ERRORS_KEPT = 5
# failures that will hit every remaining item too: stop the phase instead of hammering the PIMS
_FATAL = (AuthenticationFailed, CredentialError)


class CaseEnrichment:
    """Fetch details for the window's cases that lack (or have stale) consultation data."""

    def __init__(self, store: Store, provider: PimsProvider, clinic: Clinic):
        self.store = store
        self.provider = provider
        self.clinic = clinic

    def run(
        self,
        window: DateWindow,
        *,
        parallel_batch_size: int = 5,
        stale_before: datetime | None = None,
        on_progress: ProgressFn | None = None,
    ) -> dict:
        refs = [
            r
            for r in self.store.cases_needing_enrichment(
                self.clinic.id, window.start_utc, window.end_utc, stale_before=stale_before
            )
            if r.consultation_external_id
        ]
        stats = {"casesFound": len(refs), "casesEnriched": 0, "casesSkipped": 0, "failed": 0}
        errors: list[str] = []
        lock = threading.Lock()
        done = 0
        if on_progress:
            on_progress(0, len(refs), dict(stats))

        def enrich(ref: CaseRef) -> None:
            nonlocal done
            outcome = "failed"
            try:
                consultation = self.provider.consultation(ref.consultation_external_id)
                changed = self.store.save_enrichment(self.clinic.id, ref.id, consultation.to_metadata())
                outcome = "casesEnriched" if changed else "casesSkipped"
            except _FATAL:
                raise
            except (ProviderError, PimsSyncError) as e:  # one bad consultation does not sink the batch
                with lock:
                    if len(errors) < MAX_ERRORS_KEPT:
                        errors.append(f"consultation {ref.consultation_external_id}: {e}")
                log.warning("enrichment failed for case %s: %s", ref.id, e.__class__.__name__)
            finally:
                with lock:
                    stats[outcome] += 1
                    done += 1
                    snapshot = dict(stats), done
                if on_progress:
                    on_progress(snapshot[1], len(refs), snapshot[0])

        if refs:
            workers = max(1, min(parallel_batch_size, len(refs)))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="enrich") as pool:
                futures = [pool.submit(enrich, r) for r in refs]
                finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
                fatal = next((f.exception() for f in finished if f.exception()), None)
                if fatal is not None:
                    for f in futures:
                        f.cancel()
                    raise fatal
        if errors:
            stats["errors"] = errors
        return stats
