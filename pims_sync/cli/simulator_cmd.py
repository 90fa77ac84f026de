"""`pims-sync simulator`: run the IDEXX Neo simulator in the foreground.

Prints the URL and the demo clinics' credentials: they are the simulator's own fake
accounts, which a developer needs to see to log in or seed the demo.
"""

from __future__ import annotations

import click


@click.command("simulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=5080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--seed", default=42, show_default=True, type=int, help="Same seed, same clinics and data.")
@click.option("--clinics", default=3, show_default=True, type=click.IntRange(1, 60))
@click.option("--latency-ms", default=0.0, show_default=True, type=click.FloatRange(0), help="Added to every request.")
@click.option("--jitter-ms", default=0.0, show_default=True, type=click.FloatRange(0), help="Random extra, 0..N ms.")
@click.option("--appointments-per-day", default=None, type=click.IntRange(0, 5000),
              help="Appointments per clinic per day (default: 25-40, seeded per day).")
@click.option("--session-idle-s", default=2 * 3600, show_default=True, type=click.FloatRange(0))
@click.option("--session-max-s", default=12 * 3600, show_default=True, type=click.FloatRange(0))
def command(
    host: str,
    port: int,
    seed: int,
    clinics: int,
    latency_ms: float,
    jitter_ms: float,
    appointments_per_day: int | None,
    session_idle_s: float,
    session_max_s: float,
) -> None:
    """Run the IDEXX Neo simulator (login page, internal endpoints, /__sim/ control API)."""
    from ..simulator import SimulatorServer

    try:
        server = SimulatorServer(host=host, port=port, seed=seed, clinics=clinics, latency_ms=latency_ms,
                                 jitter_ms=jitter_ms, appointments_per_day=appointments_per_day,
                                 session_idle_s=session_idle_s, session_max_s=session_max_s, quiet=False)
    except OSError as e:
        raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    click.echo(f"IDEXX Neo simulator (seed {seed}) listening on {server.url}")
    click.echo(f"Control API: {server.url}/__sim/clinics   Login page: {server.url}/login")
    click.echo("Demo clinics (the simulator's own fake accounts):")
    columns = ("id", "name", "timezone", "company_id", "username", "password")
    rows = [[str(clinic[c]) for c in columns] for clinic in server.clinics]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    for row in [list(columns), ["-" * w for w in widths], *rows]:
        click.echo("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    click.echo("Press Ctrl+C to stop.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
