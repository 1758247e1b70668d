"""The replay vectors (``tests/vectors/replay/``, draw-v1.md §15).

``python -m tests.vectors.replay_cases [OUT]`` (also run by ``generate_eds1``'s main)
writes one folder per case: ``export/`` (a signed log export: ``entries.aud1``,
``checkpoints.aud1``), ``trust.toml``, ``openings.json`` and ``expected.json``:
``exit_code``; ``openings_contradict_log``; per opened draw with a committed freeze its
``verdict``, the names of its failed ``checks`` and its ``unverified`` codes; and, per
draw, the experts reported ``CHANGED_BEFORE`` under the default look-back. The
expectations are written here, never read back from a replay.

The log is built as the service builds it, with fixed keys, salts and times: log.init,
the default policy, 26 experts (plain ones; one born in 1940; one suspended a minute
before the first freeze; one with a penalty; one employed by the tenderer; one holding
only a legacy code; one deleted and restored; one deleted; one suspended and
reinstated; one on the avoid list; one of another discipline; one with a score; one
whose code is replaced just before the first freeze), then
draw 1 (executed, opened, closed), draw 2 (same project, committed, cancelled) and draw
3 (committed, waiting: never opened). Pools come from ``eligibility.Rules`` over the
records the log states, as in ``DrawService._assess``. Negative cases change the
openings, or the log itself (a service that shaped a pool, re-signed), one thing each.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit_log import canonical
from audit_log.entry import Entry, Who, make_req
from expert_draw.core import drawing, eds1, eligibility
from expert_draw.core import experts as ex
from expert_draw.core.policy import DEFAULT, MatchMode
from tests.support import small_logs
from tests.support.draw_log import counter_random
from tests.support.experts import resident_id, uscc
from tests.vectors.generate import ORIGIN, write_json

if TYPE_CHECKING:
    from collections.abc import Callable

HERE = Path(__file__).resolve().parent
OUT = HERE / "replay"
ADMIN = small_logs.ADMIN
SERVICE = small_logs.SERVICE
REQUESTER = Who("requester", "client:trading-01", "replica-a")
SUPERVISOR = Who("supervisor", "bureau:supervisor-1", "replica-a")
DAY = 86_400_000
T0 = 1_790_000_000_000  # ms: 2026-09-21, the first freeze
TENDERER = uscc(900)
PROJECT_REF = hashlib.sha256(b"replay vectors: project").hexdigest()
OTHER_PROJECT = hashlib.sha256(b"replay vectors: another project").hexdigest()
AVOIDED_HASH = "k1:" + hashlib.sha256(b"replay vectors: avoided").hexdigest()
TRUST = f'version = 1\nlog_vkey = "{small_logs.KEY.verifier}"\n'
HISTORY = ["BUSY_WINDOW", "FREQ_CAP", "FREQ_TENDERER", "SAME_PROJECT"]
LOOKBACK_KINDS = {"expert.create", "expert.update", "expert.status", "expert.delete",
                  "credit.event"}  # fmt: skip

PLAIN, AGED, SUSPENDED, PENALISED, EMPLOYED, LEGACY, RESTORED, DELETED = range(14, 22)
REINSTATED, AVOIDED, OTHER_FIELD, SCORED, RECODED = range(22, 27)


def expert_uuid(n: int) -> str:
    """The fixed uuid of expert ``n``."""
    return str(uuid.UUID(int=0x2000 + n))


def _profile(n: int) -> ex.Profile:
    codes = {LEGACY: (("2010-trial", "A0201"),), OTHER_FIELD: (("2018", "B010101"),)}
    affiliations = [ex.Affiliation(ex.AffiliationKind.EMPLOYER, uscc(n), "", dt.date(2010, 1, 1),
                                   None)]  # fmt: skip
    if n == EMPLOYED:
        affiliations.append(ex.Affiliation(ex.AffiliationKind.EMPLOYER, TENDERER, "",
                                           dt.date(2020, 1, 1), None))  # fmt: skip
    return ex.Profile(
        title=ex.Title(ex.TitleLevel.SENIOR, "高级工程师", dt.date(2008, 6, 1)),
        work_start=dt.date(1996, 7, 1), qualifications=(),
        disciplines=codes.get(n, (("2018", "A020101"),)), region_code="120101",
        accepts_remote=True, library_type=ex.LibraryType.PROVINCIAL,
        review=ex.Review.APPROVED, declaration_date=dt.date(2025, 1, 10),
        training_date=dt.date(2025, 3, 1), age_exempt=False,
        affiliations=tuple(affiliations), education=ex.Education.BACHELOR,
    )  # fmt: skip


NUMBERS = [*range(14), AGED, SUSPENDED, PENALISED, EMPLOYED, LEGACY, RESTORED, DELETED,
           REINSTATED, AVOIDED, OTHER_FIELD, SCORED, RECODED]  # fmt: skip


@dataclass
class Variant:
    """How the log departs from the honest one."""

    sealed_history: bool = False  # draw 3 executed, draw 4 frozen after it and closed
    omit: int | None = None  # the service leaves this expert out of draw 1
    clear_e6: bool = False  # the service seats the suspended expert's leaf as eligible
    rules_digest: bytes | None = None  # the freeze names a policy never logged
    erase_before: bool = False  # the deleted expert's personal data erased before draw 1
    double_leaf: bool = False  # the service gives expert 0 a second leaf in draw 1
    erase_after: bool = False  # the deleted expert's personal data erased after the draws
    exact: bool = False  # the service matches draw 1 exactly, and says so in its params
    partial_policy: bool = False  # the logged policy leaves a key out (its digest matches)


@dataclass
class Built:
    """The log (before the openings' export entry) and everything the openings disclose."""

    entries: list[Entry]
    sizes: list[int]
    openings: dict[str, Any]
    draw_ids: list[str]
    size: int
    seated: list[str]  # draw 1's panel, ascending


@dataclass
class _Library:
    """The records as the log states them, for the pools (the service's view)."""

    profiles: dict[int, ex.Profile] = field(default_factory=dict)
    births: dict[int, dt.date] = field(default_factory=dict)
    salts: dict[int, dict[str, bytes]] = field(default_factory=dict)
    state: dict[int, ex.State] = field(default_factory=dict)
    periods: dict[int, list[ex.StatusPeriod]] = field(default_factory=dict)
    credits: dict[int, list[tuple[int, ex.CreditEvent]]] = field(default_factory=dict)
    erased: set[int] = field(default_factory=set)

    def candidate(self, n: int) -> eligibility.Candidate:
        return eligibility.Candidate(
            uuid=expert_uuid(n), profile=self.profiles[n],
            birth_date=None if n in self.erased else self.births[n],
            state=self.state[n], periods=tuple(self.periods[n]),
            credits=tuple(c for _, c in self.credits[n]),
            id_hash=AVOIDED_HASH if n == AVOIDED else f"erased:{n}" if n in self.erased
            else f"k1:{n:064x}",
        )  # fmt: skip


class _Log:
    def __init__(self) -> None:
        init = small_logs.entries([])[0][0]
        self.entries: list[Entry] = [init]
        self.sizes = [1]
        self.clock = T0 - 40 * DAY

    def tx(self, who: Who, request: str, items: list[tuple[str, str, dict[str, Any]]],
           at: int | None = None) -> int:  # fmt: skip
        """Append one transaction at ``at`` (else a second after the last); its first seq."""
        self.clock = self.clock + 1000 if at is None else at
        first = len(self.entries)
        for index, (kind, subj, data) in enumerate(items):
            self.entries.append(Entry(ORIGIN, len(self.entries), "", self.clock,
                                      make_req(who.sub, request, index), kind, subj, who, data))  # fmt: skip
        self.sizes.append(len(self.entries))
        return first


def _experts(log: _Log, lib: _Library) -> None:
    random = counter_random(b"replay vectors: salts")
    for n in NUMBERS:
        personal = ex.Personal(f"专家{n}", resident_id(700 + n, birth="19400101" if n == AGED
                                                       else "19750312", region="120101"),
                               f"1390000{n:04d}", "")  # fmt: skip
        salts = {k: random(32) for k in ex.personal_values(personal)}
        lib.profiles[n], lib.births[n], lib.salts[n] = _profile(n), personal.birth_date, salts
        lib.state[n], lib.periods[n], lib.credits[n] = ex.State.ACTIVE, [], []
        record = ex.audit_record(lib.profiles[n], personal, salts, 1)
        log.tx(ADMIN, f"create-{n}", [("expert.create", f"experts/{expert_uuid(n)}",
                                       {"record": record})])  # fmt: skip
    subj = {n: f"experts/{expert_uuid(n)}" for n in NUMBERS}
    for n in (RESTORED, DELETED):
        log.tx(ADMIN, f"delete-{n}", [("expert.delete", subj[n], {"reason": "重复登记"})])
        lib.state[n] = ex.State.DELETED
    log.tx(ADMIN, "undelete", [("expert.status", subj[RESTORED], {
        "status": "active", "reason": "误删", "valid_from": log.clock + 1000, "valid_to": None})])  # fmt: skip
    lib.state[RESTORED] = ex.State.ACTIVE
    start = log.clock + 1000
    log.tx(ADMIN, "suspend", [("expert.status", subj[REINSTATED], {
        "status": "suspended", "reason": "调查", "valid_from": start, "valid_to": None})])  # fmt: skip
    end = log.clock + 5 * DAY
    log.tx(ADMIN, "reinstate", [("expert.status", subj[REINSTATED], {
        "status": "suspended", "reason": "调查结束", "valid_from": start, "valid_to": end})], at=end)  # fmt: skip
    lib.periods[REINSTATED].append(ex.StatusPeriod(ex.Status.SUSPENDED, "", start, end))
    for n, code, at in ((PENALISED, "administrative_penalty", T0 - 365 * DAY),
                        (SCORED, "score:90", T0 - 30 * DAY)):  # fmt: skip
        evidence = hashlib.sha256(f"evidence {n}".encode()).hexdigest()
        bound = canonical.dumps({"code": code, "event_ms": at, "evidence_sha256": evidence})
        seq = log.tx(ADMIN, f"credit-{n}", [("credit.event", subj[n], {
            "code": code, "evidence_hash": hashlib.sha256(bound).hexdigest(), "due_ts": None})])  # fmt: skip
        lib.credits[n].append((seq, ex.CreditEvent(code, "", evidence, at)))


@dataclass
class _Draw:
    draw_id: str
    project_ref: str
    window_from: int
    inputs: eligibility.ConflictInputs
    params: eds1.Params
    frozen: drawing.Frozen
    expert_of: dict[bytes, int]
    panel: list[bytes] = field(default_factory=list)


def _params(draw_id: str, rules_digest: bytes, mode: bytes = b"prefix") -> eds1.Params:
    return eds1.Params(
        draw_id=draw_id.encode(), tender_ref=hashlib.sha256(draw_id.encode()).digest(),
        supersedes=b"", edition=b"2018", edition_digest=hashlib.sha256(b"edition").digest(),
        match_mode=mode, disciplines=(eds1.DisciplineParams(b"A0201", 3, 1, 3),),
        repl_mode=b"A", delta=0, margin_s=0, delta_b=0, min_pool_factor=3, override_seq=0,
        drand_chain_hash=b"", rules_digest=rules_digest,
        code_digest=hashlib.sha256(b"release").digest(),
    )  # fmt: skip


def _freeze(
    log: _Log, lib: _Library, draw_id: str, project_ref: str, window_from: int,
    seats: list[eligibility.Seat], variant: Variant, at: int,
) -> _Draw:  # fmt: skip
    inputs = eligibility.ConflictInputs(
        tenderer=TENDERER, agency="", bidders=(), avoid_orgs=(),
        avoid_experts=(AVOIDED_HASH,) if draw_id == "d-replay-1" else (),
        window=eligibility.Window(window_from, window_from + DAY // 3),
        region=eligibility.RegionRule(), venue_region="120101", library_type="",
        project_ref=project_ref, salt=hashlib.sha256(draw_id.encode()).hexdigest(),
    )  # fmt: skip
    exact = variant.exact and draw_id == "d-replay-1"
    rules = eligibility.Rules(
        DEFAULT, inputs, eligibility.DrawRequest(("A0201",), "2018", MatchMode.EXACT if exact else None),
        eligibility.History.from_seats(seats, inputs, DEFAULT),
    )  # fmt: skip
    assessed = []
    for n in NUMBERS:
        found = rules.assess(lib.candidate(n))
        if found is None or (draw_id == "d-replay-1" and n == variant.omit):
            continue
        reasons = found.reasons
        if draw_id == "d-replay-1" and variant.clear_e6 and n == SUSPENDED:
            reasons = tuple(r for r in reasons if r != b"E6")
        assessed.append(drawing.Assessed(n, uuid.UUID(expert_uuid(n)).bytes, found.discs, reasons))
        if draw_id == "d-replay-1" and variant.double_leaf and n == 0:
            assessed.append(drawing.Assessed(n, uuid.UUID(expert_uuid(n)).bytes, found.discs, ()))
    frozen = drawing.freeze(assessed, counter_random(f"replay vectors: {draw_id}".encode()))
    params = _params(draw_id, variant.rules_digest or DEFAULT.digest(),
                     b"exact" if exact else b"prefix")  # fmt: skip
    s = hashlib.sha256(f"s of {draw_id}".encode()).digest()
    c_s = eds1.secret_commitment(s)
    commit = eds1.commitment(
        params.draw_id, pool_root=frozen.pool_root, n_elig=frozen.n_elig,
        excluded_root=frozen.excluded_root, n_excl=frozen.n_excl, params_hash=params.hash(),
        c_s=c_s, r=0, escrow=eds1.escrow_digest([]),
    )  # fmt: skip
    subj = f"draws/{draw_id}"
    subjects = {f"experts/{expert_uuid(frozen.expert_of[m.pseudonym])}" for m in frozen.members}
    lookback = [e.seq for e in log.entries if e.subj in subjects and e.kind in LOOKBACK_KINDS
                and at - 3_600_000 <= e.ts < at]  # fmt: skip
    log.tx(REQUESTER, f"create-{draw_id}", [
        ("draw.request", subj, {
            "draw_id": draw_id, "tender_ref": params.tender_ref.hex(), "supersedes": "",
            "disciplines": [{"d": "A0201", "k": 3, "r": 1}], "policy": {"beacon": False},
            "inputs_sha256": inputs.sha256(),
        }),
        ("pool.freeze", subj, {
            "pool_root": frozen.pool_root.hex(), "excluded_root": frozen.excluded_root.hex(),
            "n_elig": frozen.n_elig, "n_excl": frozen.n_excl,
            "counts": [{"d": "A0201", "n": frozen.n_elig}],
            "excluded_counts": [{"reason": x.decode(), "n": k}
                                for x, k in frozen.excluded_counts()],
            "edition_digest": params.edition_digest.hex(),
            "rules_digest": params.rules_digest.hex(), "lookback_s": 3600,
            "lookback_n": len(lookback), "lookback_seqs": lookback,
            "lookback_sha256": eds1.sha256(
                eds1.enc(b"EDS1/lookback", *[eds1.u64(q) for q in lookback])).hex(),
        }),
        ("draw.commit", subj, {
            "params": params.encode().hex(), "params_hash": params.hash().hex(),
            "pool_root": frozen.pool_root.hex(), "excluded_root": frozen.excluded_root.hex(),
            "n_elig": frozen.n_elig, "n_excl": frozen.n_excl, "c_s": c_s.hex(), "r": 0,
            "envelopes": [], "escrow_digest": eds1.escrow_digest([]).hex(),
            "commit_digest": eds1.sha256(commit).hex(),
        }),
    ], at=at)  # fmt: skip
    return _Draw(draw_id, project_ref, window_from, inputs, params, frozen,
                 dict(frozen.expert_of))  # fmt: skip


def _execute(log: _Log, draw: _Draw) -> None:
    s = hashlib.sha256(f"s of {draw.draw_id}".encode()).digest()
    nonce = hashlib.sha256(f"nonce of {draw.draw_id}".encode()).digest()
    f = draw.frozen
    outcome = drawing.resolve(draw.params, f.members, pool_root=f.pool_root,
                              excluded_root=f.excluded_root, s=s, r=0, rho=b"", nonce=nonce)  # fmt: skip
    draw.panel = list(outcome.panel[b"A0201"])
    subj = f"draws/{draw.draw_id}"
    log.tx(REQUESTER, f"execute-{draw.draw_id}", [
        ("draw.nonce", subj, {"nonce": nonce.hex()}),
        ("draw.execute", subj, {
            "r": 0, "sig_r": "", "rho": "", "s": s.hex(), "seed": outcome.seed.hex(),
            "order_digest": outcome.order_digest.hex(),
            "panels": [{"d": "A0201", "panel": [p.hex() for p in draw.panel],
                        "reserve": [p.hex() for p in outcome.reserve[b"A0201"]]}],
        }),
    ])  # fmt: skip


def _close(log: _Log, draw: _Draw) -> None:
    subj = f"draws/{draw.draw_id}"
    log.tx(REQUESTER, f"open-{draw.draw_id}", [("draw.open", subj, {"opened_at": log.clock})])
    log.tx(REQUESTER, f"close-{draw.draw_id}", [("draw.close", subj, {
        "panels": [{"d": "A0201", "panel": [p.hex() for p in draw.panel]}]})])  # fmt: skip


def _seats(draw: _Draw) -> list[eligibility.Seat]:
    w = draw.inputs.window
    return [eligibility.Seat(expert_uuid(draw.expert_of[p]), TENDERER, draw.project_ref,
                             w.from_ms, w.to_ms) for p in draw.panel]  # fmt: skip


def build(variant: Variant) -> Built:
    """The sealed log of ``variant`` and its honest openings."""
    log, lib = _Log(), _Library()
    config = DEFAULT.config_json()
    if variant.partial_policy:
        config = {k: v for k, v in config.items() if k != "methods"}
        variant = dataclasses.replace(
            variant, rules_digest=hashlib.sha256(canonical.dumps(config)).digest()
        )
    log.tx(SERVICE, "setup", [("policy.set", "policy", {
        "config": config, "digest": hashlib.sha256(canonical.dumps(config)).hexdigest()})])  # fmt: skip
    _experts(log, lib)
    log.tx(ADMIN, "suspend-now", [("expert.status", f"experts/{expert_uuid(SUSPENDED)}", {
        "status": "suspended", "reason": "被投诉", "valid_from": T0 - 60_000, "valid_to": None})],
        at=T0 - 60_000)  # fmt: skip
    lib.periods[SUSPENDED].append(ex.StatusPeriod(ex.Status.SUSPENDED, "", T0 - 60_000, None))
    # An expert's code replaced 50 s before the first freeze: it leaves the draw's pool.
    log.tx(ADMIN, "recode", [("expert.update", f"experts/{expert_uuid(RECODED)}",
                              {"field": "disciplines", "value": ["2018/B010101"]})],
           at=T0 - 50_000)  # fmt: skip
    lib.profiles[RECODED] = dataclasses.replace(
        lib.profiles[RECODED], disciplines=(("2018", "B010101"),)
    )
    if variant.erase_before:
        log.tx(ADMIN, "erase", [("expert.update", f"experts/{expert_uuid(DELETED)}",
                                 {"field": "personal", "value": "erased"})], at=T0 - 30_000)  # fmt: skip
        lib.erased.add(DELETED)
    first = _freeze(log, lib, "d-replay-1", PROJECT_REF, T0 + 10 * DAY, [], variant, T0)
    _execute(log, first)
    _close(log, first)
    second = _freeze(log, lib, "d-replay-2", PROJECT_REF, T0 + 20 * DAY, _seats(first),
                     Variant(), T0 + 2 * DAY)  # fmt: skip
    log.tx(REQUESTER, "cancel-2", [("draw.cancel", "draws/d-replay-2",
                                    {"reason": "TENDER_CANCELLED", "counts": []})])  # fmt: skip
    third = _freeze(log, lib, "d-replay-3", OTHER_PROJECT, T0 + 30 * DAY, _seats(first),
                    Variant(), T0 + 3 * DAY)  # fmt: skip
    opened = [first, second]
    if variant.erase_after:
        log.tx(ADMIN, "erase-after", [("expert.update", f"experts/{expert_uuid(DELETED)}",
                                       {"field": "personal", "value": "erased"})])  # fmt: skip
        lib.erased.add(DELETED)
    if variant.sealed_history:
        _execute(log, third)
        fourth = _freeze(log, lib, "d-replay-4", OTHER_PROJECT, T0 + 40 * DAY,
                         _seats(first) + _seats(third), Variant(), T0 + 4 * DAY)  # fmt: skip
        _execute(log, fourth)
        _close(log, fourth)
        opened.append(fourth)
    size = len(log.entries)
    return Built(log.entries, log.sizes, _openings(lib, log, opened, size),
                 [d.draw_id for d in opened], size, sorted(p.hex() for p in first.panel))  # fmt: skip


def _openings(lib: _Library, log: _Log, draws: list[_Draw], size: int) -> dict[str, Any]:
    members: set[int] = set()
    listed = []
    for d in sorted(draws, key=lambda d: d.draw_id.encode()):
        rows = []
        for m in d.frozen.members:
            n = d.expert_of[m.pseudonym]
            members.add(n)
            rows.append({"pseud": m.pseudonym.hex(), "expert": expert_uuid(n),
                         "salt": d.frozen.salts[m.pseudonym].hex(),
                         "discs": [x.decode() for x in m.discs],
                         "reasons": [x.decode() for x in m.reasons]})  # fmt: skip
        avoided = [expert_uuid(AVOIDED)] if d.inputs.avoid_experts and AVOIDED in (
            d.expert_of.values()) else []  # fmt: skip
        listed.append({"draw_id": d.draw_id, "inputs": d.inputs.to_json(), "members": rows,
                       "avoided": avoided})  # fmt: skip
    experts = [
        {"expert": expert_uuid(n), "erased": n in lib.erased,
         "birth_date": None if n in lib.erased else {
             "version": 1, "value": lib.births[n].isoformat(),
             "salt": lib.salts[n]["birth_date"].hex()},
         "credits": [{"seq": seq, "event_ms": c.event_ms, "evidence_sha256": c.evidence_sha256}
                     for seq, c in lib.credits[n]]}
        for n in sorted(members, key=expert_uuid)
    ]  # fmt: skip
    del log
    return {"openings_v": 1, "origin": ORIGIN, "size": size, "hash_keys": ["k1"],
            "draws": listed, "experts": experts}  # fmt: skip


# -- cases -------------------------------------------------------------------------------


Outcome = tuple[str, list[str], list[str]]  # verdict, failed checks, unverified codes


@dataclass(frozen=True)
class Case:
    """One vector: a log variant, a change to its openings, the expected outcome."""

    name: str
    what: str
    variant: Variant = field(default_factory=Variant)
    change: Callable[[dict[str, Any], Built], None] | None = None
    raw: Callable[[bytes], bytes] | None = None  # the openings' bytes, after encoding
    logged: str = "sent"  # what the export entry logs: "sent", "honest" or "none"
    exit_code: int = 0
    contradict: bool = False
    draws: dict[str, Outcome] = field(default_factory=dict)
    changed_before: dict[str, list[str]] = field(default_factory=dict)


def _draw(data: dict[str, Any], draw_id: str) -> dict[str, Any]:
    return next(d for d in data["draws"] if d["draw_id"] == draw_id)


def _member(data: dict[str, Any], draw_id: str, n: int) -> dict[str, Any]:
    return next(m for m in _draw(data, draw_id)["members"] if m["expert"] == expert_uuid(n))


def _expert(data: dict[str, Any], n: int) -> dict[str, Any]:
    return next(e for e in data["experts"] if e["expert"] == expert_uuid(n))


def _drop_seated(data: dict[str, Any], built: Built) -> None:
    """Leave out draw 1's first member by pseudonym that holds a seat."""
    draw = _draw(data, "d-replay-1")
    draw["members"] = [m for m in draw["members"] if m["pseud"] != built.seated[0]]


def _hide_draw(data: dict[str, Any], _: Built) -> None:
    data["draws"] = [d for d in data["draws"] if d["draw_id"] != "d-replay-2"]


def _open_live(data: dict[str, Any], _: Built) -> None:
    copy = {**_draw(data, "d-replay-2"), "draw_id": "d-replay-3"}
    data["draws"] = [*data["draws"], copy]


def _erase(data: dict[str, Any], _: Built) -> None:
    _expert(data, DELETED).update(erased=True, birth_date=None)


def _retire_key(data: dict[str, Any], _: Built) -> None:
    data["hash_keys"] = ["k2"]
    _draw(data, "d-replay-1")["avoided"] = []


def _extra_expert(data: dict[str, Any], _: Built) -> None:
    extra = {**data["experts"][0], "expert": expert_uuid(OTHER_FIELD)}
    data["experts"] = sorted([*data["experts"], extra], key=lambda e: e["expert"])


def _extra_member_key(data: dict[str, Any], _: Built) -> None:
    _member(data, "d-replay-1", 0)["name"] = "专家0"


OK1: Outcome = ("OK", [], [])
OK2: Outcome = ("OK", [], [])
SUSP = {"d-replay-1": sorted([expert_uuid(SUSPENDED), expert_uuid(RECODED)])}


def cases() -> list[Case]:
    """Every vector, golden first."""
    d1, d2 = "d-replay-1", "d-replay-2"
    failed = "FAILED"
    return [
        Case("golden", "a closed and a cancelled draw, both re-derived; a suspension a minute "
             "before the first freeze is listed", draws={d1: OK1, d2: OK2}, changed_before=SUSP),
        Case("erased-since", "an expert erased after the draws: its E3 and A11 unverified",
             variant=Variant(erase_after=True), exit_code=3, changed_before=SUSP,
             draws={d1: ("PARTIAL", [], ["A11", "E3"]), d2: ("PARTIAL", [], ["A11", "E3"])}),
        Case("sealed-history", "a draw frozen while another was executed and still sealed: "
             "its history codes unverified", variant=Variant(sealed_history=True), exit_code=3,
             changed_before=SUSP,
             draws={d1: OK1, d2: OK2, "d-replay-4": ("PARTIAL", [], HISTORY)}),
        Case("inputs-altered", "the opened inputs name another tenderer",
             change=lambda o, _: _draw(o, d1)["inputs"].update(tenderer=uscc(901)), exit_code=1,
             draws={d1: (failed, ["INPUTS"], []), d2: ("PARTIAL", [], HISTORY)}),
        Case("member-dropped", "a seated member left out of the openings: draw 2 cannot "
             "place that seat", change=_drop_seated, exit_code=1,
             draws={d1: (failed, ["ROOTS"], []), d2: ("PARTIAL", [], HISTORY)}),
        Case("salt-changed", "a member's salt changed",
             change=lambda o, _: _member(o, d1, 0).update(salt="00" * 32), exit_code=1,
             draws={d1: (failed, ["ROOTS"], []), d2: OK2}),
        Case("reasons-cleared", "the suspended member's E6 dropped from the openings",
             change=lambda o, _: _member(o, d1, SUSPENDED).update(reasons=[]), exit_code=1,
             draws={d1: (failed, ["ROOTS"], []), d2: OK2}),
        Case("credit-time-changed", "a credit event opened with another time",
             change=lambda o, _: _expert(o, PENALISED)["credits"][0].update(event_ms=T0),
             exit_code=1, draws={d1: (failed, ["OPENING"], []), d2: (failed, ["OPENING"], [])}),
        Case("birth-date-changed", "a birth date that does not open its commitment",
             change=lambda o, _: _expert(o, AGED)["birth_date"].update(value="1975-03-12"),
             exit_code=1, draws={d1: (failed, ["OPENING"], []), d2: (failed, ["OPENING"], [])}),
        Case("avoided-emptied", "the avoid list's member not named as avoided",
             change=lambda o, _: _draw(o, d1).update(avoided=[]), exit_code=1,
             draws={d1: (failed, ["REASONS"], []), d2: OK2}, changed_before=SUSP),
        Case("draw-left-out", "a finished draw missing from the openings", change=_hide_draw,
             exit_code=1, contradict=True, draws={d1: OK1}, changed_before=SUSP),
        Case("live-draw-opened", "a draw still waiting for its nonce opened",
             change=_open_live, exit_code=1, contradict=True, changed_before=SUSP,
             draws={d1: OK1, d2: OK2, "d-replay-3": (failed, ["INPUTS", "ROOTS"], [])}),
        Case("origin-other", "openings of another log",
             change=lambda o, _: o.update(origin="elsewhere.example/log"), exit_code=1,
             contradict=True, draws={d1: OK1, d2: OK2}, changed_before=SUSP),
        Case("size-beyond-log", "openings taken at a size the log does not reach",
             change=lambda o, _: o.update(size=o["size"] + 5), exit_code=1, contradict=True,
             draws={d1: OK1, d2: OK2}, changed_before=SUSP),
        Case("not-canonical", "openings that are not canonical aud1 JSON",
             raw=lambda b: b.replace(b'{"draws"', b'{ "draws"', 1), exit_code=4),
        Case("member-extra-key", "a member object with a member the spec does not have",
             change=_extra_member_key, exit_code=4),
        Case("service-omitted-expert", "the service froze draw 1 without an eligible expert",
             variant=Variant(omit=0), exit_code=1, changed_before=SUSP,
             draws={d1: (failed, ["MEMBERS"], []), d2: OK2}),
        Case("service-cleared-suspension", "the service froze the suspended expert as "
             "eligible", variant=Variant(clear_e6=True), exit_code=1,
             draws={d1: (failed, ["REASONS"], []), d2: OK2}, changed_before=SUSP),
        Case("policy-not-logged", "the freeze names a policy digest no policy.set states",
             variant=Variant(rules_digest=hashlib.sha256(b"lax policy").digest()), exit_code=1,
             draws={d1: (failed, ["POLICY"], []), d2: OK2}),
        Case("erased-before", "a deleted expert erased before the first draw: no birth date "
             "and no identity hash at the freeze, so E3 holds and nothing is unverified; the "
             "erasure within the look-back changes no code that can still be compared",
             variant=Variant(erase_before=True), draws={d1: OK1, d2: OK2}, changed_before=SUSP),
        Case("birth-date-missing", "an expert not erased with no birth date opened",
             change=lambda o, _: _expert(o, AGED).update(birth_date=None), exit_code=1,
             draws={d1: (failed, ["OPENING"], []), d2: (failed, ["OPENING"], [])}),
        Case("service-double-leaf", "the service froze one expert twice in draw 1 (two "
             "chances)", variant=Variant(double_leaf=True), exit_code=1,
             draws={d1: (failed, ["OPENING"], []), d2: OK2}),
        Case("expert-not-a-member", "an experts object for an expert of no opened draw",
             change=_extra_expert, exit_code=4),
        Case("erased-claim-false", "the openings call an expert erased that the log never "
             "erased: its E3 and A11 cannot hide behind it", change=_erase, exit_code=1,
             contradict=True, changed_before=SUSP,
             draws={d1: ("PARTIAL", [], ["A11", "E3"]), d2: ("PARTIAL", [], ["A11", "E3"])}),
        Case("match-mode-not-the-policys", "the params say exact matching under a prefix "
             "policy (sub-code holders left out)", variant=Variant(exact=True), exit_code=1,
             draws={d1: (failed, ["POLICY"], []), d2: OK2}),
        Case("openings-not-logged", "honest openings that no export entry logs: a "
             "disclosure off the record", logged="none", exit_code=1, contradict=True,
             draws={d1: OK1, d2: OK2}, changed_before=SUSP),
        Case("openings-edited-after-export", "the logged openings, with the inputs edited "
             "afterwards", change=lambda o, _: _draw(o, d1)["inputs"].update(
                 tenderer=uscc(901)), logged="honest", exit_code=1, contradict=True,
             draws={d1: (failed, ["INPUTS"], []), d2: ("PARTIAL", [], HISTORY)}),
        Case("hash-key-retired", "the identity-hash key the avoid list was hashed under "
             "is no longer held: no member can be named avoided, A11 unverified",
             change=_retire_key, exit_code=3, changed_before=SUSP,
             draws={d1: ("PARTIAL", [], ["A11"]), d2: OK2}),
        Case("policy-incomplete", "the logged policy leaves a key out: its digest matches "
             "but it is not a whole policy", variant=Variant(partial_policy=True), exit_code=1,
             draws={d1: (failed, ["POLICY"], []), d2: (failed, ["POLICY"], [])}),
    ]  # fmt: skip


def generate(out: Path) -> None:
    """Write every case folder under ``out`` (replacing it)."""
    if out.exists():
        shutil.rmtree(out)
    built: dict[str, Built] = {}
    for number, case in enumerate(cases()):
        key = repr(dataclasses.astuple(case.variant))
        if key not in built:
            built[key] = build(case.variant)
        b = built[key]
        folder = out / f"{number:02d}-{case.name}"
        openings = canonical.loads(canonical.dumps(b.openings))
        if case.change is not None:
            case.change(openings, b)
        body = canonical.dumps(openings)
        body = case.raw(body) if case.raw else body
        folder.mkdir(parents=True)
        (folder / "openings.json").write_bytes(body)
        # The supervisor's export entry, after the openings were taken at size b.size: it
        # logs the file sent, or the honest one (a file edited afterwards), or nothing.
        entries, sizes = list(b.entries), list(b.sizes)
        if case.logged != "none":
            sent = body if case.logged == "sent" else canonical.dumps(b.openings)
            digest = hashlib.sha256(sent).hexdigest()
            entries.append(Entry(
                ORIGIN, len(entries), "", entries[-1].ts + 1000,
                make_req(SUPERVISOR.sub, f"openings-{number}", 0), "export",
                f"exports/{digest[:32]}", SUPERVISOR,
                {"what": f"replay-openings size {b.size}", "recipient": SUPERVISOR.sub,
                 "data_sha256": digest},
            ))  # fmt: skip
            sizes.append(len(entries))
        small_logs.write(folder / "export", *small_logs.seal(entries, sizes))
        (folder / "trust.toml").write_text(TRUST, encoding="utf-8")
        write_json(folder / "expected.json", {
            "description": case.what, "exit_code": case.exit_code,
            "openings_contradict_log": case.contradict,
            "draws": {d: {"verdict": v, "checks": c, "unverified": u}
                      for d, (v, c, u) in sorted(case.draws.items())},
            "changed_before": case.changed_before,
        })  # fmt: skip


def main(argv: list[str]) -> int:
    """Generate into ``argv[0]`` (default: tests/vectors/replay)."""
    generate(Path(argv[0]) if argv else OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
