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
    parser.add_argument("--days-back", type=int, default=3)
    parser.add_argument("--days-ahead", type=int, default=7)
    parser.add_argument("--quiet", action="store_true", help="no access log")
    a = parser.parse_args()
    sim = EzyvetSimulator(host=a.host, port=a.port, quiet=a.quiet, seed=a.seed, sites=a.sites,
                          appointments_per_day=a.appointments_per_day, latency_ms=a.latency_ms,
                          days_back=a.days_back, days_ahead=a.days_ahead)
    print(json.dumps({"url": sim.url, "sites": sim.sites}), flush=True)
    sim.serve_forever()


if __name__ == "__main__":
    main()
