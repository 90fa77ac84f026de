"""Case enrichment: consultation details (notes, vitals, diagnoses, products) onto cases.

Two sources per consultation, because IDEXX splits them: the detail (``provider.consultation``:
notes, discharge summary, products, declined products) and the search row
(``provider.consultations``: vitals, diagnoses, appointment id, consulting vet). The search is
read once for the window; when it fails (it is the legacy endpoint) the phase goes on with the
details alone and records a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from datetime import datetime

from ..errors import AuthenticationFailed, CredentialError, PimsSyncError, PimsUnavailable, ProviderError
from ..models import CaseRef, Clinic, Consultation, ConsultationSummary, DateWindow, JsonObject
from ..providers.base import PimsProvider
from ..store.base import Store

log = logging.getLogger(__name__)
ProgressFn = Callable[[int, int, JsonObject], None]
MAX_ERRORS_KEPT = 5
# failures that will hit every remaining item too: stop the phase instead of hammering the PIMS
_FATAL = (AuthenticationFailed, CredentialError)
# ...and, for the detail calls, a PIMS that stayed unavailable through the client's retries
# (5xx, HTML instead of JSON on a fresh session): the next consultation would meet the same
# outage, so the phase fails now, with the cause, instead of asking once per consultation
_FATAL_ITEM = (*_FATAL, PimsUnavailable)


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
    ) -> JsonObject:
        refs = [
            r
            for r in self.store.cases_needing_enrichment(
                self.clinic.id, window.start_utc, window.end_utc, stale_before=stale_before
            )
            if r.consultation_external_id
        ]
        stats: JsonObject = {"casesFound": len(refs), "casesEnriched": 0, "casesSkipped": 0, "failed": 0}
        errors: list[str] = []
        if on_progress:
            on_progress(0, len(refs), dict(stats))
        if not refs:
            return stats

        summaries = self._search(window, stats)

        # The pool only fetches; this thread writes the results. A write on the fetch threads
        # would sit on every detail round's critical path (bench/full_sync.py: a quarter of the
        # threads' time went to the store), while here it overlaps the fetches. The details that
        # finished together are saved together: one statement and one commit for the lot
        # (a commit waits for the WAL flush, ~5 ms each when saved one by one).
        def fetch(ref: CaseRef) -> JsonObject:
            assert ref.consultation_external_id is not None  # refs without one were left out above
            detail = self.provider.consultation(ref.consultation_external_id)
            return with_search_row(detail, summaries.get(detail.id)).to_metadata()

        def failed(ref: CaseRef, e: Exception) -> None:
            if len(errors) < MAX_ERRORS_KEPT:
                errors.append(f"consultation {ref.consultation_external_id}: {e}")
            log.warning("enrichment failed for case %s: %s", ref.id, e.__class__.__name__)

        done = 0

        def count(outcome: str) -> None:
            nonlocal done
            done += 1
            stats[outcome] += 1
            if on_progress:
                on_progress(done, len(refs), dict(stats))

        def save(fetched: list[tuple[CaseRef, JsonObject]]) -> None:
            """Save a round's details: one call; one by one when that call fails (it is all or nothing)."""
            if len(fetched) > 1:
                try:
                    changed = self.store.save_enrichments(self.clinic.id, [(r.id, m) for r, m in fetched])
                except _FATAL_ITEM:
                    raise
                except PimsSyncError:  # e.g. a case gone meanwhile: find out which, save the others
                    log.info("batch of %d enrichments failed; saving them one by one", len(fetched))
                else:
                    for flag in changed:
                        count("casesEnriched" if flag else "casesSkipped")
                    return
            for ref, metadata in fetched:
                outcome = "failed"
                try:
                    outcome = "casesEnriched" if self.store.save_enrichment(self.clinic.id, ref.id, metadata) else "casesSkipped"
                except _FATAL_ITEM:
                    raise
                except PimsSyncError as e:  # one bad consultation does not sink the batch
                    failed(ref, e)
                finally:
                    count(outcome)

        workers = max(1, min(parallel_batch_size, len(refs)))
        queue = iter(refs)
        # a window of at most `workers` fetches in flight, refilled as each one ends: the pool
        # stays busy, and after a fatal error nothing new starts, however busy this thread is
        in_flight: dict[Future[JsonObject], CaseRef] = {}
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="enrich") as pool:

            def start_next() -> None:
                ref = next(queue, None)
                if ref is not None:
                    in_flight[pool.submit(fetch, ref)] = ref

            for _ in range(workers):
                start_next()
            try:
                while in_flight:
                    finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    fetched: list[tuple[CaseRef, JsonObject]] = []
                    fatal: BaseException | None = None
                    for future in finished:
                        ref = in_flight.pop(future)
                        try:
                            fetched.append((ref, future.result()))
                        except _FATAL_ITEM as e:
                            fatal = e
                            break
                        except PimsSyncError as e:  # one bad consultation does not sink the batch
                            failed(ref, e)
                            count("failed")
                    if fatal is not None:
                        save(fetched)  # what did arrive is kept; nothing new starts
                        raise fatal
                    # refill the window first: the next fetches run while this thread saves
                    for _ in finished:
                        start_next()
                    save(fetched)
            except BaseException:  # a fatal error (or a bug): start nothing more, let the caller know
                for f in in_flight:
                    f.cancel()
                raise
        if errors:
            stats["errors"] = errors
        return stats

    def _search(self, window: DateWindow, stats: JsonObject) -> dict[str, ConsultationSummary]:
        """The window's search rows by consultation id; {} (and a warning) when the search fails."""
        try:
            rows = self.provider.consultations(window.start_utc, window.end_utc)
        except _FATAL:
            raise
        except ProviderError as e:
            stats.setdefault("warnings", []).append(
                f"consultation search unavailable ({e}); vitals and diagnoses not updated"
            )
            log.warning("consultation search failed for clinic %s: %s", self.clinic.id, e.__class__.__name__)
            return {}
        return {r.id: r for r in rows}


def with_search_row(detail: Consultation, row: ConsultationSummary | None) -> Consultation:
    """The detail completed from its search row.

    Vitals and diagnoses: the search row's when it has them (page-data has neither; the older
    view's own are the fallback). Ids and names: the detail's, else the row's. Notes, discharge
    summary and products always come from the detail.
    """
    if row is None:
        return detail
    return replace(
        detail,
        appointment_id=detail.appointment_id or row.appointment_id,
        patient_name=detail.patient_name or row.patient_name,
        client_name=detail.client_name or row.client_name,
        provider_id=detail.provider_id or row.provider_id,
        provider_name=detail.provider_name or row.provider_name,
        vitals=row.vitals or detail.vitals,
        diagnoses=row.diagnoses or detail.diagnoses,
    )
