"""``verify draw``: re-check an EDS-1 proof bundle offline (docs/spec/draw-v1.md §11).

Pure: the bundle's bytes and the pinned trust in, a report out; no network, database
or clock. Checks run in the spec's order and the first failure stops the run with a
:class:`DrawVerificationError` naming its check; policy findings (a pool override, pool
changes in the look-back window, earlier committed attempts, a cancellation, a draw
without a beacon under ``require_beacon``) do not stop it and give exit 3.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from audit_log import canonical, merkle
from audit_log import checkpoint as cp
from audit_log.entry import Entry, SchemaError, parse_req
from audit_log.errors import AuditLogError, CanonicalError
from expert_draw.core import beacon, bundle, eds1, escrow

if TYPE_CHECKING:
    from collections.abc import Sequence

    from audit_log.note import Verifier

_ONCE = ("draw.request", "pool.freeze", "draw.commit", "draw.nonce", "draw.execute")
_AT_MOST_ONCE = ("draw.open", "draw.close", "draw.award")
_EMPTY_ROOT = eds1.sha256(b"")
MAX_LOOKBACK_SEQS = 1000


class Check(enum.IntEnum):
    """The checks of spec §11, in their order."""

    LOG = 1
    ORDER = 2
    POOL = 3
    BINDING = 4
    BEACON = 5
    ESCROW = 6
    DRAW = 7
    REPLACEMENTS = 8


class UnsupportedBundleError(Exception):
    """A bundle this verifier cannot judge (replacement mode B): exit 4, not a failure."""


class DrawVerificationError(Exception):
    """The bundle fails a check (exit 1); ``check`` says which."""

    def __init__(self, check: Check, message: str) -> None:
        """Name the check and what failed."""
        super().__init__(f"check {int(check)} ({check.name.lower()}): {message}")
        self.check = check
        self.message = message


@dataclass(frozen=True, slots=True)
class DrawTrust:
    """What the verifier pins (trust.toml): log keys, Δ_min, beacon and escrow policy."""

    origin: str
    log_vkeys: tuple[Verifier, ...]
    delta_min: int = 100
    require_beacon: bool = False
    escrow_keys: tuple[bytes, ...] = ()


@dataclass(slots=True)
class DrawReport:
    """A verified draw: its id, seats at the end of the bundle, and policy findings."""

    draw_id: str
    params_hash: str
    seats: dict[str, list[str]]
    state: str
    findings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0, or 3 when there are policy findings."""
        return 3 if self.findings else 0

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON object."""
        return {
            "draw_id": self.draw_id, "params_hash": self.params_hash, "state": self.state,
            "seats": self.seats, "findings": self.findings, "exit_code": self.exit_code,
        }  # fmt: skip


def _fail(check: Check, message: str) -> NoReturn:
    raise DrawVerificationError(check, message)


def _hex(value: object, size: int | None, check: Check, what: str) -> bytes:
    if not isinstance(value, str) or value != value.lower():
        _fail(check, f"{what} is not lowercase hex")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        _fail(check, f"{what} is not lowercase hex")
    if size is not None and len(raw) != size:
        _fail(check, f"{what} is not {size} bytes")
    return raw


@dataclass(slots=True)
class _Logged:
    seq: int
    entry: Entry

    @property
    def kind(self) -> str:
        return self.entry.kind

    @property
    def data(self) -> dict[str, Any]:
        return self.entry.data


class _Run:
    """One verification: the parsed bundle and what the checks found so far."""

    def __init__(self, data: bytes, trust: DrawTrust) -> None:
        self.trust = trust
        try:
            self.b: dict[str, Any] = canonical.loads(data)
        except (CanonicalError, UnicodeDecodeError, ValueError) as exc:
            _fail(Check.LOG, f"the bundle is not aud1 canonical JSON: {exc}")
        if not isinstance(self.b, dict) or set(self.b) != bundle.MEMBERS:
            _fail(Check.LOG, "the bundle does not have exactly the members of §10")
        try:
            self.params = eds1.Params.decode(_hex(self.b["params"], None, Check.POOL, "params"))
        except eds1.EncodingError as exc:
            _fail(Check.POOL, f"params: {exc}")
        if self.params.repl_mode != b"A":
            msg = "replacement mode B is not verifiable by an EDS-1 v1 verifier"
            raise UnsupportedBundleError(msg)
        self.draw_id = self.params.draw_id.decode()
        self.subj = f"draws/{self.draw_id}"
        self.codes = [d.code for d in self.params.disciplines]
        self.findings: list[str] = []

    # -- check 1 ---------------------------------------------------------------------------

    def log(self) -> None:  # noqa: C901 - one rule per branch
        b = self.b
        self.checkpoint = self._checkpoint(b["checkpoint"], "checkpoint")
        latest = b["latest"]
        if not isinstance(latest, dict) or set(latest) != {"checkpoint", "consistency"}:
            _fail(Check.LOG, "latest must be {checkpoint, consistency}")
        newest = self._checkpoint(latest["checkpoint"], "latest.checkpoint")
        proof = [_hex(h, 32, Check.LOG, "a consistency hash") for h in _list(latest["consistency"])]
        try:
            merkle.verify_consistency(self.checkpoint.size, newest.size, proof,
                                      self.checkpoint.root, newest.root)  # fmt: skip
        except AuditLogError as exc:
            _fail(Check.LOG, f"latest is not consistent with checkpoint: {exc}")
        self.entries: list[_Logged] = []
        self.included: list[bundle.Included] = []
        for item in _list(b["entries"]):
            self.entries.append(self._entry(item))
        seqs = [e.seq for e in self.entries]
        if seqs != sorted(set(seqs)):
            _fail(Check.LOG, "entries are not in ascending, unique seq order")
        times = [e.entry.ts for e in self.entries]
        if times != sorted(times):
            _fail(Check.LOG, "entry times go back as seq grows")
        self.own = [e for e in self.entries if e.entry.subj == self.subj
                    and (e.kind == "pool.freeze" or e.kind.startswith("draw."))]  # fmt: skip
        for kind in _ONCE:
            if sum(1 for e in self.own if e.kind == kind) != 1:
                _fail(Check.LOG, f"the bundle must hold exactly one {kind} of {self.subj}")
        for kind in _AT_MOST_ONCE:
            if sum(1 for e in self.own if e.kind == kind) > 1:
                _fail(Check.LOG, f"{kind} appears more than once")
        if any(e.kind in {"draw.expire", "draw.publish"} for e in self.own):
            _fail(Check.LOG, "an expired draw has no bundle, and publications are not in it")
        self._attempts()

    def _checkpoint(self, text: object, what: str) -> cp.Checkpoint:
        if not isinstance(text, str):
            _fail(Check.LOG, f"{what} is not a signed note")
        try:
            found, _ = cp.open_checkpoint(text, self.trust.origin, self.trust.log_vkeys)
        except AuditLogError as exc:
            _fail(Check.LOG, f"{what} does not verify under the pinned log key: {exc}")
        return found

    def _entry(self, item: object) -> _Logged:
        if not isinstance(item, dict) or set(item) != {"seq", "body", "proof"}:
            _fail(Check.LOG, "an entry item must be {seq, body, proof}")
        seq, body = item["seq"], item["body"]
        if not isinstance(seq, int) or not isinstance(body, str):
            _fail(Check.LOG, "an entry item has a bad seq or body")
        raw = body.encode()
        try:
            entry = Entry.decode(raw)
        except (CanonicalError, SchemaError) as exc:
            _fail(Check.LOG, f"entry {seq} does not parse strictly: {exc}")
        if entry.seq != seq or entry.log != self.trust.origin:
            _fail(Check.LOG, f"entry {seq} names another seq or log")
        proof = [_hex(h, 32, Check.LOG, "a proof hash") for h in _list(item["proof"])]
        try:
            merkle.verify_inclusion(seq, self.checkpoint.size, merkle.leaf_hash(raw), proof,
                                    self.checkpoint.root)  # fmt: skip
        except AuditLogError as exc:
            _fail(Check.LOG, f"entry {seq} is not in the checkpoint: {exc}")
        self.included.append(bundle.Included(seq, raw, tuple(proof)))
        return _Logged(seq, entry)

    def _attempts(self) -> None:
        tender = self.params.tender_ref.hex()
        requests = [e for e in self.entries
                    if e.kind == "draw.request" and e.data["tender_ref"] == tender]  # fmt: skip
        previous = ""
        for request in requests:
            if request.data["supersedes"] != previous:
                _fail(
                    Check.LOG,
                    f"attempt {request.data['draw_id']} does not supersede"
                    f" {previous or 'nothing'}: the attempts' chain is broken",
                )
            previous = request.data["draw_id"]
        if previous != self.draw_id:
            _fail(Check.LOG, "this draw is not the last attempt of its tender-lot")
        for request in requests[:-1]:
            earlier = request.data["draw_id"]
            if any(e.kind == "draw.commit" and e.entry.subj == f"draws/{earlier}"
                   for e in self.entries):  # fmt: skip
                self.findings.append(f"an earlier attempt, draws/{earlier}, was committed")

    # -- check 2 ---------------------------------------------------------------------------

    def one(self, kind: str) -> _Logged:
        return next(e for e in self.own if e.kind == kind)

    def maybe(self, kind: str) -> _Logged | None:
        return next((e for e in self.own if e.kind == kind), None)

    def timing(self) -> None:  # noqa: C901 - one rule per branch
        chain = [self.one(k).seq for k in _ONCE]
        if chain != sorted(chain):
            _fail(Check.ORDER, "the phases are out of order (request, freeze, commit, nonce,"
                               " execute)")  # fmt: skip
        later = [self.one("draw.execute").seq] + [
            e.seq for k in _AT_MOST_ONCE if (e := self.maybe(k)) is not None
        ]
        opened, closed = self.maybe("draw.open"), self.maybe("draw.close")
        if (
            later != sorted(later)
            or (closed is not None and opened is None)
            or (self.maybe("draw.award") is not None and closed is None)
        ):
            _fail(Check.ORDER, "open, close and award must follow execute in that order")
        if closed is not None and any(e.kind in {"draw.decline", "draw.replace"}
                                      and e.seq > closed.seq for e in self.own):  # fmt: skip
            _fail(Check.ORDER, "a decline or replacement follows draw.close")
        r = self.b["r"]
        if type(r) is not int:
            _fail(Check.ORDER, "r is not an integer")
        commit, execute = self.one("draw.commit"), self.one("draw.execute")
        if not commit.data["r"] == execute.data["r"] == r:
            _fail(Check.ORDER, "draw.commit, draw.execute and the bundle disagree on R")
        p = self.params
        if not p.beacon:
            if r != 0:
                _fail(Check.ORDER, "a draw without a beacon has R = 0")
            if self.trust.require_beacon:
                self.findings.append("the draw used no beacon, and trust.toml requires one")
            return
        if p.delta < self.trust.delta_min:
            _fail(Check.ORDER, f"delta {p.delta} is below delta_min {self.trust.delta_min}")
        if r != eds1.round_at(commit.entry.ts // 1000) + p.delta:
            _fail(Check.ORDER, "R is not round_at(t_commit) + delta")
        if not self.one("draw.nonce").entry.ts < 1000 * (eds1.round_time(r) - p.margin_s):
            _fail(Check.ORDER, "the nonce came after time(R) - margin")
        if execute.entry.ts < 1000 * eds1.round_time(r):
            _fail(Check.ORDER, "draw.execute precedes time(R)")

    # -- check 3 ---------------------------------------------------------------------------

    def pool(self) -> None:  # noqa: C901 - one rule per branch
        b, p = self.b, self.params
        if _hex(b["params_hash"], 32, Check.POOL, "params_hash") != p.hash():
            _fail(Check.POOL, "params_hash does not recompute")
        members = []
        for leaf in _list(b["leaves"]):
            if not isinstance(leaf, dict) or set(leaf) != {"pseud", "discs", "idc"}:
                _fail(Check.POOL, "a leaf must be {pseud, discs, idc}")
            discs = tuple(str(d).encode() for d in _list(leaf["discs"]))
            if not set(discs) <= set(self.codes):
                _fail(Check.POOL, "a leaf names a discipline the params do not request")
            try:
                members.append(eds1.Member(
                    _hex(leaf["pseud"], 16, Check.POOL, "pseud"), discs, (),
                    _hex(leaf["idc"], 32, Check.POOL, "idc"),
                ))  # fmt: skip
            except eds1.EncodingError as exc:
                _fail(Check.POOL, f"leaf: {exc}")
        pseuds = [m.pseudonym for m in members]
        if pseuds != sorted(set(pseuds)):
            _fail(Check.POOL, "leaves are not in ascending, unique pseudonym order")
        self.members = members
        root = merkle.reference_root([merkle.leaf_hash(m.leaf_input()) for m in members])
        if root != _hex(b["pool_root"], 32, Check.POOL, "pool_root"):
            _fail(Check.POOL, "pool_root does not recompute from the leaves")
        if type(b["n_elig"]) is not int or type(b["n_excl"]) is not int:
            _fail(Check.POOL, "n_elig and n_excl are integers")
        if b["n_elig"] != len(members):
            _fail(Check.POOL, "n_elig does not count the leaves")
        excluded_root = _hex(b["excluded_root"], 32, Check.POOL, "excluded_root")
        if b["n_excl"] == 0 and excluded_root != _EMPTY_ROOT:
            _fail(Check.POOL, "no excluded member, yet excluded_root is not MTH({})")
        self._excluded_counts()
        self._feasible()
        self._lookback()

    def _excluded_counts(self) -> None:
        counts = _list(self.b["excluded_counts"])
        reasons = []
        for c in counts:
            if (not isinstance(c, dict) or set(c) != {"reason", "n"} or not isinstance(c["n"], int)
                    or c["n"] < 1):  # fmt: skip
                _fail(Check.POOL, "an excluded count must be {reason, n >= 1}")
            try:
                reasons.append(eds1.check_reason(str(c["reason"]).encode()))
            except eds1.EncodingError as exc:
                _fail(Check.POOL, f"excluded_counts: {exc}")
        if reasons != sorted(set(reasons)):
            _fail(Check.POOL, "excluded_counts are not ascending by reason")
        n_excl = self.b["n_excl"]
        total = sum(c["n"] for c in counts)
        if (n_excl == 0) != (total == 0) or total < n_excl:
            _fail(Check.POOL, "excluded_counts do not fit n_excl")

    def _feasible(self) -> None:
        p = self.params
        quotas = {d.code: eds1.Quota(d.k, d.r) for d in p.disciplines}
        verdict = eds1.shortfalls(self.members, self.codes, quotas, p.min_pool_factor)
        if any(not seats_ok for _, seats_ok, _ in verdict.values()):
            _fail(Check.POOL, "a discipline cannot fill its seats and reserves for every seed")
        waived = [d.decode() for d, (_, _, minimum_ok) in verdict.items() if not minimum_ok]
        if not waived:
            return
        if p.override_seq == 0:
            _fail(Check.POOL, f"below the pool minimum without an override: {waived}")
        found = next((e for e in self.entries if e.seq == p.override_seq), None)
        if found is None or found.kind != "draw.override":
            _fail(Check.POOL, "override_seq names no draw.override in the bundle")
        e = found.entry
        if (found.seq > self.one("draw.commit").seq or e.who.role != "supervisor"
                or found.data["approver"] != e.who.sub
                or found.data["tender_ref"] != p.tender_ref.hex()
                or e.subj != f"tenders/{p.tender_ref.hex()}"):  # fmt: skip
            _fail(Check.POOL, "the override is not a supervisor's prior approval for this"
                              " tender-lot")  # fmt: skip
        missing = set(waived) - set(found.data["disciplines"])
        if missing:
            _fail(Check.POOL, f"the override does not list {sorted(missing)}")
        self.findings += [f"pool minimum waived for {d} (override at seq {p.override_seq})"
                          for d in waived]  # fmt: skip

    def _lookback(self) -> None:
        freeze = self.one("pool.freeze")
        seqs, n = freeze.data["lookback_seqs"], freeze.data["lookback_n"]
        if (seqs != sorted(set(seqs)) or any(q >= freeze.seq for q in seqs)
                or len(seqs) != min(n, MAX_LOOKBACK_SEQS)):  # fmt: skip
            _fail(Check.POOL, "lookback_seqs are not the first ascending seqs before the freeze")
        if n <= MAX_LOOKBACK_SEQS:
            digest = eds1.sha256(eds1.enc(b"EDS1/lookback", *[eds1.u64(q) for q in seqs]))
            if digest.hex() != freeze.data["lookback_sha256"]:
                _fail(Check.POOL, "lookback_sha256 does not recompute")
        if n:
            self.findings.append(f"{n} pool change(s) in the {freeze.data['lookback_s']} s"
                                 " before the freeze")  # fmt: skip

    # -- check 4 ---------------------------------------------------------------------------

    def binding(self) -> None:
        b, p = self.b, self.params
        if b["spec_version"] != bundle.SPEC_VERSION or b["code_digest"] != p.code_digest.hex():
            _fail(Check.BINDING, "spec_version or code_digest disagrees with the params")
        request = self.one("draw.request").data
        wanted = {
            "draw_id": self.draw_id, "tender_ref": p.tender_ref.hex(),
            "supersedes": p.supersedes.decode(),
            "disciplines": [{"d": d.code.decode(), "k": d.k, "r": d.r} for d in p.disciplines],
            "policy": {"beacon": p.beacon},
        }  # fmt: skip
        if any(request[k] != v for k, v in wanted.items()):
            _fail(Check.BINDING, "draw.request disagrees with the params")
        freeze = self.one("pool.freeze").data
        counts = [{"d": d.decode(), "n": sum(1 for m in self.members if d in m.discs)}
                  for d in self.codes]  # fmt: skip
        same = {"pool_root": b["pool_root"], "excluded_root": b["excluded_root"],
                "n_elig": b["n_elig"], "n_excl": b["n_excl"], "counts": counts,
                "excluded_counts": b["excluded_counts"],
                "edition_digest": p.edition_digest.hex(),
                "rules_digest": p.rules_digest.hex()}  # fmt: skip
        if any(freeze[k] != v for k, v in same.items()):
            _fail(Check.BINDING, "pool.freeze disagrees with the bundle or the params")
        commit = self.one("draw.commit").data
        same = {"params": b["params"], "params_hash": b["params_hash"],
                "pool_root": b["pool_root"], "excluded_root": b["excluded_root"],
                "n_elig": b["n_elig"], "n_excl": b["n_excl"],
                "envelopes": b["envelopes"]}  # fmt: skip
        if any(commit[k] != v for k, v in same.items()):
            _fail(Check.BINDING, "draw.commit disagrees with the bundle")
        envelopes = [_hex(e, None, Check.BINDING, "an envelope") for e in _list(b["envelopes"])]
        escrow_digest = eds1.escrow_digest(envelopes)
        if commit["escrow_digest"] != escrow_digest.hex():
            _fail(Check.BINDING, "escrow_digest does not recompute from the envelopes")
        self.c_s = _hex(commit["c_s"], 32, Check.BINDING, "c_s")
        digest = eds1.sha256(eds1.commitment(
            p.draw_id, pool_root=bytes.fromhex(b["pool_root"]), n_elig=b["n_elig"],
            excluded_root=bytes.fromhex(b["excluded_root"]), n_excl=b["n_excl"],
            params_hash=p.hash(), c_s=self.c_s, r=b["r"], escrow=escrow_digest,
        ))  # fmt: skip
        if commit["commit_digest"] != digest.hex():
            _fail(Check.BINDING, "commit_digest does not recompute")
        if self.one("draw.nonce").data["nonce"] != b["nonce"]:
            _fail(Check.BINDING, "draw.nonce disagrees with the bundle's nonce")
        execute = self.one("draw.execute").data
        same = {"sig_r": b["sig_r"], "rho": b["rho"], "s": b["s"], "seed": b["seed"],
                "panels": [{"d": x["d"], "panel": x["panel"], "reserve": x["reserve"]}
                           for x in _list(b["draw"]) if isinstance(x, dict)]}  # fmt: skip
        if any(execute[k] != v for k, v in same.items()):
            _fail(Check.BINDING, "draw.execute disagrees with the bundle")

    # -- checks 5, 6 -----------------------------------------------------------------------

    def beacon(self) -> None:
        b, p = self.b, self.params
        if not p.beacon:
            if b["drand"] is not None or b["sig_r"] != "" or b["rho"] != "":
                _fail(Check.BEACON, "without a beacon, drand is null and sig_r, rho are empty")
            self.rho = b""
            return
        try:
            chain = beacon.Chain.from_json(b["drand"])
            beacon.check_chain(chain)
            if chain.chain_hash != p.drand_chain_hash:
                _fail(Check.BEACON, "the params name another drand chain")
            sig = _hex(b["sig_r"], 48, Check.BEACON, "sig_r")
            self.rho = beacon.verify_round(b["r"], sig, chain)
        except beacon.BeaconError as exc:
            _fail(Check.BEACON, f"the drand round does not verify: {exc}")
        if self.rho.hex() != b["rho"]:
            _fail(Check.BEACON, "rho is not SHA-256(sig_R)")

    def escrow(self, escrow_private: bytes | None) -> None:
        self.s = _hex(self.b["s"], 32, Check.ESCROW, "s")
        if eds1.secret_commitment(self.s) != self.c_s:
            _fail(Check.ESCROW, "s does not open the commitment C_s")
        envelopes = [bytes.fromhex(e) for e in self.b["envelopes"]]
        try:
            escrow.check_envelopes(envelopes, self.trust.escrow_keys or None)
            if escrow_private is not None:
                mine = escrow.key_id(escrow.public_key(escrow_private))
                envelope = next((e for e in envelopes
                                 if escrow.parse_envelope(e).key_id == mine), None)  # fmt: skip
                if envelope is None:
                    _fail(Check.ESCROW, "no envelope is sealed to the given escrow key")
                opened = escrow.open_envelope(escrow_private, envelope, self.params.draw_id,
                                              self.c_s)  # fmt: skip
                if opened != self.s:
                    _fail(Check.ESCROW, "the envelope opens to another s")
        except escrow.EscrowError as exc:
            _fail(Check.ESCROW, f"escrow: {exc}")

    # -- check 7 ---------------------------------------------------------------------------

    def draw(self) -> None:
        b, p = self.b, self.params
        seed = eds1.seed(
            p.draw_id, pool_root=bytes.fromhex(b["pool_root"]),
            excluded_root=bytes.fromhex(b["excluded_root"]), params_hash=p.hash(), s=self.s,
            r=b["r"], rho=self.rho, nonce=_hex(b["nonce"], 32, Check.DRAW, "nonce"),
        )  # fmt: skip
        if seed.hex() != b["seed"]:
            _fail(Check.DRAW, "the seed does not recompute")
        order = eds1.orders(self.members, self.codes, lambda x: eds1.rank(seed, x))
        quotas = {d.code: eds1.Quota(d.k, d.r) for d in p.disciplines}
        panel, reserve = eds1.panels(order, self.codes, quotas)
        rows = _list(b["draw"])
        wanted = [{"d": d.decode(), "panel": [x.hex() for x in panel[d]],
                   "reserve": [x.hex() for x in reserve[d]],
                   "order": [x.hex() for x in order[d]]} for d in self.codes]  # fmt: skip
        if rows != wanted:
            _fail(Check.DRAW, "the orders, panels or reserves do not recompute")
        if any(len(panel[d]) != quotas[d].k or len(reserve[d]) != quotas[d].r for d in self.codes):
            _fail(Check.DRAW, "a panel or reserve does not meet its quota")
        if (
            eds1.order_digest(order, self.codes).hex()
            != self.one("draw.execute").data["order_digest"]
        ):
            _fail(Check.DRAW, "order_digest does not recompute")
        self.order, self.panel, self.reserve = order, panel, reserve

    # -- check 8 ---------------------------------------------------------------------------

    def replacements(self) -> dict[str, list[str]]:  # noqa: C901, PLR0912 - one rule per branch
        seating = eds1.Seating(self.order, self.panel, self.reserve,
                               {d.code: d.max_repl for d in self.params.disciplines})  # fmt: skip
        opened = self.maybe("draw.open")
        expect: tuple[str, ...] | None = None  # the entry the last decline requires next
        events = [
            e
            for e in self.own
            if e.kind
            in {"draw.decline", "draw.replace", "draw.accept", "draw.close", "draw.cancel"}
        ]
        for e in events:
            if expect is not None:
                if e.kind != expect[0] or (e.kind == "draw.replace" and (
                        e.data["d"], e.data["out"], e.data["in"]) != expect[1:]):  # fmt: skip
                    _fail(Check.REPLACEMENTS, f"entry {e.seq}: expected {expect[0]} next")
                expect = None
                continue
            if e.kind == "draw.decline":
                expect = self._decline(e, seating, opened)
            elif e.kind == "draw.replace":
                _fail(Check.REPLACEMENTS, f"entry {e.seq}: a replacement without its decline")
            elif e.kind == "draw.accept":
                if seating.seat_of(bytes.fromhex(e.data["pseud"])) is None:
                    _fail(Check.REPLACEMENTS, f"entry {e.seq}: accepted by an unseated member")
            elif e.kind == "draw.close":
                seats = [{"d": d.decode(), "panel": [x.hex() for x in seating.seats[d]]}
                         for d in self.codes]  # fmt: skip
                if e.data["panels"] != seats:
                    _fail(Check.REPLACEMENTS, "draw.close does not list the seats at close")
            else:
                self.findings.append(f"the draw was cancelled ({e.data['reason']})")
        if expect is not None and expect[0] != "draw.cancel":
            _fail(Check.REPLACEMENTS, "the last decline has no replacement")
        if expect is not None:
            _fail(Check.REPLACEMENTS, "a decline that exhausted the draw is not followed by"
                                      " draw.cancel")  # fmt: skip
        if self.b["replacements"] != bundle.replacements(self.included, self.subj):
            _fail(Check.REPLACEMENTS, "the bundle's replacements do not match the log")
        return {d.decode(): [x.hex() for x in seating.seats[d]] for d in self.codes}

    def _decline(
        self, e: _Logged, seating: eds1.Seating, opened: _Logged | None
    ) -> tuple[str, ...] | None:
        reason = e.data["reason"].encode()
        after_open = opened is not None and opened.seq < e.seq
        if reason == b"STRUCK_48_3" and not after_open:
            _fail(Check.REPLACEMENTS, f"entry {e.seq}: a 48③ strike before draw.open")
        void = reason == b"STRUCK_48_3" or (reason == b"CONFLICT_DECLARED" and after_open)
        if e.data["void"] != void:
            _fail(Check.REPLACEMENTS, f"entry {e.seq}: void must be {str(void).lower()}")
        pseud = bytes.fromhex(e.data["pseud"])
        if reason == b"BUSY" and seating.seat_of(pseud) is None:
            _fail(Check.REPLACEMENTS, f"entry {e.seq}: BUSY names an unseated member")
        if reason == b"BUSY" and not self._seating_request(e):
            _fail(Check.REPLACEMENTS, f"entry {e.seq}: a BUSY strike outside a seating request"
                                      " (draw.execute or a decline's replacement)")  # fmt: skip
        try:
            replaced = seating.decline(pseud)
        except eds1.ReplacementError as exc:
            _fail(Check.REPLACEMENTS, f"entry {e.seq}: {exc}")
        if replaced is None:
            return None
        if replaced.incoming is None:
            return ("draw.cancel",)
        return ("draw.replace", replaced.discipline.decode(), pseud.hex(),
                replaced.incoming.hex())  # fmt: skip

    def _seating_request(self, e: _Logged) -> bool:
        """Whether a BUSY strike comes in the request that seated its member.

        The service strikes only while seating: in the request of ``draw.execute``, or
        of a decline (not itself BUSY) whose replacement was busy.
        """
        request = _request_of(e)
        return any(
            _request_of(o) == request and o.seq < e.seq and (
                o.kind == "draw.execute"
                or (o.kind == "draw.decline" and o.data["reason"] != "BUSY")
            )
            for o in self.own
        )  # fmt: skip


def _request_of(e: _Logged) -> tuple[str, str]:
    sub, request_id, _ = parse_req(e.entry.req)
    return sub, request_id


def _list(value: object) -> list[Any]:
    if not isinstance(value, list):
        _fail(Check.LOG, "a list was expected")
    return value


def state_of(run: _Run) -> str:
    """The draw's stage at the end of the bundle."""
    for kind, name in (("draw.cancel", "CANCELLED"), ("draw.award", "AWARDED"),
                       ("draw.close", "CLOSED"), ("draw.open", "OPENED")):  # fmt: skip
        if run.maybe(kind) is not None:
            return name
    return "EXECUTED"


def verify_bundle(
    data: bytes, trust: DrawTrust, *, escrow_private: bytes | None = None
) -> DrawReport:
    """Run checks 1-8 on a bundle.

    Raises:
        DrawVerificationError: the first check that fails.
        UnsupportedBundleError: replacement mode B (a v1 verifier refuses it, exit 4).
    """
    run = _Run(data, trust)
    run.log()
    run.timing()
    run.pool()
    run.binding()
    run.beacon()
    run.escrow(escrow_private)
    run.draw()
    seats = run.replacements()
    return DrawReport(run.draw_id, run.params.hash().hex(), seats, state_of(run), run.findings)


def trust_from(
    origin: str, keys: Sequence[Verifier], *, delta_min: int, require_beacon: bool,
    escrow_keys: Sequence[str],
) -> DrawTrust:  # fmt: skip
    """A :class:`DrawTrust` from trust.toml's values."""
    return DrawTrust(origin, tuple(keys), delta_min, require_beacon,
                     tuple(bytes.fromhex(k) for k in escrow_keys))  # fmt: skip
