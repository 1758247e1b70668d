"""Replay verification: re-derive every opened draw's pool from the log (pure).

docs/spec/draw-v1.md §15. :class:`Replayer` takes a verified log's entries in ``seq``
order and the supervisor's openings file; it rebuilds the expert library and every
draw's seats entry by entry, and at each opened draw's ``draw.commit`` (the entry after
its ``pool.freeze``, in the same transaction) re-runs :mod:`expert_draw.core.eligibility`
on the library as it stood at the freeze. It reports, per opened draw, the checks that
failed, the codes it could not verify and why, the experts of the draw edited within
the look-back window (CHANGED_BEFORE when their codes changed, a member suspended or an
expert who left the pool), the openings' contradictions with the log (their export
entry, the set of opened draws, erasures), and, per trading system and per project, the
patterns of §15.

No clock, no randomness, no I/O: the CLI reads the files and prints the report.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import hashlib
import itertools
import re
import uuid as uuidlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from audit_log import canonical
from audit_log.entry import commitment
from audit_log.errors import CanonicalError
from expert_draw.core import eds1, eligibility
from expert_draw.core.experts import CreditEvent, State, Status, StatusPeriod, profile_from_json
from expert_draw.core.policy import MatchMode, Policy, PolicyError, policy_from_config

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

OPENINGS_V = 1
HISTORY_CODES = frozenset({"BUSY_WINDOW", "SAME_PROJECT", "FREQ_CAP", "FREQ_TENDERER"})
ERASED_CODES = frozenset({"E3", "A11"})
_PROFILE_KEYS = (
    "title", "work_start", "qualifications", "disciplines", "region", "accepts_remote",
    "library_type", "review", "declaration_date", "training_date", "age_exempt",
    "education", "affiliations",
)  # fmt: skip
_EXPERT_KINDS = frozenset(
    {"expert.create", "expert.update", "expert.status", "expert.delete", "credit.event"}
)
_ENDS = frozenset({"draw.close", "draw.cancel", "draw.expire"})
_HEX16 = re.compile(r"[0-9a-f]{32}")
_HEX32 = re.compile(r"[0-9a-f]{64}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_CODE = re.compile(r"[A-Z0-9_]{1,16}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class OpeningsError(ValueError):
    """An openings file that is not the §15 object."""


# -- the openings file -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    """An opened leaf or xleaf: who it is and what it committed."""

    pseud: bytes
    expert: str
    salt: bytes
    discs: tuple[str, ...]
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DrawOpening:
    """One opened draw: its replay inputs, members and avoided experts."""

    draw_id: str
    inputs: Mapping[str, Any]
    members: tuple[Member, ...]
    avoided: frozenset[str]


@dataclass(frozen=True, slots=True)
class ExpertOpening:
    """One expert's openings: the birth date and the credit events' times."""

    expert: str
    erased: bool
    birth: tuple[int, str, bytes] | None  # (version, YYYY-MM-DD, salt)
    credits: Mapping[int, tuple[int, str]]  # seq -> (event_ms, evidence_sha256)


@dataclass(frozen=True, slots=True)
class Openings:
    """A parsed openings file (§15)."""

    origin: str
    size: int
    draws: Mapping[str, DrawOpening]
    experts: Mapping[str, ExpertOpening]
    sha256: str = ""  # of the file's bytes: the data_sha256 of the export that logged it
    hash_keys: frozenset[str] = frozenset()  # identity-hash key ids the exporter held


def _need(ok: bool, why: str) -> None:
    if not ok:
        raise OpeningsError(why)


def _object(value: object, keys: Iterable[str], where: str) -> dict[str, Any]:
    _need(isinstance(value, dict), f"{where}: not an object")
    assert isinstance(value, dict)  # noqa: S101 - narrowed for mypy
    wanted = set(keys)
    _need(set(value) == wanted, f"{where}: members must be exactly {sorted(wanted)}")
    return value


def _hex(value: object, pattern: re.Pattern[str], where: str) -> bytes:
    _need(isinstance(value, str) and pattern.fullmatch(value) is not None, f"{where}: bad hex")
    assert isinstance(value, str)  # noqa: S101 - narrowed for mypy
    return bytes.fromhex(value)


def _int(value: object, where: str) -> int:
    _need(type(value) is int and value >= 0, f"{where}: not a non-negative integer")
    assert isinstance(value, int)  # noqa: S101 - narrowed for mypy
    return value


def _uuid(value: object, where: str) -> str:
    _need(isinstance(value, str) and _UUID.fullmatch(value) is not None, f"{where}: bad uuid")
    assert isinstance(value, str)  # noqa: S101 - narrowed for mypy
    return value


def _codes(value: object, where: str) -> tuple[str, ...]:
    _need(isinstance(value, list), f"{where}: not a list")
    assert isinstance(value, list)  # noqa: S101 - narrowed for mypy
    _need(all(isinstance(c, str) and _CODE.fullmatch(c) for c in value), f"{where}: bad code")
    _need(value == sorted(set(value)), f"{where}: not ascending and unique")
    return tuple(value)


def _ascending(keys: Sequence[Any], where: str) -> None:
    _need(all(a < b for a, b in itertools.pairwise(keys)), f"{where}: not ascending")


def parse_openings(data: bytes) -> Openings:
    """Parse and check the form of an openings file.

    Raises:
        OpeningsError: not canonical aud1 JSON, or not the §15 object.
    """
    try:
        top = canonical.loads(data)
    except (ValueError, CanonicalError) as exc:
        raise OpeningsError(f"not canonical aud1 JSON: {exc}") from None
    top = _object(top, ("openings_v", "origin", "size", "hash_keys", "draws", "experts"),
                  "openings")  # fmt: skip
    keys = top["hash_keys"]
    _need(isinstance(keys, list) and all(isinstance(k, str) and k for k in keys),
          "hash_keys: not a list of key ids")  # fmt: skip
    _ascending(top["hash_keys"], "hash_keys")
    _need(top["openings_v"] == OPENINGS_V, "openings_v: must be 1")
    _need(isinstance(top["origin"], str), "origin: not a string")
    size = _int(top["size"], "size")
    _need(isinstance(top["draws"], list) and isinstance(top["experts"], list),
          "draws, experts: not lists")  # fmt: skip
    draws = [_draw_opening(d, f"draws[{i}]") for i, d in enumerate(top["draws"])]
    _ascending([d.draw_id.encode() for d in draws], "draws")
    experts = [_expert_opening(e, f"experts[{i}]") for i, e in enumerate(top["experts"])]
    _ascending([e.expert for e in experts], "experts")
    members = {m.expert for d in draws for m in d.members}
    _need({e.expert for e in experts} == members,
          "experts: one object per expert that is a member of an opened draw")  # fmt: skip
    for d in draws:
        _need(d.avoided <= {m.expert for m in d.members}, f"{d.draw_id}: avoided: not members")
    return Openings(top["origin"], size, {d.draw_id: d for d in draws},
                    {e.expert: e for e in experts}, hashlib.sha256(data).hexdigest(),
                    frozenset(top["hash_keys"]))  # fmt: skip


def _draw_opening(value: object, where: str) -> DrawOpening:
    d = _object(value, ("draw_id", "inputs", "members", "avoided"), where)
    _need(isinstance(d["draw_id"], str) and bool(d["draw_id"]), f"{where}.draw_id: bad")
    _need(isinstance(d["inputs"], dict), f"{where}.inputs: not an object")
    _need(isinstance(d["members"], list), f"{where}.members: not a list")
    members = []
    for i, item in enumerate(d["members"]):
        at = f"{where}.members[{i}]"
        m = _object(item, ("pseud", "expert", "salt", "discs", "reasons"), at)
        members.append(Member(
            _hex(m["pseud"], _HEX16, f"{at}.pseud"), _uuid(m["expert"], f"{at}.expert"),
            _hex(m["salt"], _HEX32, f"{at}.salt"), _codes(m["discs"], f"{at}.discs"),
            _codes(m["reasons"], f"{at}.reasons"),
        ))  # fmt: skip
    _ascending([m.pseud for m in members], f"{where}.members")
    _need(isinstance(d["avoided"], list), f"{where}.avoided: not a list")
    avoided = [_uuid(u, f"{where}.avoided") for u in d["avoided"]]
    _ascending(avoided, f"{where}.avoided")
    return DrawOpening(d["draw_id"], d["inputs"], tuple(members), frozenset(avoided))


def _expert_opening(value: object, where: str) -> ExpertOpening:
    e = _object(value, ("expert", "erased", "birth_date", "credits"), where)
    expert = _uuid(e["expert"], f"{where}.expert")
    _need(isinstance(e["erased"], bool), f"{where}.erased: not a bool")
    birth = None
    if e["birth_date"] is not None:
        b = _object(e["birth_date"], ("version", "value", "salt"), f"{where}.birth_date")
        _need(isinstance(b["value"], str) and _DATE.fullmatch(b["value"]) is not None,
              f"{where}.birth_date.value: not YYYY-MM-DD")  # fmt: skip
        birth = (_int(b["version"], f"{where}.birth_date.version"), b["value"],
                 _hex(b["salt"], _HEX32, f"{where}.birth_date.salt"))  # fmt: skip
    _need(isinstance(e["credits"], list), f"{where}.credits: not a list")
    events: dict[int, tuple[int, str]] = {}
    seqs = []
    for i, item in enumerate(e["credits"]):
        at = f"{where}.credits[{i}]"
        c = _object(item, ("seq", "event_ms", "evidence_sha256"), at)
        seq = _int(c["seq"], f"{at}.seq")
        _hex(c["evidence_sha256"], _HEX32, f"{at}.evidence_sha256")
        events[seq] = (_int(c["event_ms"], f"{at}.event_ms"), c["evidence_sha256"])
        seqs.append(seq)
    _ascending(seqs, f"{where}.credits")
    return ExpertOpening(expert, e["erased"], birth, events)


# -- the report --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """One failed check of a draw: its §15 name and what was found."""

    check: str
    msg: str


@dataclass(frozen=True, slots=True)
class Change:
    """An expert of the draw (a member, or one before the window) changed in the window."""

    expert: str
    seqs: tuple[int, ...]
    kinds: tuple[str, ...]
    before: tuple[str, ...] | None  # None: not a member before the window's first change
    at_freeze: tuple[str, ...] | None  # None: not a member at the freeze
    changed: bool  # the codes differ: CHANGED_BEFORE


@dataclass(slots=True)
class DrawReplay:
    """The replay of one opened draw."""

    draw_id: str
    freeze_seq: int
    members: int = 0
    findings: list[Finding] = field(default_factory=list)
    unverified: dict[str, str] = field(default_factory=dict)  # code set -> why
    lookback: list[Change] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """``FAILED``, ``PARTIAL`` or ``OK`` (§15 Verdicts)."""
        if self.findings:
            return "FAILED"
        return "PARTIAL" if self.unverified else "OK"


@dataclass(slots=True)
class Pattern:
    """The §15 patterns of one trading system or project."""

    draws: int = 0
    abandoned: int = 0
    cancellations: Counter[str] = field(default_factory=Counter)
    redraws: int = 0
    declines: int = 0


@dataclass(slots=True)
class ReplayReport:
    """Everything a replay found."""

    draws: list[DrawReplay] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # openings that contradict the log
    requesters: dict[str, Pattern] = field(default_factory=lambda: defaultdict(Pattern))
    projects: dict[str, Pattern] = field(default_factory=lambda: defaultdict(Pattern))

    @property
    def exit_code(self) -> int:
        """0 every draw OK; 3 PARTIAL but no failure; 1 a failure (§15 Verdicts)."""
        if self.problems or any(d.verdict == "FAILED" for d in self.draws):
            return 1
        return 3 if any(d.verdict == "PARTIAL" for d in self.draws) else 0


# -- rebuilding the library --------------------------------------------------------------


@dataclass(slots=True)
class _Expert:
    uuid: str
    created_seq: int
    profile: dict[str, Any]
    state: str
    birth: tuple[str, int]  # (commit, version)
    periods: list[list[Any]] = field(default_factory=list)  # [status, start, end]
    credits: list[tuple[str, str, int]] = field(default_factory=list)  # code, hash, seq
    erased: bool = False
    version: int = 0  # bumped by every entry applied: the candidate cache's key
    erased_seq: int = -1  # the seq of its erasure (-1: never erased)


def _apply_expert(experts: dict[str, _Expert], entry: Mapping[str, Any]) -> None:
    """Fold one expert entry (§15 Rebuilding the library); unknown subjects are kept."""
    kind, data, seq = entry["kind"], entry["data"], entry["seq"]
    uid = str(entry["subj"]).removeprefix("experts/")
    if kind == "expert.create":
        record = data["record"]
        experts[uid] = _Expert(
            uid, seq, {k: record.get(k) for k in _PROFILE_KEYS}, str(record.get("state")),
            (str(record.get("birth_date_commit")), int(record.get("version", 0))),
        )  # fmt: skip
        return
    expert = experts.get(uid)
    if expert is None:
        return  # a change before any create: the log's schema checks never allow it
    if kind == "expert.update":
        name, value = data["field"], data["value"]
        if name == "personal" and value == "erased":
            expert.erased = True
            expert.erased_seq = expert.erased_seq if expert.erased_seq >= 0 else seq
        elif name == "birth_date_commit" and isinstance(value, dict):
            expert.birth = (str(value.get("commit")), int(value.get("version", 0)))
        elif not name.endswith("_commit") and name in _PROFILE_KEYS:
            expert.profile[name] = value
    elif kind == "expert.status":
        _apply_status(expert, data)
    elif kind == "expert.delete":
        expert.state = str(State.DELETED)
    elif kind == "credit.event":
        expert.credits.append((data["code"], data["evidence_hash"], seq))


def _apply_status(expert: _Expert, data: Mapping[str, Any]) -> None:
    status, start, end = data["status"], data["valid_from"], data["valid_to"]
    if status == str(State.ACTIVE):
        expert.state = str(State.ACTIVE)
        return
    for period in expert.periods:
        if (
            period[0] == status
            and period[1] == start
            and (period[2] is None or (end is not None and period[2] > end))
        ):
            period[2] = end
            return
    expert.periods.append([status, start, end])


# -- the replayer ------------------------------------------------------------------------


@dataclass(slots=True)
class _Draw:
    draw_id: str
    request: Mapping[str, Any]
    requester: str
    freeze: Mapping[str, Any] | None = None
    freeze_seq: int = -1
    freeze_ts: int = 0
    committed: bool = False
    executed: bool = False
    ended: bool = False
    seats: set[bytes] = field(default_factory=set)
    cancel_reason: str = ""
    declines: int = 0
    end_seq: int | None = None  # the first draw.close, draw.cancel or draw.expire
    inputs_ok: bool = False  # opened, and its opened inputs hash to inputs_sha256


class Replayer:
    """Feed entries in ``seq`` order with :meth:`add`, then read :meth:`finish`."""

    def __init__(self, openings: Openings, *, origin: str, lookback_s: int | None = None) -> None:
        """Replay against ``openings``; ``lookback_s`` None takes each freeze's own."""
        self._openings = openings
        self._lookback_s = lookback_s
        self._report = ReplayReport()
        if openings.origin != origin:
            self._report.problems.append(
                f"the openings are of log {openings.origin!r}, not {origin!r}"
            )
        self._experts: dict[str, _Expert] = {}
        self._history: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        self._draws: dict[str, _Draw] = {}
        self._policies: list[tuple[int, str, Any]] = []  # seq, digest, config
        self._logged: set[str] = set()  # data_sha256 of the exports of openings at this size
        self._times: list[tuple[int, str]] = []  # (ts, uuid) of every expert entry, in order
        self._candidates: dict[str, tuple[int, eligibility.Candidate | None]] = {}
        self._who: dict[str, dict[bytes, str]] = {}
        # Experts by discipline code (any edition), so a draw assesses only those under
        # its codes; records whose codes do not read are assessed by every draw.
        self._by_code: dict[str, set[str]] = defaultdict(set)
        self._indexed: dict[str, tuple[str, ...] | None] = {}
        self._odd: set[str] = set()
        self._size = 0

    def add(self, entry: Mapping[str, Any]) -> None:
        """Apply one entry (the next ``seq``)."""
        self._size = int(entry["seq"]) + 1
        kind = entry["kind"]
        if kind in _EXPERT_KINDS:
            _apply_expert(self._experts, entry)
            uid = str(entry["subj"]).removeprefix("experts/")
            changed = self._experts.get(uid)
            if changed is not None:
                changed.version += 1
                self._index(changed)
            self._history[uid].append(entry)
            self._times.append((int(entry["ts"]), uid))
        elif kind == "export":
            data = entry["data"]
            if data.get("what") == f"replay-openings size {self._openings.size}":
                self._logged.add(str(data.get("data_sha256")))
        elif kind == "policy.set":
            data = entry["data"]
            self._policies.append((int(entry["seq"]), str(data["digest"]), data["config"]))
        elif kind.startswith("draw.") or kind == "pool.freeze":
            self._draw_entry(entry)

    def _index(self, expert: _Expert) -> None:
        held = expert.profile.get("disciplines")
        readable = isinstance(held, list) and all(isinstance(c, str) for c in held)
        codes = tuple(c.partition("/")[2] for c in held) if readable else None  # type: ignore[union-attr]
        before = self._indexed.get(expert.uuid, ())
        if codes == before and expert.uuid in self._indexed:
            return
        for code in before or ():
            self._by_code[code].discard(expert.uuid)
        self._odd.discard(expert.uuid)
        self._indexed[expert.uuid] = codes
        if codes is None:
            self._odd.add(expert.uuid)
        else:
            for code in codes:
                self._by_code[code].add(expert.uuid)

    def _under(self, codes: tuple[str, ...], members: Iterable[str]) -> list[_Expert]:
        """The experts a draw of ``codes`` may match, with its opened members."""
        found = set(self._odd).union(members)
        for code, uuids in self._by_code.items():
            if code.startswith(codes):
                found |= uuids
        return [self._experts[u] for u in sorted(found) if u in self._experts]

    def _draw_entry(self, entry: Mapping[str, Any]) -> None:
        kind, data = entry["kind"], entry["data"]
        draw_id = str(entry["subj"]).removeprefix("draws/")
        if kind == "draw.request":
            self._draws[draw_id] = _Draw(draw_id, data, str(entry["who"]["sub"]))
            return
        draw = self._draws.get(draw_id)
        if draw is None:
            return  # draw.override is on tenders/…; nothing else precedes a request
        if kind in _ENDS and draw.end_seq is None:
            draw.end_seq = int(entry["seq"])
        if kind == "pool.freeze":
            draw.freeze, draw.freeze_seq, draw.freeze_ts = data, entry["seq"], entry["ts"]
        elif kind == "draw.commit":
            draw.committed = True
            if draw_id in self._openings.draws and draw.freeze is not None:
                self._report.draws.append(self._replay(draw, data))
        else:
            _seat_change(draw, kind, data)

    # -- one draw ----------------------------------------------------------------------

    def _replay(self, draw: _Draw, commit: Mapping[str, Any]) -> DrawReplay:
        opening = self._openings.draws[draw.draw_id]
        out = DrawReplay(draw.draw_id, draw.freeze_seq, len(opening.members))
        freeze = draw.freeze
        assert freeze is not None  # noqa: S101 - only frozen draws are replayed
        inputs = _inputs(opening.inputs, out)
        digest = hashlib.sha256(canonical.dumps(dict(opening.inputs))).hexdigest()
        draw.inputs_ok = digest == draw.request.get("inputs_sha256")
        if not draw.inputs_ok:
            out.findings.append(Finding("INPUTS", "the opened inputs do not hash to inputs_sha256"))
            inputs = None
        policy = self._policy(str(freeze["rules_digest"]), draw.freeze_seq, out)
        params = None
        try:
            params = eds1.Params.decode(bytes.fromhex(commit["params"]))
        except ValueError as exc:
            out.findings.append(Finding("POLICY", f"the commit's params do not parse: {exc}"))
        if (params is not None and policy is not None
                and params.match_mode.decode() != str(policy.matching.mode)):  # fmt: skip
            out.findings.append(Finding("POLICY", "the params' match_mode is not the policy's"))
            params = None
        self._roots(opening, freeze, out)
        self._check_openings(opening, out)
        if inputs is None or policy is None or params is None or out.findings:  # 5, 6 need 1-4
            return out
        request = eligibility.DrawRequest(
            tuple(d.code.decode() for d in params.disciplines), params.edition.decode(),
            MatchMode(params.match_mode.decode()),
        )  # fmt: skip
        history, sealed = self._seats(draw, inputs, policy)
        if sealed:
            out.unverified[",".join(sorted(HISTORY_CODES))] = (
                "seats in draws still sealed: " + ", ".join(sorted(sealed)[:10])
            )
        try:
            rules = eligibility.Rules(policy, inputs, request, history)
        except eligibility.InputError as exc:
            out.findings.append(Finding("INPUTS", f"the opened inputs break §8: {exc}"))
            return out
        self._members(opening, rules, inputs, request.disciplines, sealed=bool(sealed), out=out)
        self._changes(draw, opening, rules, inputs, out)
        return out

    def _policy(self, digest: str, before: int, out: DrawReplay) -> Policy | None:
        found = [(s, c) for s, d, c in self._policies if d == digest and s < before]
        if not found:
            out.findings.append(Finding("POLICY", f"no policy.set with digest {digest}"))
            return None
        config = found[-1][1]
        if hashlib.sha256(canonical.dumps(config)).hexdigest() != digest:
            out.findings.append(Finding("POLICY", "the policy.set config does not hash to it"))
            return None
        try:
            policy = policy_from_config(config)
        except PolicyError as exc:
            out.findings.append(Finding("POLICY", f"the policy.set config is not a policy: {exc}"))
            return None
        if canonical.dumps(policy.config_json()) != canonical.dumps(config):
            out.findings.append(Finding("POLICY", "the policy.set config does not state every key"))
            return None
        return policy

    @staticmethod
    def _roots(opening: DrawOpening, freeze: Mapping[str, Any], out: DrawReplay) -> bool:
        # Members are parsed in strictly ascending pseudonym order: none repeats.
        try:
            members = [
                eds1.Member(m.pseud, tuple(d.encode() for d in m.discs),
                            tuple(r.encode() for r in m.reasons),
                            eds1.identity_commitment(m.salt, uuidlib.UUID(m.expert).bytes))
                for m in opening.members
            ]  # fmt: skip
        except eds1.EncodingError as exc:
            out.findings.append(Finding("OPENING", f"a member is not a leaf: {exc}"))
            return False
        pool_root, excluded_root = eds1.pool_roots(members)
        n_elig = sum(m.eligible for m in members)
        got = (pool_root.hex(), excluded_root.hex(), n_elig, len(members) - n_elig)
        want = (freeze["pool_root"], freeze["excluded_root"], freeze["n_elig"], freeze["n_excl"])
        if got != want:
            out.findings.append(Finding(
                "ROOTS", "the opened members do not give the freeze's roots and counts"
            ))  # fmt: skip
            return False
        return True

    def _check_openings(self, opening: DrawOpening, out: DrawReplay) -> None:
        twice = sorted(e for e, n in Counter(m.expert for m in opening.members).items() if n > 1)
        if twice:
            out.findings.append(Finding("OPENING", f"experts/{twice[0]} has more than one leaf"))
        for m in opening.members:
            expert = self._experts.get(m.expert)
            if expert is None:
                out.findings.append(Finding("OPENING", f"experts/{m.expert} was never created"))
                continue
            if m.expert not in self._openings.experts:
                out.findings.append(Finding("OPENING", f"experts/{m.expert} has no openings"))
                continue
            problem = self._credit_problem(expert) or self._birth_problem(expert)
            if not problem and self._candidate(expert, avoided=False, avoid=()) is None:
                problem = "the record's profile does not parse"
            if problem:
                out.findings.append(Finding("OPENING", f"experts/{m.expert}: {problem}"))

    def _credit_problem(self, expert: _Expert) -> str:
        opened = self._openings.experts[expert.uuid]
        for code, evidence_hash, seq in expert.credits:
            pair = opened.credits.get(seq)
            if pair is None:
                return f"no opening for the credit.event at seq {seq}"
            bound = canonical.dumps({"code": code, "event_ms": pair[0], "evidence_sha256": pair[1]})
            if hashlib.sha256(bound).hexdigest() != evidence_hash:
                return f"the credit.event at seq {seq} is not opened by its event time"
        return ""

    def _birth_problem(self, expert: _Expert) -> str:
        opened = self._openings.experts[expert.uuid]
        if expert.erased and not opened.erased:
            return "erased in the log, not in the openings"
        if opened.erased and opened.birth is not None:
            return "erased per the openings, yet a birth date is given"
        if not opened.erased and opened.birth is None:
            return "no birth date opened"
        if opened.birth is not None:
            version, value, salt = opened.birth
            if (commitment(salt, value), version) != expert.birth:
                return "the birth date does not open the commitment in force"
        return ""

    def _erased(self, uid: str) -> bool:
        opened = self._openings.experts.get(uid)
        return opened is not None and opened.erased

    def _candidate(
        self, expert: _Expert, avoided: bool, avoid: tuple[str, ...]
    ) -> eligibility.Candidate | None:
        """The §8 candidate, or None when its record does not parse.

        Kept per expert until its next entry (profiles parse once, not once per draw).
        """
        hit = self._candidates.get(expert.uuid)
        if hit is None or hit[0] != expert.version or self._experts.get(expert.uuid) is not expert:
            hit = (expert.version, self._build_candidate(expert))
            if self._experts.get(expert.uuid) is expert:
                self._candidates[expert.uuid] = hit
        found = hit[1]
        if found is not None and avoided and avoid:
            return dataclasses.replace(found, id_hash=avoid[0])
        return found

    def _build_candidate(self, expert: _Expert) -> eligibility.Candidate | None:
        opened = self._openings.experts.get(expert.uuid)
        born = None
        if opened is not None and opened.birth is not None and not expert.erased:
            born = dt.date.fromisoformat(opened.birth[1])
        opened_credits = {} if opened is None else opened.credits
        events = [
            CreditEvent(code, "", pair[1], pair[0])
            for code, _, seq in expert.credits
            if (pair := opened_credits.get(seq)) is not None
        ]
        try:
            return eligibility.Candidate(
                uuid=expert.uuid, profile=profile_from_json(expert.profile), birth_date=born,
                state=State(expert.state),
                periods=tuple(StatusPeriod(Status(s), "", a, b) for s, a, b in expert.periods),
                credits=tuple(events), id_hash="",
            )  # fmt: skip
        except (KeyError, ValueError, TypeError, AttributeError):
            return None

    def _seats(
        self, draw: _Draw, inputs: eligibility.ConflictInputs, policy: Policy
    ) -> tuple[eligibility.History, set[str]]:
        seats, sealed = [], set()
        for other in self._draws.values():
            if other is draw or not other.executed or other.ended or not other.seats:
                continue
            opened = self._openings.draws.get(other.draw_id)
            if opened is None or not other.inputs_ok:
                sealed.add(other.draw_id)  # its seats, window or project cannot be known
                continue
            who = self._who.get(other.draw_id)
            if who is None:
                who = self._who[other.draw_id] = {m.pseud: m.expert for m in opened.members}
            if not other.seats <= who.keys():  # a seat the openings cannot place
                sealed.add(other.draw_id)
                continue
            w = opened.inputs.get("window") or {}
            tenderer, project = str(opened.inputs.get("tenderer")), str(
                opened.inputs.get("project_ref"))  # fmt: skip
            seats += [
                eligibility.Seat(who[p], tenderer, project, int(w.get("from", 0)),
                                 int(w.get("to", 0)))
                for p in other.seats if p in who
            ]  # fmt: skip
        return eligibility.History.from_seats(seats, inputs, policy), sealed

    def _assess(
        self,
        rules: eligibility.Rules,
        expert: _Expert,
        opening: DrawOpening,
        avoid: tuple[str, ...],
    ) -> tuple[tuple[str, ...], tuple[str, ...]] | str | None:
        candidate = self._candidate(expert, expert.uuid in opening.avoided, avoid)
        if candidate is None:
            return "unreadable"
        found = rules.assess(candidate)
        if found is None:
            return None
        return (tuple(d.decode() for d in found.discs), tuple(r.decode() for r in found.reasons))

    def _members(  # noqa: PLR0913 - the parts of checks 5 and 6
        self, opening: DrawOpening, rules: eligibility.Rules, inputs: eligibility.ConflictInputs,
        codes: tuple[str, ...], *, sealed: bool, out: DrawReplay,
    ) -> None:  # fmt: skip
        """Checks 5 and 6: membership and codes of every rebuilt expert."""
        opened = {m.expert: m for m in opening.members}
        # The avoid list is hashed under every key in force at the request: with none of
        # them, the exporter could not tell whom it names.
        keys = {h.split(":", 1)[0] for h in inputs.avoid_experts}
        blind = bool(keys) and not keys & self._openings.hash_keys
        if blind and opened:
            out.unverified["A11"] = "the avoid list's hash keys are no longer held: " + (
                ", ".join(sorted(keys)))  # fmt: skip
        erased_since: list[str] = []
        unreadable: list[str] = []
        for expert in self._under(codes, opened):
            member = opened.get(expert.uuid)
            got = self._assess(rules, expert, opening, inputs.avoid_experts)
            if isinstance(got, str):  # does not parse; a member's record failed check 3
                unreadable.append(expert.uuid)
            elif (got is None) != (member is None):
                why = ("is a member the rules do not match" if got is None
                       else "matches the request but is not a member")  # fmt: skip
                out.findings.append(Finding("MEMBERS", f"experts/{expert.uuid} {why}"))
            elif got is not None and member is not None:
                # Erased before the freeze: the service had no birth date and no identity
                # hash either, so E3 and A11 follow. Erased since: they cannot be opened.
                erased = self._erased(expert.uuid) and not expert.erased
                if erased:
                    erased_since.append(expert.uuid)
                skip = (HISTORY_CODES if sealed else frozenset()) | (
                    ERASED_CODES if erased else frozenset()) | (
                    frozenset({"A11"}) if blind else frozenset())  # fmt: skip
                _compare(member, got, skip, out)
        if erased_since:
            out.unverified[",".join(sorted(ERASED_CODES))] = "personal data erased: " + ", ".join(
                sorted(erased_since)[:10])  # fmt: skip
        if unreadable:
            out.unverified["membership"] = "records that do not parse: " + ", ".join(
                sorted(unreadable)[:10])  # fmt: skip

    def _changes(
        self, draw: _Draw, opening: DrawOpening, rules: eligibility.Rules,
        inputs: eligibility.ConflictInputs, out: DrawReplay,
    ) -> None:  # fmt: skip
        """The experts of the draw whose records changed within the look-back window.

        Members, and experts that were members before the window's first change of their
        record but are not at the freeze (a code removed, say); ``changed`` when their
        codes differ.
        """
        assert draw.freeze is not None  # noqa: S101 - only frozen draws are replayed
        window_s = self._lookback_s if self._lookback_s is not None else int(
            draw.freeze["lookback_s"])  # fmt: skip
        since = draw.freeze_ts - 1000 * window_s
        low = bisect.bisect_left(self._times, (since, ""))
        high = bisect.bisect_left(self._times, (draw.freeze_ts, ""))
        members = {m.expert for m in opening.members}
        for uid in sorted({u for _, u in self._times[low:high]}):
            recent = [e for e in self._history[uid] if since <= int(e["ts"]) < draw.freeze_ts]
            codes = self._before_and_at(uid, recent, rules, opening, inputs)
            if codes is None:
                continue  # a record that does not parse: nothing to compare
            before, at_freeze = codes
            if uid not in members and before is None:
                continue  # neither then nor now a member: not this draw's
            out.lookback.append(Change(
                uid, tuple(int(e["seq"]) for e in recent), tuple(str(e["kind"]) for e in recent),
                before, at_freeze, before != at_freeze,
            ))  # fmt: skip

    def _before_and_at(
        self, uid: str, recent: list[Mapping[str, Any]], rules: eligibility.Rules,
        opening: DrawOpening, inputs: eligibility.ConflictInputs,
    ) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None] | None:  # fmt: skip
        """The codes before the window (or as created in it) and at the freeze."""
        first = int(recent[0]["seq"]) + (recent[0]["kind"] == "expert.create")
        earlier: dict[str, _Expert] = {}
        for e in self._history[uid]:
            if int(e["seq"]) < first:
                _apply_expert(earlier, e)
        found: list[tuple[str, ...] | None] = []
        for expert in (earlier.get(uid), self._experts.get(uid)):
            if expert is None:
                found.append(None)
                continue
            got = self._assess(rules, expert, opening, inputs.avoid_experts)
            if isinstance(got, str):
                return None
            codes = None if got is None else got[1]
            if codes is not None and self._erased(uid):  # E3, A11 cannot be opened any more
                codes = tuple(c for c in codes if c not in ERASED_CODES)
            found.append(codes)
        return found[0], found[1]

    # -- the end -----------------------------------------------------------------------

    def finish(self) -> ReplayReport:
        """Check the openings against the whole log and compute the patterns."""
        report = self._report
        report.problems += self._contradictions()
        for draw in self._draws.values():
            opened = self._openings.draws.get(draw.draw_id)
            project = (
                f"project:{opened.inputs.get('project_ref')}" if opened is not None
                else f"tender:{draw.request.get('tender_ref')}"
            )  # fmt: skip
            for pattern in (report.requesters[draw.requester], report.projects[project]):
                pattern.draws += 1
                pattern.abandoned += int(draw.committed and not draw.executed and draw.ended)
                pattern.redraws += int(bool(draw.request.get("supersedes")))
                pattern.declines += draw.declines
                if draw.cancel_reason:
                    pattern.cancellations[draw.cancel_reason] += 1
        return report

    def _contradictions(self) -> list[str]:
        """Where the openings contradict the whole verified log (§15 Verdicts)."""
        openings, found = self._openings, []
        if openings.size > self._size:
            found.append(f"the openings speak of {openings.size} entries; the log has {self._size}")
        if openings.sha256 not in self._logged:
            found.append(
                f"no export entry 'replay-openings size {openings.size}' logs these openings "
                "(their SHA-256): a disclosure off the record, or a file changed since"
            )
        for uid, person in sorted(openings.experts.items()):
            expert = self._experts.get(uid)
            if person.erased and (expert is None or not 0 <= expert.erased_seq < openings.size):
                found.append(f"experts/{uid} is erased per the openings but not in the log "
                             f"before seq {openings.size}")  # fmt: skip
        replayed = {d.draw_id for d in self._report.draws}
        found += [f"draws/{d} is opened but has no committed freeze"
                  for d in sorted(set(openings.draws) - replayed)]  # fmt: skip
        for draw in self._draws.values():
            opened = draw.draw_id in openings.draws
            finished = draw.end_seq is not None and draw.end_seq < openings.size
            frozen = draw.freeze is not None and draw.freeze_seq < openings.size
            if opened and not (finished and frozen):
                found.append(
                    f"draws/{draw.draw_id} is opened but was not frozen, then closed, "
                    f"cancelled or expired, before seq {openings.size}"
                )
            elif not opened and finished and frozen:
                found.append(f"draws/{draw.draw_id} was frozen and finished before seq "
                             f"{openings.size} but the openings leave it out")  # fmt: skip
        return found


def _compare(
    member: Member, got: tuple[tuple[str, ...], tuple[str, ...]], skip: frozenset[str],
    out: DrawReplay,
) -> None:  # fmt: skip
    """Check 6: the rules' codes against the committed ones, unverified codes aside."""
    discs, reasons = got
    derived = {r for r in reasons if r not in skip}
    committed = {r for r in member.reasons if r not in skip}
    if discs != member.discs or derived != committed:
        out.findings.append(Finding("REASONS", (
            f"experts/{member.expert} (pseud {member.pseud.hex()}): committed "
            f"{list(member.discs)} {sorted(member.reasons)}, the rules give "
            f"{list(discs)} {list(reasons)}"
        )))  # fmt: skip


def _seat_change(draw: _Draw, kind: str, data: Mapping[str, Any]) -> None:
    """§15 Seats: execute, decline, replace, cancel, expire."""
    if kind == "draw.execute":
        draw.executed = True
        draw.seats = {bytes.fromhex(p) for d in data["panels"] for p in d["panel"]}
    elif kind == "draw.decline":
        draw.seats.discard(bytes.fromhex(data["pseud"]))
        draw.declines += 1
    elif kind == "draw.replace":
        draw.seats.discard(bytes.fromhex(data["out"]))
        draw.seats.add(bytes.fromhex(data["in"]))
    elif kind == "draw.cancel":
        draw.ended, draw.cancel_reason = True, str(data["reason"])
    elif kind == "draw.expire":
        draw.ended = True


def _inputs(value: Mapping[str, Any], out: DrawReplay) -> eligibility.ConflictInputs | None:
    try:
        window, region = value["window"], value["region"]
        return eligibility.ConflictInputs(
            tenderer=value["tenderer"], agency=value["agency"], bidders=tuple(value["bidders"]),
            avoid_orgs=tuple(value["avoid_orgs"]), avoid_experts=tuple(value["avoid_experts"]),
            window=eligibility.Window(int(window["from"]), int(window["to"])),
            region=eligibility.RegionRule(tuple(region["include"]), tuple(region["exclude"]),
                                          region["reason"]),
            venue_region=value["venue_region"], library_type=value["library_type"],
            project_ref=value["project_ref"], salt=value["salt"],
        )  # fmt: skip
    except (KeyError, TypeError, ValueError):
        out.findings.append(Finding("INPUTS", "the opened inputs are not a replay inputs object"))
        return None


def replay(entries: Iterable[Mapping[str, Any]], openings: Openings, *, origin: str,
           lookback_s: int | None = None) -> ReplayReport:  # fmt: skip
    """Replay every opened draw of ``entries`` (in ``seq`` order)."""
    replayer = Replayer(openings, origin=origin, lookback_s=lookback_s)
    for entry in entries:
        replayer.add(entry)
    return replayer.finish()


__all__ = [
    "Change", "DrawOpening", "DrawReplay", "ExpertOpening", "Finding", "Member", "Openings",
    "OpeningsError", "Pattern", "ReplayReport", "Replayer", "parse_openings",
    "replay",
]  # fmt: skip
