"""Rule D8 with a padding longer than the frequency-cap period (found in review): an
expert seated in a draw that ends 30 hours before the next one starts is BUSY_WINDOW
under 48 hours of padding, even though the 1-day cap period does not reach that far."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from expert_draw.api.v1 import draw_service_pb2 as pb
from expert_draw.api.v1 import draw_service_pb2_grpc as pb_grpc
from expert_draw.api.v1 import expert_service_pb2 as expert_pb
from expert_draw.api.v1 import expert_service_pb2_grpc as expert_grpc
from tests.support import experts as sample
from tests.support.databases import new_sqlite_url
from tests.support.service import client_channel, draw_key_files, start

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from cli.server import RunningService
    from tests.support.pki import Pki

HOUR_MS = 3_600_000
POLICY = """version = 1
[region]
venue_prefix_digits = 0
[history]
padding_minutes = 2880
per_expert_max = 3
per_expert_days = 1
per_tenderer_days = 1
"""


@pytest.fixture(scope="module")
def padded(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    folder: Path = tmp_path_factory.mktemp("policy")
    (folder / "policy.toml").write_text(POLICY, encoding="utf-8")
    running = start(pki, new_sqlite_url(tmp_path_factory.mktemp("db")),
                    draws={**draw_key_files(pki), "policy": str(folder / "policy.toml")})  # fmt: skip
    with client_channel(pki, running.port, "admin") as channel:
        admin = expert_grpc.ExpertServiceStub(channel)
        for n in range(300, 320):
            admin.CreateExpert(expert_pb.CreateExpertRequest(
                expert=sample.expert(n, disciplines=["editions/2018/disciplines/A010101"]),
                request_id=f"hist-{n}"), timeout=10)  # fmt: skip
    yield running
    running.stop(grace=0)


def stamp(ms: int) -> Timestamp:
    value = Timestamp()
    value.FromMilliseconds(ms)
    return value


def create(stub: pb_grpc.DrawServiceStub, tag: str, start: int) -> pb.CreateDrawResponse:
    return stub.CreateDraw(pb.CreateDrawRequest(
        tender_id=f"H-{tag}", lot_id="1", project_code=f"HP-{tag}",
        disciplines=[pb.DisciplineQuota(discipline="editions/2018/disciplines/A0101", seats=5)],
        conflicts=pb.ConflictInputs(tenderer=sample.uscc(9500)),
        evaluation_start_time=stamp(start), evaluation_end_time=stamp(start + 6 * HOUR_MS),
        venue_region="120101", request_id=f"hc-{tag}"), timeout=30)  # fmt: skip


def test_seats_within_the_padding_are_busy_beyond_the_cap_period(
    padded: RunningService, pki: Pki
) -> None:
    start = int(time.time() * 1000) + 60 * 24 * HOUR_MS
    with client_channel(pki, padded.port, "trading_system") as channel:
        stub = pb_grpc.DrawServiceStub(channel)
        first = create(stub, "1", start).draw
        done = stub.ExecuteDraw(pb.ExecuteDrawRequest(
            name=first.name, nonce=os.urandom(32), request_id="hx-1"), timeout=30)  # fmt: skip
        assert len(done.panel) == 5
        later = create(stub, "2", start + 36 * HOUR_MS).draw  # 30 h after the first ends
    busy = {c.reason: c.count for c in later.excluded_counts}
    assert busy.get("BUSY_WINDOW") == 5, later.excluded_counts
