"""`stats openings` and `verify replay` (draw-v1.md §15) against a dev service.

An operator suspends an expert an instant before a draw that concerns them: the replay
lists the change (CHANGED_BEFORE, E6) and still passes, since the pool was built by the
rules. Openings that do not match the log (altered inputs, a member left out, a draw
still in progress) fail.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from audit_log import canonical
from expert_draw.api.v1 import draw_service_pb2 as pb
from expert_draw.api.v1 import draw_service_pb2_grpc as pb_grpc
from expert_draw.api.v1 import expert_service_pb2 as expert_pb
from expert_draw.api.v1 import expert_service_pb2_grpc as expert_grpc
from tests.integration.cli.conftest import client_args, run
from tests.integration.cli.test_draws_cli import DAY_MS, channel, stamp
from tests.support.experts import resident_id

if TYPE_CHECKING:
    from cli.server import RunningService

ROOT = Path(__file__).resolve().parents[3]
CODE = "A020101"  # 公路: no other test draws it
TENDERER = "91120000MA9999999K"


def _csv(path: Path) -> None:
    """Twenty-four experts of CODE; the last one born in 1940 (over the age cap: E3)."""
    lines = (ROOT / "docs/samples/experts-demo.csv").read_text(encoding="utf-8").splitlines()
    template = lines[1].split(",")
    rows = [lines[0]]
    for n in range(24):
        row = list(template)
        row[0] = f"路{'甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥东西'[n]}"
        row[1] = resident_id(600 + n, birth="19400101" if n == 23 else "19750312",
                             region="120101")  # fmt: skip
        row[2] = f"1390000{n:04d}"
        row[9] = CODE
        rows.append(",".join(row))
    path.write_text("".join(f"{r}\n" for r in rows), encoding="utf-8")


def _create(requester: pb_grpc.DrawServiceStub, lot: str, day: int) -> str:
    start = int(time.time() * 1000) + day * DAY_MS
    return str(requester.CreateDraw(pb.CreateDrawRequest(
        tender_id="RPL-T", lot_id=lot, project_code="RPL-P",
        disciplines=[pb.DisciplineQuota(discipline="editions/2018/disciplines/A0201",
                                        seats=5, reserves=1)],
        conflicts=pb.ConflictInputs(tenderer=TENDERER),
        evaluation_start_time=stamp(start), evaluation_end_time=stamp(start + DAY_MS // 3),
        venue_region="120101", request_id=f"rpl-create-{lot}",
    ), timeout=30).draw.name)  # fmt: skip


@pytest.fixture(scope="module")
def replayed(
    dev_service: tuple[RunningService, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """A closed draw after a suspension, a cancelled draw, the openings and an export."""
    running, var = dev_service
    folder = tmp_path_factory.mktemp("replay")
    _csv(folder / "experts.csv")
    imported = run("experts", "import", str(folder / "experts.csv"), *client_args(dev_service))
    assert imported.exit_code == 0, imported.output
    with channel(var, running.port, "admin") as admin_channel:
        admin = expert_grpc.ExpertServiceStub(admin_channel)
        listed = admin.ListExperts(expert_pb.ListExpertsRequest(
            discipline=f"editions/2018/disciplines/{CODE}", page_size=50), timeout=10)  # fmt: skip
        names = sorted(e.name for e in listed.experts)
        assert len(names) == 24
        suspended = names[0]
        admin.SuspendExpert(expert_pb.SuspendExpertRequest(
            name=suspended, reason="under investigation", request_id="rpl-suspend"), timeout=10)  # fmt: skip
    with channel(var, running.port, "trading_system") as requester_channel:
        requester = pb_grpc.DrawServiceStub(requester_channel)
        closed = _create(requester, "1", 500)
        requester.ExecuteDraw(pb.ExecuteDrawRequest(
            name=closed, nonce=os.urandom(32), request_id="rpl-execute-1"), timeout=30)  # fmt: skip
        requester.RecordOpening(pb.RecordOpeningRequest(
            name=closed, open_time=stamp(int(time.time() * 1000)), request_id="rpl-open"),
            timeout=30)  # fmt: skip
        requester.CloseCommittee(pb.CloseCommitteeRequest(name=closed, request_id="rpl-close"),
                                 timeout=30)  # fmt: skip
        cancelled = _create(requester, "2", 502)
        requester.CancelDraw(pb.CancelDrawRequest(
            name=cancelled, reason="TENDER_CANCELLED", request_id="rpl-cancel"), timeout=30)  # fmt: skip
        live = _create(requester, "3", 504)  # committed, never finished: never opened
    openings = folder / "openings.json"
    taken = run("stats", "openings", str(openings), *client_args(dev_service, "supervisor"))
    assert taken.exit_code == 0, taken.output
    export = folder / "export"
    exported = run("log", "export", str(export), *client_args(dev_service, "supervisor"))
    assert exported.exit_code == 0, exported.output
    return {"openings": openings, "export": export, "trust": var / "trust.toml",
            "closed": closed, "cancelled": cancelled, "live": live,
            "suspended": suspended.removeprefix("experts/"), "folder": folder}  # fmt: skip


def _replay(case: dict[str, Any], openings: Path) -> tuple[int, dict[str, Any]]:
    result = run("verify", "replay", str(openings), "--export", str(case["export"]),
                 "--trust", str(case["trust"]), "--json")  # fmt: skip
    return result.exit_code, json.loads(result.stdout)


def _draw(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(d for d in report["draws"] if f"draws/{d['draw_id']}" == name)


def test_openings_are_logged_and_private(replayed: dict[str, Any]) -> None:
    path: Path = replayed["openings"]
    assert path.stat().st_mode & 0o777 == 0o600
    body = path.read_bytes()
    data = canonical.loads(body)
    opened = {f"draws/{d['draw_id']}" for d in data["draws"]}
    assert {replayed["closed"], replayed["cancelled"]} <= opened
    assert replayed["live"] not in opened  # a draw in progress is never opened
    digest = hashlib.sha256(body).hexdigest()
    logged = [json.loads(line) for line in
              (replayed["export"] / "entries.aud1").read_text(encoding="utf-8").splitlines()]  # fmt: skip
    exports = [e for e in logged if e["kind"] == "export"
               and e["data"]["what"] == f"replay-openings size {data['size']}"]  # fmt: skip
    assert [e["data"]["data_sha256"] for e in exports] == [digest]
    assert exports[0]["who"]["role"] == "supervisor"


def test_replay_passes_and_lists_the_suspension(replayed: dict[str, Any]) -> None:
    code, report = _replay(replayed, replayed["openings"])
    assert report["problems"] == []
    assert all(d["findings"] == [] for d in report["draws"]), report["draws"]
    assert code == (3 if any(d["unverified"] for d in report["draws"]) else 0)
    closed = _draw(report, replayed["closed"])
    assert closed["members"] == 24
    assert _draw(report, replayed["cancelled"])["verdict"] in {"OK", "PARTIAL"}
    changes = {c["expert"]: c for c in closed["lookback"]}
    suspended = changes[replayed["suspended"]]
    assert suspended["changed"] is True
    assert "E6" in suspended["at_freeze"]
    assert suspended["before"] is not None
    assert "E6" not in suspended["before"]
    assert "expert.status" in suspended["kinds"]
    # Patterns: one cancellation for the trading system.
    assert any(p["cancellations"].get("TENDER_CANCELLED") for p in report["requesters"].values())


def _tampered(replayed: dict[str, Any], name: str, change: Any) -> Path:
    data = canonical.loads(replayed["openings"].read_bytes())
    change(data)
    path: Path = replayed["folder"] / f"{name}.json"
    path.write_bytes(canonical.dumps(data))
    return path


def _closed(replayed: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    return next(d for d in data["draws"] if f"draws/{d['draw_id']}" == replayed["closed"])


def test_openings_that_contradict_the_log_fail(replayed: dict[str, Any]) -> None:
    def inputs(data: dict[str, Any]) -> None:
        _closed(replayed, data)["inputs"]["tenderer"] = "91120000MA0000000M"

    def dropped(data: dict[str, Any]) -> None:
        _closed(replayed, data)["members"].pop()

    def cleared(data: dict[str, Any]) -> None:
        # The suspended expert's leaf claimed eligible: the roots no longer match.
        for m in _closed(replayed, data)["members"]:
            if m["expert"] == replayed["suspended"]:
                m["reasons"] = []

    for name, change, check in (("inputs", inputs, "INPUTS"), ("dropped", dropped, "ROOTS"),
                                ("cleared", cleared, "ROOTS")):  # fmt: skip
        code, report = _replay(replayed, _tampered(replayed, name, change))
        assert code == 1, name
        assert check in {f["check"] for f in _draw(report, replayed["closed"])["findings"]}, name


def test_a_live_draw_in_the_openings_is_refused(replayed: dict[str, Any]) -> None:
    def live(data: dict[str, Any]) -> None:
        copy = dict(_closed(replayed, data))
        copy["draw_id"] = replayed["live"].removeprefix("draws/")
        data["draws"] = sorted([*data["draws"], copy], key=lambda d: d["draw_id"].encode())

    code, report = _replay(replayed, _tampered(replayed, "live", live))
    assert code == 1
    assert any("was not frozen, then closed" in p for p in report["problems"])


def test_openings_that_leave_a_finished_draw_out_fail(replayed: dict[str, Any]) -> None:
    def hide(data: dict[str, Any]) -> None:
        data["draws"] = [d for d in data["draws"]
                         if f"draws/{d['draw_id']}" != replayed["cancelled"]]  # fmt: skip

    code, report = _replay(replayed, _tampered(replayed, "hidden", hide))
    assert code == 1
    assert any(replayed["cancelled"] in p and "leave it out" in p for p in report["problems"])


def test_replay_prints_a_readable_report(replayed: dict[str, Any]) -> None:
    result = run("verify", "replay", str(replayed["openings"]), "--export",
                 str(replayed["export"]), "--trust", str(replayed["trust"]))  # fmt: skip
    assert result.exit_code in {0, 3}, result.output
    assert f"OK {replayed['closed']}" in result.output or "PARTIAL" in result.output
    assert f"CHANGED_BEFORE experts/{replayed['suspended']}" in result.output
    assert "Patterns per trading system" in result.output


# -- a service that shaped the pool ------------------------------------------------------
# The log's signatures are verify log's business; the replay core takes entries. A
# service that left an eligible expert out, or cleared a suspended expert, would have
# frozen other roots: rebuild the freeze from the altered openings, as such a service
# would have, and the replay still finds what the rules give.


def _forged(replayed: dict[str, Any], change: Any) -> Any:
    from expert_draw.core import eds1
    from expert_draw.core.replay import parse_openings, replay

    data = canonical.loads(replayed["openings"].read_bytes())
    draw = _closed(replayed, data)
    change(draw)
    members = [eds1.Member(bytes.fromhex(m["pseud"]), tuple(d.encode() for d in m["discs"]),
                           tuple(r.encode() for r in m["reasons"]),
                           eds1.identity_commitment(bytes.fromhex(m["salt"]),
                                                    uuid.UUID(m["expert"]).bytes))
               for m in draw["members"]]  # fmt: skip
    pool_root, excluded_root = eds1.pool_roots(members)
    entries = [json.loads(line) for line in
               (replayed["export"] / "entries.aud1").read_text(encoding="utf-8").splitlines()]  # fmt: skip
    for e in entries:
        if e["kind"] == "pool.freeze" and e["subj"] == replayed["closed"]:
            n_elig = sum(m.eligible for m in members)
            e["data"].update(pool_root=pool_root.hex(), excluded_root=excluded_root.hex(),
                             n_elig=n_elig, n_excl=len(members) - n_elig)  # fmt: skip
    openings = parse_openings(canonical.dumps(data))
    report = replay(entries, openings, origin=openings.origin)
    return next(d for d in report.draws if f"draws/{d.draw_id}" == replayed["closed"])


def test_a_service_that_leaves_an_eligible_expert_out_is_caught(replayed: dict[str, Any]) -> None:
    left_out: list[str] = []

    def omit(draw: dict[str, Any]) -> None:
        eligible = next(m for m in draw["members"] if not m["reasons"])
        left_out.append(eligible["expert"])
        draw["members"].remove(eligible)

    found = _forged(replayed, omit)
    assert found.verdict == "FAILED"
    assert [f.check for f in found.findings] == ["MEMBERS"]
    assert left_out[0] in found.findings[0].msg


def test_a_service_that_clears_a_suspension_is_caught(replayed: dict[str, Any]) -> None:
    def clear(draw: dict[str, Any]) -> None:
        for m in draw["members"]:
            if m["expert"] == replayed["suspended"]:
                m["reasons"] = [r for r in m["reasons"] if r != "E6"]

    found = _forged(replayed, clear)
    assert [f.check for f in found.findings] == ["REASONS"]
    assert "E6" in found.findings[0].msg


def test_an_honest_rebuild_passes(replayed: dict[str, Any]) -> None:
    found = _forged(replayed, lambda draw: None)
    assert found.findings == []
