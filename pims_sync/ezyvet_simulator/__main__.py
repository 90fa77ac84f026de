"""``python -m pims_sync.ezyvet_simulator --port 8090 --seed 7 --sites 2``"""

from __future__ import annotations

import argparse
import json

from .server import EzyvetSimulator


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m pims_sync.ezyvet_simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sites", type=int, default=2)
    parser.add_argument("--appointments-per-day", type=int, default=6)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    a = parser.parse_args()
    sim = EzyvetSimulator(host=a.host, port=a.port, quiet=False, seed=a.seed, sites=a.sites,
                          appointments_per_day=a.appointments_per_day, latency_ms=a.latency_ms)
    print(json.dumps({"url": sim.url, "sites": sim.sites}), flush=True)
    sim.serve_forever()


if __name__ == "__main__":
    main()
