"""Multi-phase progress bars (inbound → cases → reconcile) and the sync summary table.

Both are driven by the sync-status shape the API returns and workers.enqueue.sync_status
builds — `{status, currentPhase, phases: {phase: {status, progress: {processed, total},
stats, error}}, result}` — so the demo (polling the REST API) and `pims-sync sync`
(reading the audit rows) draw the same thing.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..sync.options import PHASES
from .output import status_style

TERMINAL = ("completed", "failed", "partial", "skipped", "aborted", "not_run")
PHASE_LABEL = {"inbound": "inbound", "cases": "cases", "reconcile": "reconcile"}


class SyncProgress:
    """One bar per (sync, phase); call :meth:`update` with each fresh status body."""

    def __init__(self, console: Console, *, phases: tuple[str, ...] = PHASES):
        self.phases = phases
        self.progress = Progress(
            TextColumn("{task.fields[label]:<22}"),
            TextColumn("[bold]{task.fields[phase]:<9}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn("{task.fields[state]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[tuple[str, str], TaskID] = {}

    def __enter__(self) -> SyncProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def add(self, key: str, label: str, phases: tuple[str, ...] | None = None) -> None:
        for phase in phases or self.phases:
            self._tasks[(key, phase)] = self.progress.add_task(
                "", total=None, label=label, phase=PHASE_LABEL.get(phase, phase), state="[dim]waiting"
            )

    def update(self, key: str, status: dict[str, Any]) -> None:
        for phase, view in (status.get("phases") or {}).items():
            task = self._tasks.get((key, phase))
            if task is None:
                continue
            prog = view.get("progress") or {}
            total = prog.get("total") or 0
            processed = prog.get("processed") or 0
            state = view.get("status") or "queued"
            if state == "completed" and not total:
                total = processed = max(processed, 1)  # a phase with nothing to do is still done
            text = f"[{status_style(state)}]{state}"
            if view.get("error") and state in ("failed", "aborted", "partial"):
                text += f" [dim]({_short(view['error'])})"
            self.progress.update(task, total=total or None, completed=processed, state=text)

    def fail(self, key: str, message: str) -> None:
        for (k, _phase), task in self._tasks.items():
            if k == key:
                self.progress.update(task, state=f"[red]{_short(message)}")


def _short(text: str, n: int = 48) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def summary_numbers(status: dict[str, Any]) -> dict[str, Any]:
    """The numbers an operator wants after a sync, from phases' stats (or the result body)."""
    phases = status.get("phases") or {}
    result = status.get("result") or {}

    def stats(phase: str, result_key: str) -> dict[str, Any]:
        got = (phases.get(phase) or {}).get("stats") or {}
        return got or ((result.get(result_key) or {}).get("stats") or {})

    inbound = stats("inbound", "inboundResult")
    cases = stats("cases", "casesResult")
    recon = stats("reconcile", "reconciliationResult")
    return {
        "status": status.get("status"),
        "appointments": inbound.get("appointmentsFound", 0),
        "created": inbound.get("casesCreated", 0),
        "updated": inbound.get("casesUpdated", 0),
        "enriched": cases.get("casesEnriched", 0),
        "deleted": recon.get("casesDeleted", 0),
        "durationMs": status.get("durationMs") or result.get("durationMs"),
        "errors": [e.get("message") for e in status.get("errors") or result.get("errors") or []],
    }


def summary_table(rows: list[tuple[str, dict[str, Any]]], *, title: str = "Sync summary") -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("clinic")
    table.add_column("status")
    for col in ("appointments", "created", "updated", "enriched", "deleted"):
        table.add_column(col, justify="right")
    table.add_column("duration", justify="right")
    for label, n in rows:
        ms = n.get("durationMs")
        table.add_row(
            label,
            f"[{status_style(n.get('status'))}]{n.get('status')}",
            *(str(n.get(c, 0)) for c in ("appointments", "created", "updated", "enriched", "deleted")),
            f"{ms / 1000:.1f}s" if isinstance(ms, int | float) else "-",
        )
    return table
