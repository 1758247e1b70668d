"""A second replay verifier, written from docs/spec/draw-v1.md §15 (and §1, §2, §4, §8, §9),
docs/spec/audit-log-v1.md and docs/policy.md alone.

It shares nothing with ``expert_draw`` or ``cli``: only the aud1 codec
(``audit_log.canonical``) is imported. ``run(case)`` reads ``export/entries.aud1`` (the
log, already verified) and ``openings.json`` and returns the verdict in the shape of the
replay vectors' ``expected.json``.

Where the specification leaves a choice open, the reading taken is marked ``reading:``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from audit_log import canonical

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

Json = Any
CHECKS = ("INPUTS", "POLICY", "OPENING", "ROOTS", "MEMBERS", "REASONS")
HISTORY_CODES = ("BUSY_WINDOW", "FREQ_CAP", "FREQ_TENDERER", "SAME_PROJECT")
TITLE_LEVELS = {"junior": 0, "intermediate": 1, "associate_senior": 2, "senior": 3}
DAY_MS = 86_400_000
CST_MS = 28_800_000
EPOCH = dt.date(1970, 1, 1)
_HEX = re.compile(r"[0-9a-f]*")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SCORE = re.compile(r"score:([0-9]+)")
_DRAW_ID = re.compile(r"[a-z0-9-]{1,56}")
_DISC = re.compile(r"[A-Z0-9]{1,16}")
_REASON = re.compile(r"[A-Z0-9_]{1,16}")
_REGION = re.compile(r"[0-9]{6}")
TERMINAL = ("draw.close", "draw.cancel", "draw.expire")


class UsageError(Exception):
    """The openings file is not the §15 object (exit 4)."""


class ProfileError(Exception):
    """A record's profile does not parse."""


# ---------------------------------------------------------------- §1 encodings, §2 roots


def h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def enc(*fields: bytes) -> bytes:
    return b"".join(len(f).to_bytes(4, "big") + f for f in fields)


def dec(data: bytes) -> list[bytes]:
    """Split ``enc`` bytes into fields; raises ValueError on a bad length prefix."""
    out: list[bytes] = []
    i = 0
    while i < len(data):
        if i + 4 > len(data):
            raise ValueError("truncated length")
        n = int.from_bytes(data[i : i + 4], "big")
        i += 4
        if i + n > len(data):
            raise ValueError("field past the end")
        out.append(data[i : i + n])
        i += n
    return out


def mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return h(b"")
    if len(leaves) == 1:
        return h(b"\x00" + leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return h(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def idc(salt: bytes, uuid_text: str) -> bytes:
    return h(enc(b"EDS1/idc", salt, bytes.fromhex(uuid_text.replace("-", ""))))


def leaf_bytes(pseud: bytes, discs: list[str], reasons: list[str], ident: bytes) -> bytes:
    d = enc(*(x.encode() for x in discs))
    if not reasons:
        return enc(b"EDS1/leaf", pseud, d, ident)
    return enc(b"EDS1/xleaf", pseud, d, enc(*(x.encode() for x in reasons)), ident)


def commit_hex(salt: bytes, value: str) -> str:
    return h(b"aud1/commit\x00" + salt + value.encode()).hex()


# ---------------------------------------------------------------- §4 params


def read_params(hex_params: str) -> tuple[str, str]:
    """Return (edition, match_mode) of the params; ValueError if they do not parse."""
    f = dec(bytes.fromhex(hex_params))
    if len(f) != 18 or f[0] != b"EDS1/params" or f[1] != b"EDS-1":
        raise ValueError("not EDS-1 params")
    edition, mode = f[5].decode(), f[7].decode()
    if not edition or mode not in ("prefix", "exact"):
        raise ValueError("bad edition or match mode")
    return edition, mode


# ---------------------------------------------------------------- §8 dates


def cst_date(t: int) -> dt.date:
    return EPOCH + dt.timedelta(days=(t + CST_MS) // DAY_MS)


def back(day: dt.date, n: int) -> dt.date:
    y = day.year - n
    try:
        return day.replace(year=y)
    except ValueError:  # 29 February in a common year
        return dt.date(y, 2, 28)


def back_ms(t: int, n: int) -> int:
    d = cst_date(t)
    return t - (d - back(d, n)).days * DAY_MS


def parse_date(value: object) -> dt.date:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ProfileError(f"not a date: {value!r}")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ProfileError(str(value)) from exc


def opt_date(value: object) -> dt.date | None:
    if value is None or value == "":
        return None
    return parse_date(value)


# ---------------------------------------------------------------- the library (§15)


@dataclass
class Period:
    status: str
    start: int
    end: int | None


@dataclass
class Expert:
    uuid: str
    create_seq: int
    profile: dict[str, Json]
    state: str
    bd_commit: str | None
    bd_version: int | None
    erased: bool = False
    periods: list[Period] = field(default_factory=list)
    credits: list[tuple[str, int, str]] = field(default_factory=list)  # (code, seq, evidence_hash)

    def copy(self) -> Expert:
        return Expert(
            self.uuid,
            self.create_seq,
            dict(self.profile),
            self.state,
            self.bd_commit,
            self.bd_version,
            self.erased,
            [Period(p.status, p.start, p.end) for p in self.periods],
            list(self.credits),
        )


PROFILE_KEYS = (
    "title",
    "work_start",
    "qualifications",
    "disciplines",
    "region",
    "accepts_remote",
    "library_type",
    "review",
    "declaration_date",
    "training_date",
    "age_exempt",
    "education",
    "affiliations",
)


def apply_expert(lib: dict[str, Expert], e: Json) -> None:
    """Apply one entry to the library (§15 Rebuilding the library)."""
    subj, kind, data = e["subj"], e["kind"], e["data"]
    if not subj.startswith("experts/"):
        return
    uuid = subj[len("experts/") :]
    if kind == "expert.create":
        rec = data["record"]
        prof = {k: rec[k] for k in PROFILE_KEYS if k in rec}
        lib[uuid] = Expert(
            uuid, e["seq"], prof, rec.get("state"), rec.get("birth_date_commit"), rec.get("version")
        )
        return
    x = lib.get(uuid)
    if x is None:
        return  # reading: an entry on an expert not (yet) created changes nothing
    if kind == "expert.update":
        fld, val = data["field"], data["value"]
        if fld == "personal":
            if val == "erased":
                x.erased = True
        elif fld == "birth_date_commit":
            x.bd_commit, x.bd_version = val["commit"], val["version"]
        elif fld in PROFILE_KEYS:
            x.profile[fld] = val
        # reading: a field that is neither a commitment nor a profile member of the §15
        # table names nothing the replay reads, so it changes nothing.
    elif kind == "expert.status":
        apply_status(x, data)
    elif kind == "expert.delete":
        x.state = "deleted"
    elif kind == "credit.event":
        x.credits.append((data["code"], e["seq"], data["evidence_hash"]))


def apply_status(x: Expert, data: Json) -> None:
    status, start, end = data["status"], data["valid_from"], data["valid_to"]
    if status == "active":
        x.state = "active"
        return
    for p in x.periods:
        if (
            p.status == status
            and p.start == start
            and (p.end is None or (end is not None and p.end > end))
        ):
            p.end = end
            return
    x.periods.append(Period(status, start, end))


# ---------------------------------------------------------------- the policy


@dataclass
class Policy:
    c: dict[str, Json]

    def __call__(self, table: str, key: str) -> Json:
        return self.c[table][key]


# ---------------------------------------------------------------- §8 evaluation


@dataclass
class Seat:
    draw_id: str
    tenderer: str
    project_ref: str
    start: int
    end: int


@dataclass
class DrawCtx:
    """Everything about draw X that §8 reads besides the expert."""

    codes: list[str]
    edition: str
    match_mode: str
    policy: Policy
    inputs: dict[str, Json]
    avoided: set[str]
    seats: dict[str, list[Seat]]  # expert uuid -> seats held at the freeze

    @property
    def frm(self) -> int:
        return int(window(self.inputs)[0])

    @property
    def to(self) -> int:
        return int(window(self.inputs)[1])


def window(inputs: dict[str, Json]) -> tuple[int, int]:
    """reading: §8 never names the inputs' members; the vectors carry ``window: {from, to}``."""
    w = inputs["window"]
    return w["from"], w["to"]


def split_code(code: object) -> tuple[str, str]:
    """An expert discipline ``<edition>/<code>`` (docs/expert-library.md: ``2018/A010101``)."""
    if not isinstance(code, str) or code.count("/") != 1:
        raise ProfileError(f"discipline {code!r}")
    ed, _, c = code.partition("/")
    return ed, c


def match_discs(profile: dict[str, Json], ctx: DrawCtx) -> tuple[list[str], bool]:
    """§8 Matching: (discs, legacy)."""
    held = profile.get("disciplines") or []
    if not isinstance(held, list):
        raise ProfileError("disciplines")
    pairs = [split_code(c) for c in held]
    legacy_eds = [x for x in ctx.policy("matching", "legacy_editions") if x != ctx.edition]

    def matched(eds: Iterable[str]) -> list[str]:
        mine = [c for ed, c in pairs if ed in set(eds)]
        out = [
            d
            for d in ctx.codes
            if any((c == d) if ctx.match_mode == "exact" else c.startswith(d) for c in mine)
        ]
        return sorted(set(out), key=str.encode)

    if any(ed == ctx.edition for ed, _ in pairs):
        return matched([ctx.edition]), False
    return matched(legacy_eds), True


@dataclass
class Opened:
    """The openings of one expert at a freeze."""

    birth: dt.date | None  # None: unknown (erased)
    erased: bool  # `erased` true in the openings: E3 and A11 leave the look-back's sets
    unverified: set[str]  # E3 and A11 when erased since the freeze
    events: list[tuple[str, int, int]]  # (code, event_ms, seq) in seq order


def reasons_for(x: Expert, op: Opened, ctx: DrawCtx) -> set[str]:
    """§8 reasons of an expert (not LEGACY_EDITION, which matching adds)."""
    p = x.profile
    frm, to = ctx.frm, ctx.to
    first, last = cst_date(frm), cst_date(to - 1)
    out: set[str] = set()
    if e1(p, first, ctx.policy):
        out.add("E1")
    if ctx.policy("declaration", "required"):
        dd = opt_date(p.get("declaration_date"))
        if dd is None or dd > first:
            out.add("E2")
    if e3(p, op, first, ctx.policy):
        out.add("E3")
    if ctx.policy("training", "required"):
        td = opt_date(p.get("training_date"))
        n = ctx.policy("training", "max_age_years")
        if td is None or td > first or (n > 0 and td < back(first, n)):
            out.add("E4")
    out |= credit_codes(op, frm, ctx.policy)
    if any(meets(pp, frm, to) and pp.status == "blacklisted" for pp in x.periods):
        out.add("E5")
    if (
        x.state == "deleted"
        or p.get("review") != "approved"
        or any(pp.status != "active" and meets(pp, frm, to) for pp in x.periods)
    ):
        out.add("E6")
    lt = ctx.inputs.get("library_type") or ""
    if lt:
        accepted = ctx.policy.c["library_types"].get(lt, [])
        if p.get("library_type") not in accepted:
            out.add("E7")
    if c5(op, frm, ctx.policy):
        out.add("C5")
    out |= affiliation_codes(p, first, last, ctx)
    if x.uuid in ctx.avoided and not x.erased:  # §15: erased before the freeze: never avoided
        out.add("A11")
    out |= region_codes(p, ctx)
    out |= history_codes(x.uuid, ctx)
    return out


def meets(pp: Period, frm: int, to: int) -> bool:
    return pp.start < to and (pp.end is None or (pp.end > frm and pp.end > pp.start))


def title_ok(p: dict[str, Json], first: dt.date, pol: Policy) -> bool:
    title = p.get("title")
    if not isinstance(title, dict):
        return False
    level = TITLE_LEVELS.get(title.get("level"))  # type: ignore[arg-type]
    obtained = opt_date(title_date(title))
    if level is None or obtained is None or obtained > first:
        return False
    need = TITLE_LEVELS[pol("experience", "min_title")]
    if level >= need:
        return True
    if level < TITLE_LEVELS["intermediate"]:
        return False
    if pol("experience", "intermediate_with_registration"):
        for q in p.get("qualifications") or []:
            reg = opt_date(qual_date(q))
            if reg is not None and reg <= first:
                return True
    n = pol("experience", "intermediate_min_years")
    return bool(n > 0 and obtained <= back(first, n))


def title_date(title: dict[str, Json]) -> Json:
    """reading: §8 names the date ``obtained`` (the vectors' ``title.obtained``)."""
    return title.get("obtained")


def qual_date(q: Json) -> Json:
    """reading: §8 names a qualification's date ``registered``; no vector has one."""
    if not isinstance(q, dict):
        raise ProfileError("qualification")
    return q.get("registered")


def e1(p: dict[str, Json], first: dt.date, pol: Policy) -> bool:
    ws = opt_date(p.get("work_start"))
    years_ok = ws is not None and ws <= back(first, pol("experience", "min_years_in_field"))
    return not (years_ok and title_ok(p, first, pol))


def e3(p: dict[str, Json], op: Opened, first: dt.date, pol: Policy) -> bool:
    cap = pol("age", "cap")
    if cap <= 0 or (p.get("age_exempt") is True and pol("age", "exempt_lifts_cap")):
        return False
    if op.birth is None:
        return True
    n = cap if pol("age", "mode") == "lt" else cap + 1
    return op.birth <= back(first, n)


def credit_codes(op: Opened, frm: int, pol: Policy) -> set[str]:
    out: set[str] = set()
    cut = back_ms(frm, pol("credit", "lookback_years"))
    for code, ms, _ in op.events:
        if code in pol("credit", "lifetime_codes") or (
            code in pol("credit", "codes") and ms >= cut
        ):
            out.add("E5")
        if code in pol("credit", "tendering_penalty_codes"):
            out.add("A4")
    return out


def c5(op: Opened, frm: int, pol: Policy) -> bool:
    cut = back_ms(frm, pol("scores", "lookback_years"))
    scores: list[tuple[int, int, int]] = []  # (event_ms, seq, n)
    refusals = 0
    for code, ms, seq in op.events:
        if ms < cut:
            continue
        m = _SCORE.fullmatch(code)
        if m:
            scores.append((ms, seq, int(m.group(1))))
        if code in pol("scores", "refusal_codes"):
            refusals += 1
    if scores:
        latest = max(scores)[2]
        if latest < pol("scores", "min_latest"):
            return True
        if sum(s[2] for s in scores) < pol("scores", "min_mean") * len(scores):
            return True
    m_ref = pol("scores", "max_refusals")
    return bool(m_ref > 0 and refusals >= m_ref)


AFF_TABLE = {
    "employer": {"tenderer": "A7", "agency": "A7", "bidder": "A5", "avoid": "A11"},
    "registration": {"tenderer": "A10", "agency": "A10", "bidder": "A10", "avoid": "A11"},
    "relative": {"tenderer": "A8", "agency": "A8", "bidder": "A1", "avoid": "A11"},
    "declared_avoid": {"tenderer": "A11", "agency": "A11", "bidder": "A11", "avoid": "A11"},
    "supervising_post": {"tenderer": "A2", "agency": "A2", "bidder": "A2", "avoid": "A2"},
}


def aff_org(a: dict[str, Json]) -> Json:
    """reading: the organisation's 统一社会信用代码 is ``org`` (as in the vectors)."""
    if not isinstance(a.get("org"), str):
        raise ProfileError("affiliation without organisation")
    return a["org"]


def affiliation_codes(p: dict[str, Json], first: dt.date, last: dt.date, ctx: DrawCtx) -> set[str]:
    inp, pol = ctx.inputs, ctx.policy
    roles: dict[str, set[str]] = {}
    roles.setdefault(inp["tenderer"], set()).add("tenderer")
    if inp.get("agency"):
        roles.setdefault(inp["agency"], set()).add("agency")
    for b in inp.get("bidders") or []:
        roles.setdefault(b, set()).add("bidder")
    for o in inp.get("avoid_orgs") or []:
        roles.setdefault(o, set()).add("avoid")
    out: set[str] = set()
    affs = p.get("affiliations") or []
    if not isinstance(affs, list):
        raise ProfileError("affiliations")
    for a in affs:
        if not isinstance(a, dict) or a.get("kind") not in AFF_TABLE:
            raise ProfileError("affiliation")
        kind = a["kind"]
        start, end = opt_date(a.get("start")), opt_date(a.get("end"))
        if kind == "declared_avoid":
            cutoff = first
        elif kind == "supervising_post":
            cutoff = back(first, pol("avoidance", "supervising_lookback_years"))
        else:
            cutoff = back(first, pol("avoidance", "lookback_years"))
        # reading: a null `start` (§15 allows `date?`) bounds nothing.
        if not ((start is None or start <= last) and (end is None or end >= cutoff)):
            continue
        if kind == "supervising_post" and pol("avoidance", "supervising_post") == "any":
            out.add("A2")
            continue
        for role in roles.get(aff_org(a), set()):
            out.add(AFF_TABLE[kind][role])
    return out


def area(code: str) -> str:
    c = code
    while len(c) > 2 and c.endswith("00"):
        c = c[:-2]
    return c


def region_codes(p: dict[str, Json], ctx: DrawCtx) -> set[str]:
    inp = ctx.inputs
    region = inp.get("region") or {}
    inc, exc = region.get("include") or [], region.get("exclude") or []
    mine = p.get("region") or ""
    out: set[str] = set()
    if (inc and not any(mine.startswith(area(a)) for a in inc)) or any(
        mine.startswith(area(a)) for a in exc
    ):
        out.add("REGION")
    k = ctx.policy("region", "venue_prefix_digits")
    venue = inp.get("venue_region") or ""
    if k > 0 and venue and p.get("accepts_remote") is not True and mine[:k] != venue[:k]:
        out.add("REMOTE")
    return out


def history_codes(uuid: str, ctx: DrawCtx) -> set[str]:
    pol, frm, to = ctx.policy, ctx.frm, ctx.to
    pad = pol("history", "padding_minutes") * 60_000
    out: set[str] = set()
    n_all = n_ten = 0
    for s in ctx.seats.get(uuid, []):
        if s.start < to + pad and frm - pad < s.end:
            out.add("BUSY_WINDOW")
        if pol("history", "exclude_same_project") and s.project_ref == ctx.inputs["project_ref"]:
            out.add("SAME_PROJECT")
        if s.start >= frm - pol("history", "per_expert_days") * DAY_MS:
            n_all += 1
        if (
            s.tenderer == ctx.inputs["tenderer"]
            and s.start >= frm - pol("history", "per_tenderer_days") * DAY_MS
        ):
            n_ten += 1
    m = pol("history", "per_expert_max")
    if m > 0 and n_all >= m:
        out.add("FREQ_CAP")
    m = pol("history", "per_tenderer_max")
    if m > 0 and n_ten >= m:
        out.add("FREQ_TENDERER")
    return out


def evaluate(x: Expert, op: Opened, ctx: DrawCtx) -> tuple[list[str], set[str]]:
    """§8 for one expert: (discs, reasons); discs empty means no member."""
    discs, legacy = match_discs(x.profile, ctx)
    if not discs:
        return [], set()
    reasons = reasons_for(x, op, ctx)
    if legacy:
        reasons.add("LEGACY_EDITION")
    return discs, reasons


# ---------------------------------------------------------------- the openings file


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise UsageError(what)


def _hex(v: object, n: int | None) -> bool:
    return (
        isinstance(v, str)
        and _HEX.fullmatch(v) is not None
        and len(v) % 2 == 0
        and (n is None or len(v) == 2 * n)
    )


def _int(v: object) -> bool:
    return type(v) is int and v >= 0


def _keys(o: object, keys: set[str], what: str) -> dict[str, Json]:
    _need(isinstance(o, dict) and set(o) == keys, what)
    return o  # type: ignore[return-value]


def _ascending(v: list[str]) -> bool:
    """Strictly ascending by bytes: in order and without a repeat."""
    b = [x.encode() for x in v]
    return all(b[i] < b[i + 1] for i in range(len(b) - 1))


def _strs(v: object, pattern: re.Pattern[str] | None = None) -> bool:
    return isinstance(v, list) and all(
        isinstance(c, str) and (pattern is None or pattern.fullmatch(c) is not None) for c in v
    )


def _codes(v: object, pattern: re.Pattern[str]) -> bool:
    """``[code]`` as §15 has it: codes of the §1 form, a set sorted ascending by bytes."""
    return _strs(v, pattern) and _ascending(v)  # type: ignore[arg-type]


def _uuid(v: object) -> bool:
    return isinstance(v, str) and _UUID.fullmatch(v) is not None


def _date_text(v: object) -> bool:
    if not isinstance(v, str) or not _DATE.fullmatch(v):
        return False
    try:
        dt.date.fromisoformat(v)
    except ValueError:
        return False
    return True


def _read_draw(d: object) -> dict[str, Json]:
    d = _keys(d, {"draw_id", "inputs", "members", "avoided"}, "draw")
    _need(isinstance(d["draw_id"], str) and _DRAW_ID.fullmatch(d["draw_id"]) is not None, "id")
    # §15: `inputs` is excepted; any object is read and check 1 judges it.
    _need(isinstance(d["inputs"], dict), "inputs")
    _need(isinstance(d["members"], list), "members")
    for m in d["members"]:
        _keys(m, {"pseud", "expert", "salt", "discs", "reasons"}, "member")
        _need(_hex(m["pseud"], 16) and _hex(m["salt"], 32) and _uuid(m["expert"]), "member")
        _need(_codes(m["discs"], _DISC) and _codes(m["reasons"], _REASON), "member codes")
    _need(_ascending([m["pseud"] for m in d["members"]]), "members not ascending by pseud")
    _need(_strs(d["avoided"]) and all(_uuid(a) for a in d["avoided"]), "avoided")
    _need(_ascending(d["avoided"]), "avoided order")
    # reading: `avoided` names members ("the expert of every member whose ..."); an
    # expert that is no member of the draw departs from the description.
    _need(set(d["avoided"]) <= {m["expert"] for m in d["members"]}, "avoided non-member")
    return d


def _read_expert(x: object) -> dict[str, Json]:
    x = _keys(x, {"expert", "erased", "birth_date", "credits"}, "expert")
    _need(_uuid(x["expert"]) and type(x["erased"]) is bool, "expert/erased")
    bd = x["birth_date"]
    if bd is not None:
        bd = _keys(bd, {"version", "value", "salt"}, "birth_date")
        _need(type(bd["version"]) is int and _date_text(bd["value"]), "birth_date")
        _need(_hex(bd["salt"], 32), "birth_date salt")
    # reading: `erased` and `birth_date` that disagree (erased with a birth date, or not
    # erased with none) are judged by OPENING (§15 Erasure), not read as a form error:
    # "otherwise the openings must give a birth date" is a check, not a form.
    _need(isinstance(x["credits"], list), "credits")
    for item in x["credits"]:
        c = _keys(item, {"seq", "event_ms", "evidence_sha256"}, "credit")
        _need(_int(c["seq"]) and type(c["event_ms"]) is int, "credit ints")
        _need(_hex(c["evidence_sha256"], 32), "credit hex")
    seqs = [c["seq"] for c in x["credits"]]
    _need(all(seqs[i] < seqs[i + 1] for i in range(len(seqs) - 1)), "credits order")
    return x


def read_openings(raw: bytes) -> dict[str, Json]:
    """Parse and check the openings file against §15's description; a departure is exit 4."""
    try:
        o = canonical.loads(raw)
    except Exception as exc:
        raise UsageError("not canonical aud1") from exc
    o = _keys(o, {"openings_v", "origin", "size", "hash_keys", "draws", "experts"}, "top level")
    _need(type(o["openings_v"]) is int and o["openings_v"] == 1, "openings_v")
    _need(isinstance(o["origin"], str) and _int(o["size"]), "origin/size")
    # `hash_keys`: ascending, unique, each a non-empty string.
    _need(_strs(o["hash_keys"]) and all(o["hash_keys"]), "hash_keys")
    _need(_ascending(o["hash_keys"]), "hash_keys order")
    _need(isinstance(o["draws"], list) and isinstance(o["experts"], list), "arrays")
    for d in o["draws"]:
        _read_draw(d)
    for x in o["experts"]:
        _read_expert(x)
    _need(_ascending([d["draw_id"] for d in o["draws"]]), "draws not ascending")
    experts = [x["expert"] for x in o["experts"]]
    _need(_ascending(experts), "experts not ascending")
    # reading: "one object per expert that is a member of an opened draw": an object for
    # an expert that is a member of no draw of the file departs from it (exit 4); a
    # missing one is OPENING's ("every member's expert has ... an `experts` object").
    members = {m["expert"] for d in o["draws"] for m in d["members"]}
    _need(set(experts) <= members, "expert of no draw")
    return o


_INPUT_KEYS = {
    "tenderer",
    "agency",
    "bidders",
    "avoid_orgs",
    "avoid_experts",
    "window",
    "region",
    "venue_region",
    "library_type",
    "project_ref",
    "salt",
}


def inputs_form(inputs: object) -> bool:
    """The replay inputs object of the §15 table (members, forms, ascending lists)."""
    if not isinstance(inputs, dict) or set(inputs) != _INPUT_KEYS:
        return False
    w, r = inputs["window"], inputs["region"]
    lists = [inputs["bidders"], inputs["avoid_orgs"], inputs["avoid_experts"]]
    if isinstance(r, dict) and set(r) == {"include", "exclude", "reason"}:
        lists += [r["include"], r["exclude"]]
    else:
        return False
    return (
        all(isinstance(inputs[k], str) for k in _STR_INPUTS)
        and all(_strs(v) and _ascending(v) for v in lists)
        and isinstance(r["reason"], str)
        and isinstance(w, dict)
        and set(w) == {"from", "to"}
        and type(w["from"]) is int
        and type(w["to"]) is int
        and _hex(inputs["project_ref"], 32)
        and _hex(inputs["salt"], 32)
    )


_STR_INPUTS = ("tenderer", "agency", "venue_region", "library_type")


# ---------------------------------------------------------------- the replay


@dataclass
class DrawLog:
    draw_id: str
    request: Json = None
    freeze: Json = None
    commit: Json = None
    terminal_seq: int | None = None
    entries: list[Json] = field(default_factory=list)


@dataclass
class Result:
    checks: set[str] = field(default_factory=set)
    unverified: set[str] = field(default_factory=set)
    changed: list[str] = field(default_factory=list)

    def verdict(self) -> str:
        if self.checks:
            return "FAILED"
        return "PARTIAL" if self.unverified else "OK"


class Replay:
    def __init__(self, entries: list[Json], openings: dict[str, Json]) -> None:
        self.size = min(openings["size"], len(entries))
        self.entries = entries[: self.size]
        self.openings = openings
        self.odraws: dict[str, Json] = {d["draw_id"]: d for d in openings["draws"]}
        self.oexperts: dict[str, Json] = {x["expert"]: x for x in openings["experts"]}
        self.draws: dict[str, DrawLog] = {}
        for e in self.entries:
            subj = e["subj"]
            if not subj.startswith("draws/"):
                continue
            dl = self.draws.setdefault(subj[6:], DrawLog(subj[6:]))
            dl.entries.append(e)
            kind = e["kind"]
            if kind == "draw.request" and dl.request is None:
                dl.request = e
            elif kind == "pool.freeze" and dl.freeze is None:
                dl.freeze = e
            elif kind == "draw.commit" and dl.commit is None:
                dl.commit = e
            elif kind in TERMINAL and dl.freeze is not None and dl.terminal_seq is None:
                dl.terminal_seq = e["seq"]

    def erasure_contradicted(self) -> bool:
        """§15 Erasure: an expert the openings call `erased` must have its erasure (an
        `expert.update` of `personal` to "erased") in the log at `seq < size`."""
        lib = self.library(self.size)
        return any(
            ox["erased"] and (ox["expert"] not in lib or not lib[ox["expert"]].erased)
            for ox in self.openings["experts"]
        )

    def opened_per_log(self) -> set[str]:
        return {
            k for k, d in self.draws.items() if d.freeze is not None and d.terminal_seq is not None
        }

    # ---- library at seq < f

    def library(self, before: int) -> dict[str, Expert]:
        lib: dict[str, Expert] = {}
        for e in self.entries[:before]:
            if e["kind"].startswith("expert.") or e["kind"] == "credit.event":
                apply_expert(lib, e)
        return lib

    # ---- seats at seq < f

    def seats_at(self, f: int, x_id: str) -> tuple[dict[str, list[Seat]], bool]:
        """Seats held at X's freeze, by expert uuid; and whether some seat cannot be verified."""
        executed: dict[str, list[str]] = {}
        ended: set[str] = set()
        for e in self.entries[:f]:
            subj, kind, data = e["subj"], e["kind"], e["data"]
            if not subj.startswith("draws/"):
                continue
            y = subj[6:]
            if kind == "draw.execute":
                executed[y] = [p for it in data["panels"] for p in it["panel"]]
            elif y not in executed:
                continue
            elif kind == "draw.decline":
                executed[y] = [p for p in executed[y] if p != data["pseud"]]
            elif kind == "draw.replace":
                executed[y] = [p for p in executed[y] if p != data["out"]] + [data["in"]]
            elif kind in ("draw.cancel", "draw.expire"):
                ended.add(y)
        seats: dict[str, list[Seat]] = {}
        unverifiable = False
        for y, pseuds in executed.items():
            if y == x_id or y in ended or not pseuds:
                continue  # §15: only a Y executed, not ended and holding at least one seat
            oy, dy = self.odraws.get(y), self.draws.get(y)
            if (
                oy is None
                or dy is None
                or dy.request is None
                or not inputs_form(oy["inputs"])
                or h(canonical.dumps(oy["inputs"])).hex() != dy.request["data"]["inputs_sha256"]
            ):
                unverifiable = True  # Y not opened, or its opened inputs are not its inputs
                continue
            inp = oy["inputs"]
            by_pseud = {m["pseud"]: m["expert"] for m in oy["members"]}
            start, end = window(inp)
            for p in pseuds:
                uuid = by_pseud.get(p)
                if uuid is None:
                    unverifiable = True  # a seat's pseudonym not among Y's opened members
                    continue
                seats.setdefault(uuid, []).append(
                    Seat(y, inp["tenderer"], inp["project_ref"], start, end)
                )
        return seats, unverifiable

    # ---- policy

    def policy_at(self, f: int, digest: str) -> Policy | None:
        found = None
        for e in self.entries[:f]:
            if e["kind"] == "policy.set" and e["data"]["digest"] == digest:
                found = e
        if found is None:
            return None
        cfg = found["data"]["config"]
        if h(canonical.dumps(cfg)).hex() != digest or not policy_complete(cfg):
            return None
        return Policy(cfg)

    # ---- openings of one member

    def opened(self, x: Expert, ox: Json) -> Opened | None:
        """The openings of member ``x`` at the freeze (library at ``seq < f``); None: OPENING."""
        ok = True
        by_seq = {c["seq"]: c for c in ox["credits"]}
        events: list[tuple[str, int, int]] = []
        for code, seq, ev_hash in x.credits:
            c = by_seq.get(seq)
            if c is None or opening_hash(code, c) != ev_hash:
                ok = False
                continue
            events.append((code, c["event_ms"], seq))
        bd = ox["birth_date"]
        birth: dt.date | None = None
        unverified: set[str] = set()
        if x.erased:
            # erased in the log at seq < f: "Its openings must say erased true and
            # birth_date null"; no birth date, never avoided, nothing unverified.
            ok = ok and ox["erased"] is True and bd is None
        elif ox["erased"]:
            # erased since: no birth date can be opened; E3 and A11 unverified.
            # reading: an erased expert with a birth date departs from "null when erased".
            ok = ok and bd is None
            unverified = {"E3", "A11"}
        elif bd is None:
            ok = False  # "otherwise the openings must give a birth date"
        elif (
            x.bd_commit is None
            or bd["version"] != x.bd_version
            or commit_hex(bytes.fromhex(bd["salt"]), bd["value"]) != x.bd_commit
        ):
            ok = False  # it must open the commitment in force
        else:
            birth = parse_date(bd["value"])
        return Opened(birth, ox["erased"], unverified, events) if ok else None

    # ---- one draw

    def check_opening(self, od: Json, lib: dict[str, Expert]) -> tuple[bool, dict[str, Opened]]:
        """Check 3 (OPENING): whether it passed, and the members' openings."""
        ok = True
        members = od["members"]
        uuids = [m["expert"] for m in members]
        if len(set(uuids)) != len(uuids):
            ok = False  # reading: one leaf per expert (§2 Members) is part of a valid leaf
        openings: dict[str, Opened] = {}
        for m in members:
            if not m["discs"]:
                ok = False  # §2: `discs` non-empty
            x, ox = lib.get(m["expert"]), self.oexperts.get(m["expert"])
            if x is None or ox is None or not profile_parses(x):
                ok = False
                continue
            op = self.opened(x, ox)
            if op is None:
                ok = False
                continue
            openings[m["expert"]] = op
        return ok, openings

    @staticmethod
    def roots_ok(od: Json, fr: Json) -> bool:
        """Check 4 (ROOTS)."""
        leaves: list[bytes] = []
        xleaves: list[bytes] = []
        for m in sorted(od["members"], key=lambda m: bytes.fromhex(m["pseud"])):
            lb = leaf_bytes(
                bytes.fromhex(m["pseud"]),
                m["discs"],
                m["reasons"],
                idc(bytes.fromhex(m["salt"]), m["expert"]),
            )
            (xleaves if m["reasons"] else leaves).append(lb)
        built = (mth(leaves).hex(), mth(xleaves).hex(), len(leaves), len(xleaves))
        committed = (fr["pool_root"], fr["excluded_root"], fr["n_elig"], fr["n_excl"])
        return built == committed

    def check_draw(self, dl: DrawLog, od: Json) -> Result:
        res = Result()
        f = dl.freeze["seq"]
        fr = dl.freeze["data"]
        inputs = od["inputs"]
        # 1-4 always all run.
        if (
            not inputs_form(inputs)
            or h(canonical.dumps(inputs)).hex() != dl.request["data"]["inputs_sha256"]
        ):
            res.checks.add("INPUTS")
        pol = self.policy_at(f, fr["rules_digest"])
        params: tuple[str, str] | None
        try:
            params = read_params(dl.commit["data"]["params"])
        except ValueError:
            params = None
        # Check 2: the params must parse, and their `match_mode` must be the policy's
        # `[matching].mode` (a draw request cannot choose its own), or POLICY fails.
        if pol is None or params is None or params[1] != pol("matching", "mode"):
            res.checks.add("POLICY")
        lib = self.library(f)
        opening_ok, openings = self.check_opening(od, lib)
        if not opening_ok:
            res.checks.add("OPENING")
        if not self.roots_ok(od, fr):
            res.checks.add("ROOTS")
        if res.checks or pol is None or params is None:
            return res  # 5 and 6 run only when 1 to 4 passed; no look-back either
        edition, mode = params
        seats, unverifiable = self.seats_at(f, dl.draw_id)
        ctx = DrawCtx(
            [d["d"] for d in dl.request["data"]["disciplines"]],
            edition,
            mode,
            pol,
            inputs,
            set(od["avoided"]),
            seats,
        )
        by_uuid = {m["expert"]: m for m in od["members"]}
        self.check_members(res, lib, by_uuid, ctx)
        history = set(HISTORY_CODES) if unverifiable else set()
        res.unverified |= history
        # §15: when `inputs.avoid_experts` is not empty and none of its key ids is in
        # `hash_keys`, every member's A11 is unverified for that draw.
        keyless = {"A11"} if avoid_keys_unheld(inputs, self.openings["hash_keys"]) else set()
        res.unverified |= keyless if by_uuid else set()
        for uuid, m in by_uuid.items():
            op = openings[uuid]
            unv = history | keyless | op.unverified
            res.unverified |= op.unverified
            discs, reasons = evaluate(lib[uuid], op, ctx)
            if not discs:
                continue  # foreign: MEMBERS failed already
            if discs != m["discs"] or (reasons - unv) != (set(m["reasons"]) - unv):
                res.checks.add("REASONS")
        res.changed = self.lookback(dl, by_uuid, lib, openings, ctx)
        return res

    @staticmethod
    def check_members(
        res: Result, lib: dict[str, Expert], by_uuid: dict[str, Json], ctx: DrawCtx
    ) -> None:
        """Check 5 (MEMBERS); an unreadable non-member leaves `membership` unverified."""
        for uuid, x in lib.items():
            if not profile_parses(x):
                if uuid not in by_uuid:
                    res.unverified.add("membership")
                continue  # a member's unreadable profile failed OPENING already
            discs, _ = match_discs(x.profile, ctx)
            if bool(discs) != (uuid in by_uuid):
                res.checks.add("MEMBERS")  # omitted or foreign

    # ---- look-back

    def lookback(
        self,
        dl: DrawLog,
        by_uuid: dict[str, Json],
        lib: dict[str, Expert],
        openings: dict[str, Opened],
        ctx: DrawCtx,
    ) -> list[str]:
        """§15 Look-back: every expert with an expert.* or credit.event entry in the window."""
        t_f = dl.freeze["ts"]
        w = dl.freeze["data"]["lookback_s"] * 1000
        f = dl.freeze["seq"]
        firsts: dict[str, Json] = {}
        # reading: "at the freeze" is the library at seq < f, so the window's entries are
        # taken among those too.
        for e in self.entries[:f]:
            if not (e["kind"].startswith("expert.") or e["kind"] == "credit.event"):
                continue
            if not e["subj"].startswith("experts/"):
                continue
            uuid = e["subj"][len("experts/") :]
            if t_f - w <= e["ts"] < t_f and uuid not in firsts:
                firsts[uuid] = e
        changed = []
        for uuid, first in firsts.items():
            cut = first["seq"] + 1 if first["kind"] == "expert.create" else first["seq"]
            bx, nx = self.library(cut).get(uuid), lib.get(uuid)
            if (bx is not None and not profile_parses(bx)) or (
                nx is not None and not profile_parses(nx)
            ):
                continue  # "An expert whose record does not parse at either point is not listed"
            # "Not a member": no record yet, or no match (membership is §8's discs alone).
            was = bx is not None and bool(match_discs(bx.profile, ctx)[0])
            now = nx is not None and bool(match_discs(nx.profile, ctx)[0])
            if not was and not now:
                continue  # neither: not the draw's, not listed
            if was != now:
                changed.append(uuid)  # "Not a member" differs from every set of codes
                continue
            if bx is None or nx is None:
                continue  # unreachable: a member at both points has a record at both
            op = openings.get(uuid)
            if op is None:
                ox = self.oexperts.get(uuid)
                op = self.opened(nx, ox) if ox is not None else None
            if op is None:
                # reading: a member at both points without openings (omitted from the
                # draw's members) has no codes that can be computed; not compared.
                continue
            left_out = {"E3", "A11"} if op.erased else set()
            bop = Opened(op.birth, op.erased, op.unverified, [v for v in op.events if v[2] < cut])
            if codes_of(nx, op, ctx, left_out) != codes_of(bx, bop, ctx, left_out):
                changed.append(uuid)
        return sorted(changed)


def key_id(keyed_hash: str) -> str | None:
    """The key id of a keyed 身份证号 hash ``<key id>:<hex>``; None without a ``:``.

    reading: the hex part holds no ``:``, so the key id is everything before the last one.
    """
    kid, sep, _ = keyed_hash.rpartition(":")
    return kid if sep else None


def avoid_keys_unheld(inputs: Json, hash_keys: list[str]) -> bool:
    """§15: `inputs.avoid_experts` is not empty and none of its key ids is in `hash_keys`."""
    avoid = inputs["avoid_experts"]
    held = set(hash_keys)
    return bool(avoid) and not any(key_id(a) in held for a in avoid)


def opening_hash(code: str, c: Json) -> str:
    """§15: ``hex(H(aud1({"code", "event_ms", "evidence_sha256"})))`` of a credit opening."""
    obj = {"code": code, "event_ms": c["event_ms"], "evidence_sha256": c["evidence_sha256"]}
    return h(canonical.dumps(obj)).hex()


def codes_of(x: Expert, op: Opened, ctx: DrawCtx, left_out: set[str]) -> frozenset[str] | None:
    """The §8 codes of ``x`` without ``left_out``; None when it is not a member."""
    discs, reasons = evaluate(x, op, ctx)
    return frozenset(reasons - left_out) if discs else None


POLICY_KEYS = {
    "matching": ("mode", "legacy_editions"),
    "experience": (
        "min_years_in_field",
        "min_title",
        "intermediate_with_registration",
        "intermediate_min_years",
    ),
    "declaration": ("required",),
    "age": ("cap", "exempt_lifts_cap", "mode"),
    "training": ("required", "max_age_years"),
    "credit": ("codes", "lifetime_codes", "lookback_years", "tendering_penalty_codes"),
    "scores": ("lookback_years", "min_latest", "min_mean", "max_refusals", "refusal_codes"),
    "avoidance": ("lookback_years", "supervising_lookback_years", "supervising_post"),
    "region": ("venue_prefix_digits",),
    "history": (
        "padding_minutes",
        "exclude_same_project",
        "per_expert_days",
        "per_expert_max",
        "per_tenderer_days",
        "per_tenderer_max",
    ),
}


# docs/policy.md's top level and sections: "every key present" (check 2) names them all.
POLICY_TOP = {"version", "matching", "experience", "declaration", "age", "training", "credit",
              "scores", "avoidance", "region", "history", "leave", "committee", "methods",
              "pool", "beacon", "replacement", "library_types"}  # fmt: skip


def policy_complete(cfg: Json) -> bool:
    """Every top-level key of docs/policy.md, and every key §8 reads within its section."""
    if not isinstance(cfg, dict) or not isinstance(cfg.get("library_types"), dict):
        return False
    if not set(cfg) >= POLICY_TOP:
        return False
    return all(
        isinstance(cfg.get(t), dict) and all(k in cfg[t] for k in keys)
        for t, keys in POLICY_KEYS.items()
    )


def _is(cond: bool, what: str) -> None:
    if not cond:
        raise ProfileError(what)


def _opt_date_form(v: object) -> bool:
    return v is None or _date_text(v)


def _obj(v: object, keys: set[str]) -> bool:
    return isinstance(v, dict) and set(v) == keys


def check_profile(p: dict[str, Json]) -> None:
    """§15: a profile parses when every member of its table has a value of that form."""
    _is(set(p) == set(PROFILE_KEYS), "profile members")
    t = p["title"]
    _is(_obj(t, {"level", "name", "obtained"}), "title")
    _is(isinstance(t["level"], str) and t["level"] in TITLE_LEVELS, "title.level")
    _is(isinstance(t["name"], str), "title.name")
    _is(_opt_date_form(t["obtained"]), "title.obtained")
    for k in ("work_start", "declaration_date", "training_date"):
        _is(_opt_date_form(p[k]), k)
    q = p["qualifications"]
    _is(isinstance(q, list), "qualifications")
    for item in q:
        _is(_obj(item, {"name", "registered"}), "qualification")
        _is(isinstance(item["name"], str) and _opt_date_form(item["registered"]), "qual")
    disc = p["disciplines"]
    _is(isinstance(disc, list), "disciplines")
    for c in disc:
        ed, code = split_code(c)
        _is(bool(ed) and _DISC.fullmatch(code) is not None, "discipline")
    # reading: a 行政区划 code string is six ASCII digits (GB/T 2260).
    _is(isinstance(p["region"], str) and _REGION.fullmatch(p["region"]) is not None, "region")
    _is(type(p["accepts_remote"]) is bool and type(p["age_exempt"]) is bool, "bools")
    _is(p["library_type"] in ("provincial", "state_council", "other"), "library_type")
    _is(p["review"] in ("provisional", "approved"), "review")
    _is(
        p["education"] in (None, "doctorate", "master", "bachelor", "associate", "other"),
        "education",
    )
    affs = p["affiliations"]
    _is(isinstance(affs, list), "affiliations")
    for a in affs:
        _is(_obj(a, {"kind", "org", "start", "end"}) and a["kind"] in AFF_TABLE, "affiliation")
        _is(isinstance(a["org"], str), "affiliation org")
        _is(_opt_date_form(a["start"]) and _opt_date_form(a["end"]), "affiliation dates")


def profile_parses(x: Expert) -> bool:
    try:
        check_profile(x.profile)
    except ProfileError:
        return False
    return True


def export_logged(entries: list[Json], size: int, raw: bytes) -> bool:
    """§15 Verdicts: the verified log holds an `export` entry with `what`
    `replay-openings size <size>` and `data_sha256` the SHA-256 of the openings file's bytes.

    reading: "the verified log" is the whole log, not only `seq < size`: the export is
    logged when the openings are taken at `size`, so its own entry is at `seq >= size`.
    """
    what = f"replay-openings size {size}"
    digest = hashlib.sha256(raw).hexdigest()
    for e in entries:
        data = e.get("data") if isinstance(e, dict) else None
        if (
            e.get("kind") == "export"
            and isinstance(data, dict)
            and data.get("what") == what
            and data.get("data_sha256") == digest
        ):
            return True
    return False


def run(case: Path) -> dict[str, Json]:
    lines = (case / "export" / "entries.aud1").read_bytes().split(b"\n")
    entries = [canonical.loads(line) for line in lines if line]
    try:
        raw = (case / "openings.json").read_bytes()
        openings = read_openings(raw)
    except (UsageError, OSError):
        return {"exit_code": 4, "openings_contradict_log": False, "draws": {}, "changed_before": {}}
    origin = entries[0]["log"] if entries else None
    rp = Replay(entries, openings)
    per_log = rp.opened_per_log()
    contradict = (
        openings["origin"] != origin
        or openings["size"] > len(entries)
        or set(rp.odraws) != per_log
        or rp.erasure_contradicted()
        or not export_logged(entries, openings["size"], raw)
    )
    draws: dict[str, Json] = {}
    changed: dict[str, list[str]] = {}
    for draw_id, od in rp.odraws.items():
        dl = rp.draws.get(draw_id)
        if dl is None or dl.freeze is None or dl.commit is None or dl.request is None:
            continue
        res = rp.check_draw(dl, od)
        draws[draw_id] = {
            "verdict": res.verdict(),
            "checks": sorted(res.checks),
            "unverified": sorted(res.unverified),
        }
        if res.changed:
            changed[draw_id] = res.changed
    verdicts = [d["verdict"] for d in draws.values()]
    if contradict or "FAILED" in verdicts:
        code = 1
    elif "PARTIAL" in verdicts:
        code = 3
    else:
        code = 0
    return {
        "exit_code": code,
        "openings_contradict_log": contradict,
        "draws": draws,
        "changed_before": changed,
    }
