r"""How long `verify replay` takes to re-derive every pool, as the platform grows.

Builds a synthetic log the way the service would (draw-v1 §15, as in
``tests/vectors/replay_cases``): EXPERTS experts spread over DISCIPLINES disciplines, a
suspension of one expert in fifty, then DRAWS draws, each on one discipline, frozen by
``eligibility.Rules`` over the library with the seats of earlier draws, executed (5
seats) and closed; every draw opened. It then times the pure replay
(``expert_draw.core.replay.replay``) over the entries (the log's signatures are
``verify log``'s cost: bench/verify_log.py) and prints the peak RSS.

    PYTHONPATH=. .venv/bin/python bench/replay.py [--experts 20000] [--disciplines 20]
        [--draws 500]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import resource
import time
import uuid
from typing import Any

from audit_log import canonical
from expert_draw.core import drawing, eds1, eligibility
from expert_draw.core import experts as ex
from expert_draw.core.policy import DEFAULT
from expert_draw.core.replay import parse_openings, replay
from tests.support.draw_log import counter_random
from tests.support.experts import resident_id, uscc

DAY = 86_400_000
T0 = 1_893_427_200_000  # 2030-01-01T00:00:00Z
ORIGIN = "bench.expert-draw.example/log"
WHO = {"role": "admin", "sub": "admin:bench", "svc": "replica-a"}


def _entry(log: list[dict[str, Any]], ts: int, kind: str, subj: str, data: Any) -> int:
    log.append({"seq": len(log), "ts": ts, "kind": kind, "subj": subj, "who": WHO, "data": data,
                "log": ORIGIN})  # fmt: skip
    return len(log) - 1


def _code(k: int) -> str:
    """A level-2 code per discipline number (A1001, A1002, ...); experts hold its 01."""
    return f"A{10 + k // 90:02d}{k % 90 + 1:02d}"


def build(experts: int, disciplines: int, draws: int) -> tuple[list[dict[str, Any]], bytes]:
    """The entries and the openings file."""
    random = counter_random(b"bench replay")
    log: list[dict[str, Any]] = []
    _entry(log, T0 - 100 * DAY, "policy.set", "policy",
           {"config": DEFAULT.config_json(), "digest": DEFAULT.digest().hex()})  # fmt: skip
    candidates: dict[int, list[eligibility.Candidate]] = {k: [] for k in range(disciplines)}
    births: dict[str, tuple[str, str]] = {}
    for n in range(experts):
        k = n % disciplines
        uid = str(uuid.UUID(int=0x10_0000 + n))
        profile = ex.Profile(
            title=ex.Title(ex.TitleLevel.SENIOR, "高级工程师", dt.date(2008, 6, 1)),
            work_start=dt.date(1996, 7, 1), qualifications=(),
            disciplines=(("2018", f"{_code(k)}01"),), region_code="120101",
            accepts_remote=True, library_type=ex.LibraryType.PROVINCIAL,
            review=ex.Review.APPROVED, declaration_date=dt.date(2025, 1, 10),
            training_date=dt.date(2025, 3, 1), age_exempt=False,
            affiliations=(ex.Affiliation(ex.AffiliationKind.EMPLOYER, uscc(n % 997), "",
                                         dt.date(2010, 1, 1), None),),
            education=ex.Education.BACHELOR,
        )  # fmt: skip
        personal = ex.Personal(
            f"专家{n}", resident_id(n % 1000, region="120101"), "13900000000", ""
        )
        salts = {name: random(32) for name in ex.personal_values(personal)}
        record = ex.audit_record(profile, personal, salts, 1)
        _entry(log, T0 - 90 * DAY + n, "expert.create", f"experts/{uid}", {"record": record})
        births[uid] = (personal.birth_date.isoformat(), salts["birth_date"].hex())
        periods: tuple[ex.StatusPeriod, ...] = ()
        if n % 50 == 0:
            start = T0 - 80 * DAY + n
            _entry(log, start, "expert.status", f"experts/{uid}",
                   {"status": "suspended", "reason": "调查", "valid_from": start,
                    "valid_to": None})  # fmt: skip
            periods = (ex.StatusPeriod(ex.Status.SUSPENDED, "", start, None),)
        candidates[k].append(eligibility.Candidate(uid, profile, personal.birth_date,
                                                   ex.State.ACTIVE, periods, (), ""))  # fmt: skip
    seats: list[eligibility.Seat] = []
    opened: list[dict[str, Any]] = []
    for i in range(draws):
        k, draw_id = i % disciplines, f"d-bench-{i:06d}"
        code = _code(k)
        window = T0 + (i // disciplines) * DAY
        inputs = eligibility.ConflictInputs(
            uscc(5000 + i % 50), "", (), (), (), eligibility.Window(window, window + DAY // 3),
            eligibility.RegionRule(), "120101", "", hashlib.sha256(draw_id.encode()).hexdigest(),
            hashlib.sha256(b"salt" + draw_id.encode()).hexdigest(),
        )  # fmt: skip
        rules = eligibility.Rules(DEFAULT, inputs, eligibility.DrawRequest((code,), "2018"),
                                  eligibility.History.from_seats(seats, inputs, DEFAULT))  # fmt: skip
        assessed: list[drawing.Assessed] = []
        of: dict[int, str] = {}
        for c in candidates[k]:
            found = rules.assess(c)
            if found is not None:
                assessed.append(drawing.Assessed(len(of), uuid.UUID(c.uuid).bytes, found.discs,
                                                 found.reasons))  # fmt: skip
                of[len(of)] = c.uuid
        frozen = drawing.freeze(assessed, random)
        params = eds1.Params(
            draw_id=draw_id.encode(), tender_ref=hashlib.sha256(draw_id.encode()).digest(),
            supersedes=b"", edition=b"2018", edition_digest=bytes(32), match_mode=b"prefix",
            disciplines=(eds1.DisciplineParams(code.encode(), 5, 1, 3),), repl_mode=b"A",
            delta=0, margin_s=0, delta_b=0, min_pool_factor=3, override_seq=0,
            drand_chain_hash=b"", rules_digest=DEFAULT.digest(), code_digest=bytes(32),
        )  # fmt: skip
        subj, ts = f"draws/{draw_id}", T0 - 10 * DAY + i * 1000
        _entry(log, ts, "draw.request", subj, {"draw_id": draw_id, "tender_ref": "00" * 32,
                                               "supersedes": "", "inputs_sha256": inputs.sha256()})  # fmt: skip
        _entry(log, ts, "pool.freeze", subj, {
            "pool_root": frozen.pool_root.hex(), "excluded_root": frozen.excluded_root.hex(),
            "n_elig": frozen.n_elig, "n_excl": frozen.n_excl, "rules_digest":
            DEFAULT.digest().hex(), "lookback_s": 3600})  # fmt: skip
        _entry(log, ts, "draw.commit", subj, {"params": params.encode().hex()})
        panel = [m.pseudonym for m in frozen.members if m.eligible][:5]
        _entry(log, ts, "draw.execute", subj, {"panels": [{"d": code, "panel": [p.hex() for p in panel]}]})  # fmt: skip
        _entry(log, ts, "draw.close", subj, {})
        seats += [eligibility.Seat(of[frozen.expert_of[p]], inputs.tenderer, inputs.project_ref,
                                   window, window + DAY // 3) for p in panel]  # fmt: skip
        opened.append({"draw_id": draw_id, "inputs": inputs.to_json(), "avoided": [], "members": [
            {"pseud": m.pseudonym.hex(), "expert": of[frozen.expert_of[m.pseudonym]],
             "salt": frozen.salts[m.pseudonym].hex(), "discs": [d.decode() for d in m.discs],
             "reasons": [r.decode() for r in m.reasons]} for m in frozen.members]})  # fmt: skip
    members = sorted({str(m["expert"]) for d in opened for m in d["members"]})
    openings = {"openings_v": 1, "origin": ORIGIN, "size": len(log), "hash_keys": ["k1"],
                "draws": opened,
                "experts": [{"expert": u, "erased": False, "credits": [],
                             "birth_date": {"version": 1, "value": births[u][0],
                                            "salt": births[u][1]}} for u in members]}  # fmt: skip
    body = canonical.dumps(openings)
    # The supervisor's export entry that logs the disclosure (verify replay requires it).
    _entry(log, T0, "export", "exports/bench", {
        "what": f"replay-openings size {openings['size']}", "recipient": "supervisor:bench",
        "data_sha256": hashlib.sha256(body).hexdigest()})  # fmt: skip
    return log, body


def main() -> None:
    """Build, replay, report."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--experts", type=int, default=20_000)
    parser.add_argument("--disciplines", type=int, default=20)
    parser.add_argument("--draws", type=int, default=500)
    args = parser.parse_args()
    started = time.perf_counter()
    entries, openings = build(args.experts, args.disciplines, args.draws)
    built = time.perf_counter()
    parsed = parse_openings(openings)
    report = replay(entries, parsed, origin=ORIGIN)
    done = time.perf_counter()
    verdicts = {v: sum(d.verdict == v for d in report.draws) for v in ("OK", "PARTIAL", "FAILED")}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.experts} experts, {args.draws} draws ({len(entries)} entries, openings "
          f"{len(openings) / 1e6:.1f} MB): built in {built - started:.1f} s; replay "
          f"{done - built:.2f} s ({1000 * (done - built) / args.draws:.1f} ms per draw); "
          f"{verdicts}; problems {len(report.problems)}; peak RSS {rss:.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
