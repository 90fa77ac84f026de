"""A fake ezyVet REST API for tests, benchmarks and the demo (docs/EZYVET_API.md is its contract).

Deterministic from a seed, like the IDEXX simulator beside it (``pims_sync.simulator``): the
same seed gives the same sites, credentials, appointments, animals, contacts and consults.
"""

from .server import EzyvetSimulator

__all__ = ["EzyvetSimulator"]
