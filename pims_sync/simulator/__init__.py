"""An IDEXX Neo stand-in: a browser-only login, the internal JSON endpoints, and faults.

``SimulatorServer(seed=42, clinics=2).start()`` embeds one; ``pims-sync simulator`` runs
one; docs/IDEXX_API_ENDPOINTS.md is the contract it keeps.
"""

from .app import create_app
from .data import World
from .server import SimulatorProcess, SimulatorServer

__all__ = ["SimulatorProcess", "SimulatorServer", "World", "create_app"]
