r"""Where a draw spends its time: the draw adapter's phases, timed in-process.

Starts the service of a bench library (built by bench/draw_latency.py, kept in
/tmp/expert-draw-bench/) in this process, runs DRAWS complete draws for one discipline
code (CreateDraw + ExecuteDraw through the adapter, no gRPC), and prints the time per
draw and per phase (wall time spent inside each method, nested phases counted in both).

    PYTHONPATH=. .venv/bin/python bench/draw_phases.py \\
        /tmp/expert-draw-bench/draws-1000000/var A051102 [--draws 30]
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import sys
import time
from pathlib import Path
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from cli.server import start_service
from expert_draw.adapters import audit, draws, experts
from expert_draw.adapters.grpc.draw_servicer import request_from_pb
from expert_draw.api.v1 import draw_service_pb2 as pb
from expert_draw.config import load_settings
from expert_draw.core import drawing, eligibility

sys.path.insert(0, str(Path(__file__).resolve().parent))
from draw_latency import DAY_MS, RESERVES, SEATS, TENDERER

PHASES = {
    draws.Draws: ("create", "execute", "_assess", "_candidates", "_seats", "_lookback",
                  "_commit", "_resolve", "_busy", "_disclose"),
    experts.ExpertLibrary: ("load_candidates",),
    eligibility.Rules: ("assess",),
    audit.AuditLog: ("append",),
}  # fmt: skip
spent: collections.Counter[str] = collections.Counter()


def timed(owner: Any, name: str) -> None:
    """Wrap ``owner.name`` so that its wall time adds up in ``spent``."""
    inner = getattr(owner, name)

    @functools.wraps(inner)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[name] += time.perf_counter() - began

    setattr(owner, name, wrapper)


def stamp(ms: int) -> Timestamp:
    value = Timestamp()
    value.FromMilliseconds(ms)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("var", type=Path)
    parser.add_argument("code")
    parser.add_argument("--draws", type=int, default=30)
    args = parser.parse_args()
    for owner, names in PHASES.items():
        for name in names:
            timed(owner, name)
    timed(drawing, "freeze")
    settings = load_settings(args.var / "expert-draw.toml", listen="127.0.0.1:0",
                             health_listen="127.0.0.1:0")  # fmt: skip
    service = start_service(settings)
    adapter = service.draws
    assert adapter is not None
    who = service.audit.who("dev:trading-01", "trading_system")

    def one(number: int) -> float:
        start = int(time.time() * 1000) + (400 + number) * DAY_MS
        tender = f"PHASES-{number}-{os.getpid()}"
        asked = pb.CreateDrawRequest(
            tender_id=tender, lot_id="1", project_code=tender,
            disciplines=[pb.DisciplineQuota(discipline=f"editions/2018/disciplines/{args.code}",
                                            seats=SEATS, reserves=RESERVES)],
            conflicts=pb.ConflictInputs(tenderer=TENDERER),
            evaluation_start_time=stamp(start), evaluation_end_time=stamp(start + DAY_MS // 2),
            venue_region="120101", request_id=f"c-{tender}",
        )  # fmt: skip
        began = time.perf_counter()
        created = adapter.create(who, request_from_pb(asked, "2018", adapter._cipher),  # noqa: SLF001
                                 f"c-{tender}")  # fmt: skip
        adapter.execute(who, created.draw.draw_id, os.urandom(32), f"x-{tender}")
        return (time.perf_counter() - began) * 1000

    try:
        one(0)  # warm the caches
        spent.clear()
        each = sorted(one(i) for i in range(1, args.draws + 1))
    finally:
        service.stop(0)
    print(f"per draw {sum(each) / len(each):.1f} ms (min {each[0]:.1f}, max {each[-1]:.1f})")
    for name, seconds in spent.most_common():
        print(f"  {name:18s} {seconds / args.draws * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
