"""The offline log verifier (audit-log.md §9): pure, reads an export folder only.

``verify_log`` recomputes everything from the entry bytes: canonical form, schema,
seq contiguity, the chain, every checkpoint's root, signatures where they matter (the
newest checkpoint, the pinned size, sizes with several notes, key-rotation boundaries;
every note with ``all_signatures``), truncation and the unsigned tail; it checks the
pinned state, witness cosignatures (trust.toml ``[witness]``: the witnessed head, and
``witness.note`` entries) and a folder of receipts, and returns a :class:`Report` whose
exit code is 0 ok, 1 tamper, 2 fork/rollback/equivocation, 3 policy, 4 usage or I/O.
"""

from __future__ import annotations

import enum
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

from audit_log import canonical, merkle, note, state
from audit_log import checkpoint as cp
from audit_log.domain import DOMAIN_KINDS, Rules
from audit_log.entry import MAX_ENTRY_BYTES, ZERO_HASH, SchemaError, decode_value
from audit_log.errors import AuditLogError, CanonicalError, NoteError, ProofError
from audit_log.export import CHECKPOINTS, ENTRIES
from audit_log.keys import KeyPeriod
from audit_log.receipt import Receipt

if TYPE_CHECKING:
    from concurrent.futures import Future
    from pathlib import Path

    from audit_log.cosig import WitnessKey
    from audit_log.trust import Trust

Progress = Callable[[int, int], None]


class Category(enum.StrEnum):
    """Finding categories; :data:`EXIT` gives their exit codes."""

    TAMPER = "TAMPER"
    GAP = "GAP"
    NONCANONICAL = "NONCANONICAL"
    SCHEMA = "SCHEMA"
    TRUNCATION = "TRUNCATION"
    REJECT = "REJECT"
    BAD_SIGNATURE = "BAD SIGNATURE"
    BAD_ROTATION = "BAD ROTATION"
    PROOF = "PROOF"
    DOMAIN_VIOLATION = "DOMAIN VIOLATION"
    EQUIVOCATION = "EQUIVOCATION"
    FORK = "FORK"
    ROLLBACK = "ROLLBACK"
    UNSIGNED_TAIL = "UNSIGNED TAIL"
    REANCHORED = "REANCHORED"
    WITNESS_POLICY = "WITNESS POLICY"
    USAGE = "USAGE"


EXIT = {
    **dict.fromkeys(
        [
            Category.TAMPER, Category.GAP, Category.NONCANONICAL, Category.SCHEMA,
            Category.TRUNCATION, Category.REJECT, Category.BAD_SIGNATURE,
            Category.BAD_ROTATION, Category.PROOF, Category.DOMAIN_VIOLATION,
        ],
        1,
    ),
    Category.EQUIVOCATION: 2,
    Category.FORK: 2,
    Category.ROLLBACK: 2,
    Category.UNSIGNED_TAIL: 3,
    Category.REANCHORED: 3,
    Category.WITNESS_POLICY: 3,
    Category.USAGE: 4,
}  # fmt: skip
_PRECEDENCE = (2, 1, 4, 3)
_LINE_SIZE = re.compile(rb',"size":(0|[1-9][0-9]*)}\n?$')
_STOPS = frozenset({1, 2})


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding: its category, the entry it implicates (if any), an explanation."""

    category: Category
    seq: int | None
    msg: str

    @property
    def exit_code(self) -> int:
        """The exit code this finding maps to."""
        return EXIT[self.category]


@dataclass
class Report:
    """The outcome of a run: findings, the recomputed head, and the state to pin."""

    origin: str
    size: int = 0
    root: bytes = merkle.EMPTY_ROOT
    findings: list[Finding] = field(default_factory=list)
    new_state: state.PinnedState | None = None

    @property
    def exit_code(self) -> int:
        """The first of 2 > 1 > 4 > 3 present among the findings, else 0."""
        codes = {f.exit_code for f in self.findings}
        return next((code for code in _PRECEDENCE if code in codes), 0)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` report (an aud1 object)."""
        findings = [
            {"category": str(f.category), "msg": f.msg, "seq": f.seq} for f in self.findings
        ]
        return {
            "exit_code": self.exit_code,
            "findings": findings,
            "origin": self.origin,
            "root": self.root.hex(),
            "size": self.size,
        }


class _Stop(Exception):  # noqa: N818 - control flow inside this module
    """Ends a run at a finding with exit code 1 or 2 (or 3 under ``strict``)."""


@dataclass(frozen=True, slots=True)
class _Note:
    size: int
    text: str
    root: bytes


RECENT_CHECKPOINTS = 64  # how far back a witness.note may name a checkpoint and count


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """What a pinned state needs of the pass at one size (the newest or witnessed head)."""

    size: int
    compact: tuple[bytes, ...]
    last_leaf: bytes
    offset: int
    periods: tuple[KeyPeriod, ...]


@dataclass(frozen=True, slots=True)
class _WitnessNote:
    """A ``witness.note`` entry of a listed witness key, checked after the pass."""

    seq: int
    size: int
    key: WitnessKey
    line: note.SignatureLine


@dataclass(frozen=True, slots=True)
class Options:
    """How a run behaves; ``workers`` > 1 parses large exports in that many processes."""

    strict: bool = False
    all_signatures: bool = False
    since: bool = False
    workers: int = 1


PARALLEL_MIN_ENTRIES = 20_000


class _Run:
    """One verification run over an export folder."""

    def __init__(self, trust: Trust, pinned: state.PinnedState | None, options: Options) -> None:
        self.trust = trust
        self.origin = trust.origin
        self.pinned = pinned
        self.options = options
        # An incremental run (--since) misses the history before the pinned size: the
        # domain rules then judge only the draws whose request it sees.
        self.domain = Rules(partial=options.since)
        self.report = Report(self.origin)
        self.periods: list[KeyPeriod] = [KeyPeriod(trust.log_vkey)]
        self.notes: dict[int, list[_Note]] = {}
        self.must_verify: set[int] = set()
        self.rotation_checks: dict[int, tuple[note.Verifier, note.Verifier]] = {}
        self.boundaries: list[int] = []
        self.roots: dict[int, bytes] = {}
        self.wanted_roots: set[int] = set()
        self.leaves: dict[int, bytes] = {}
        self.wanted_leaves: set[int] = set()
        self.compact = merkle.CompactRange()
        self.prev_leaf: bytes | None = None
        self.lookahead: _Record | None = None
        self.last_good = 0
        self.offset = 0
        self.snapshot: _Snapshot | None = None
        self._newest: int | None = None  # computed once the checkpoint lines are read
        # Witnesses (trust.toml [witness]): per (size, root), the listed keys whose
        # cosignature of that checkpoint verifies; the sizes where some root reaches the
        # threshold; the newest such size the pass confirmed; witnessed notes whose root
        # is not the log's, judged after the pass; witness.note entries to check.
        self.cosigned: dict[tuple[int, bytes], set[str]] = {}
        self.witnessed_sizes: set[int] = set()
        # The last checkpoints passed (root and snapshot): a witness.note for one of them
        # counts as a cosignature there (the log carries its own cosignatures).
        self.recent: dict[int, tuple[bytes, _Snapshot]] = {}
        self.witness_head: _Snapshot | None = None
        self.last_witnessable = 0  # the size after the last entry other than witness.note
        self.set_aside: list[tuple[int, _Note, int]] = []
        self.last_matched = -1
        self.witness_notes: list[_WitnessNote] = []

    def find(self, category: Category, seq: int | None, msg: str) -> None:
        finding = Finding(category, seq, msg)
        self.report.findings.append(finding)
        if finding.exit_code in _STOPS or (self.options.strict and finding.exit_code == 3):  # noqa: PLR2004
            raise _Stop

    def reject(self, msg: str) -> NoReturn:
        """Record a REJECT finding (a malformed checkpoint file) and stop the run."""
        self.find(Category.REJECT, None, msg)
        raise _Stop  # pragma: no cover - find() already stops on REJECT

    def verifiers_for(self, size: int) -> list[note.Verifier]:
        return [p.verifier for p in self.periods if p.covers(size)]

    def signers_of(self, item: _Note) -> list[note.Verifier] | None:
        """The keys that validly signed ``item``, or None if it does not verify."""
        try:
            return note.open_note(item.text, self.verifiers_for(item.size))[1]
        except NoteError:
            return None

    @property
    def newest(self) -> int:
        if self._newest is None:
            self._newest = max(self.notes, default=0)
        return self._newest

    # -- checkpoints.aud1 -------------------------------------------------------------

    def read_checkpoints(self, lines: Iterable[bytes], below: int = 0) -> None:
        """Read checkpoint lines; with ``below``, lines of smaller sizes are skipped unread."""
        seen: set[bytes] = set()
        last = -1
        for number, line in enumerate(lines, start=1):
            match = _LINE_SIZE.search(line) if below else None
            if match is not None and int(match.group(1)) < below:
                continue
            if line in seen:
                continue
            seen.add(line)
            item = self._checkpoint_line(number, line)
            if item.size < last:
                self.find(Category.REJECT, None, f"{CHECKPOINTS} line {number}: sizes must ascend")
            last = item.size
            self.notes.setdefault(item.size, []).append(item)

    def _checkpoint_line(self, number: int, line: bytes) -> _Note:
        where = f"{CHECKPOINTS} line {number}"
        try:
            value = canonical.loads(line.removesuffix(b"\n"))
        except CanonicalError as exc:
            self.reject(f"{where}: {exc}")
        if (
            not line.endswith(b"\n")
            or not isinstance(value, dict)
            or set(value) != {"note", "size"}
        ):
            self.find(Category.REJECT, None, f"{where}: not {{note, size}} and a newline")
        size, text = value["size"], value["note"]
        if not isinstance(size, int) or isinstance(size, bool) or not isinstance(text, str):
            self.find(Category.REJECT, None, f"{where}: size or note of the wrong type")
        try:
            body = cp.parse_unverified(text)
        except NoteError as exc:
            self.reject(f"{where}: {exc}")
        if body.size != size or body.origin != self.origin:
            self.find(Category.REJECT, None, f"{where}: a note of {body.origin!r} at {body.size}")
        return _Note(size, text, body.root)

    # -- entries.aud1 -----------------------------------------------------------------

    def run_entries(
        self, records: Iterator[_Record], start: int, total: int, progress: Progress | None
    ) -> None:
        prev_ts, prev_req = 0, None
        self.last_good = start
        for seq, record in enumerate(_with_lookahead(records, self), start=start):
            entry = self._parsed(seq, record)
            self._check_seq(seq, entry)
            self._check_origin(seq, entry)
            self._check_prev(seq, entry)
            self._check_first(seq, entry)
            self._check_ts(seq, entry, prev_ts)
            self._check_domain(seq, entry)
            self._check_witness_note(seq, entry)
            if entry.kind != "witness.note":
                self.last_witnessable = seq + 1
            prev_req = self._check_req(seq, entry, prev_req)
            self._apply_keys(seq, entry)
            leaf = record.leaf
            self.compact.append(leaf)
            if seq in self.wanted_leaves:
                self.leaves[seq] = leaf
            self.prev_leaf, prev_ts = leaf, entry.ts
            self.offset += record.length
            size = seq + 1
            if size == self.newest:
                self.snapshot = self._snapshot(size, leaf)
            if size in self.notes or size in self.wanted_roots:
                root = self.compact.root()
                self.last_good = self._at_size(size, root, self.last_good)
                if size in self.witnessed_sizes and self._witnessed(size, root):
                    self.witness_head = self._snapshot(size, leaf)
                if self.trust.witness_keys and size in self.notes:
                    self._remember(size, root, leaf)
            if progress is not None and size % 4096 == 0:
                progress(size, total)
        self.report.size = self.compact.size
        self.report.root = self.compact.root()

    def _snapshot(self, size: int, leaf: bytes) -> _Snapshot:
        compact = tuple(self.compact.hashes)
        return _Snapshot(size, compact, leaf, self.offset, tuple(self.periods))

    # Each check below is one method, so that the mutation test (T-27) can remove each
    # in turn and see a tamper test fail.

    def _parsed(self, seq: int, record: _Record) -> _Slim:
        if record.error is not None:
            category, msg = record.error
            self.find(category, seq, f"{ENTRIES} line {seq + 1}: {msg}")
        if record.entry is None:  # pragma: no cover - every failed parse carries an error
            raise _Stop
        return record.entry

    def _check_seq(self, seq: int, entry: _Slim) -> None:
        if entry.seq != seq:
            category = self._seq_mismatch(seq, entry.seq)
            self.find(category, seq, f"line {seq + 1} holds seq {entry.seq}")

    def _check_origin(self, seq: int, entry: _Slim) -> None:
        if entry.log != self.origin:
            self.find(Category.TAMPER, seq, f"an entry of another log, {entry.log!r}")

    def _check_prev(self, seq: int, entry: _Slim) -> None:
        expected = ZERO_HASH if self.prev_leaf is None else self.prev_leaf.hex()
        if entry.prev != expected:
            # Entry seq-1 changed, or this entry's prev did. A checkpoint that matched at
            # size seq proves seq-1 intact; otherwise seq-1 is the first candidate.
            bad = seq if self.last_good == seq else seq - 1
            msg = f"prev of entry {seq} does not chain: entry {bad} was altered"
            self.find(Category.TAMPER, bad, msg)

    def _check_first(self, seq: int, entry: _Slim) -> None:
        if (seq == 0) != (entry.kind == "log.init"):
            self.find(Category.TAMPER, seq, "seq 0, and only seq 0, is log.init")
        if seq == 0:
            self._check_init(entry)

    def _check_ts(self, seq: int, entry: _Slim, prev_ts: int) -> None:
        if entry.ts < prev_ts:
            self.find(Category.DOMAIN_VIOLATION, seq, f"ts {entry.ts} goes back from {prev_ts}")

    def _check_domain(self, seq: int, entry: _Slim) -> None:
        if entry.kind in DOMAIN_KINDS and entry.data is not None:
            parts = entry.data
            for problem in self.domain.check(
                seq, entry.ts, entry.kind, parts["subj"], parts["who"], parts["data"]
            ):
                self.find(Category.DOMAIN_VIOLATION, seq, problem)

    def _check_witness_note(self, seq: int, entry: _Slim) -> None:
        """Check a ``witness.note``: a size ≤ its seq, one signature line of its witness.

        Else SCHEMA. A listed witness key's line is checked after the pass.
        """
        if entry.kind != "witness.note" or entry.data is None:
            return
        data = entry.data
        if data["size"] > seq:
            self.find(Category.SCHEMA, seq, f"witness.note names size {data['size']} > its seq")
        try:
            line = cosignature_line(data["line"])
        except NoteError as exc:
            self.find(Category.SCHEMA, seq, f"witness.note line: {exc}")
            return  # pragma: no cover - find() stops on SCHEMA
        if line.name != data["witness"]:
            msg = f"witness.note of {data['witness']!r} holds a line of {line.name!r}"
            self.find(Category.SCHEMA, seq, msg)
        for key in self.trust.witness_keys:
            if key.matches(line):
                self.witness_notes.append(_WitnessNote(seq, data["size"], key, line))
                self._count_witness_note(data["size"], key, line)

    def _remember(self, size: int, root: bytes, leaf: bytes) -> None:
        self.recent[size] = (root, self._snapshot(size, leaf))
        while len(self.recent) > RECENT_CHECKPOINTS:
            del self.recent[next(iter(self.recent))]

    def _count_witness_note(self, size: int, key: WitnessKey, line: note.SignatureLine) -> None:
        """Count a listed witness's ``witness.note`` line as its cosignature.

        For one of the last checkpoints passed, when the line verifies for the recomputed
        root (one that does not is FORK, after the pass); the size may become the
        witnessed head.
        """
        if size not in self.recent:
            return
        root, snapshot = self.recent[size]
        try:
            key.verify(cp.Checkpoint(self.origin, size, root).body(), line)
        except NoteError:
            return
        self.cosigned.setdefault((size, root), set()).add(key.public_key.hex())
        head = self.witness_head.size if self.witness_head is not None else 0
        if size > head and self._witnessed(size, root):
            signed = [i for i in self.notes[size] if i.root == root]
            if any(self.signers_of(i) is not None for i in signed):
                self.witness_head = snapshot

    def _seq_mismatch(self, line: int, found: int) -> Category:
        """A GAP when entries are missing (the next line continues the jump), else TAMPER."""
        if found < line:
            return Category.TAMPER
        following = self.lookahead
        if following is None:
            return Category.GAP
        if following.entry is None:
            return Category.TAMPER
        return Category.GAP if following.entry.seq == found + 1 else Category.TAMPER

    def _check_init(self, entry: _Slim) -> None:
        data = entry.data or {}
        vkeys = data.get("vkeys", [])
        pinned = str(self.trust.log_vkey)
        if data.get("origin") != self.origin or not vkeys or vkeys[0] != pinned:
            msg = "log.init does not name the pinned origin and log_vkey"
            self.find(Category.BAD_SIGNATURE, 0, msg)

    def _check_req(self, seq: int, entry: _Slim, prev: tuple[str, int] | None) -> tuple[str, int]:
        # The schema admitted ``req`` as <sub>/<request_id>#<index>, where neither part
        # holds '#': the transaction is what precedes the last '#'.
        transaction, _, index_text = entry.req.rpartition("#")
        index = int(index_text)
        if index > 0 and prev != (transaction, index - 1):
            self.find(Category.SCHEMA, seq, f"req {entry.req!r} does not continue its transaction")
        return transaction, index

    def _apply_keys(self, seq: int, entry: _Slim) -> None:
        if entry.kind == "key.reanchor":
            self._reanchor(seq, (entry.data or {}).get("statement", ""))
            return
        if entry.kind != "key.rotate":
            return
        data = entry.data or {}
        valid_now = {str(v) for v in self.verifiers_for(seq + 1)}
        try:
            old = note.Verifier.parse(data["old_vkey"])
            new = note.Verifier.parse(data["new_vkey"])
        except AuditLogError as exc:
            self.find(Category.BAD_ROTATION, seq, f"key.rotate: {exc}")
            return  # pragma: no cover - find() stops on BAD ROTATION
        if (
            str(old) not in valid_now
            or str(new) in valid_now
            or new.name != self.origin
            or data["from_size"] < seq + 2
        ):
            self.find(Category.BAD_ROTATION, seq, "key.rotate breaks the rules of audit-log.md §7")
        until = data["from_size"]
        self.periods = [
            KeyPeriod(p.verifier, p.from_size, until) if str(p.verifier) == str(old) else p
            for p in self.periods
        ]
        self.periods.append(KeyPeriod(new, seq + 1))
        self.rotation_checks[seq + 1] = (old, new)
        self.must_verify.add(seq + 1)
        self.boundaries.append(until)

    def _reanchor(self, seq: int, statement: str) -> None:
        """Apply an emergency re-anchor (audit-log.md §7; spec §8) at ``seq`` = q.

        The statement must be signed by at least ``reanchor_threshold`` distinct
        re-anchor keys of trust.toml, name this origin and a new key named after it, and
        anchor to a checkpointed size ≤ q whose recomputed root it repeats. Every earlier
        key then covers sizes ≤ q only, the new key sizes ≥ q + 1 (whose checkpoint must
        verify under it), and the entries after the anchor are reported (exit 3).
        """
        try:
            anchor, new = self._reanchor_statement(statement)
        except (AuditLogError, ValueError, KeyError, TypeError) as exc:
            self.find(Category.BAD_ROTATION, seq, f"key.reanchor: {exc}")
            return  # pragma: no cover - find() stops on BAD ROTATION
        size, root = anchor
        if size > seq or self.roots.get(size) != root:
            msg = f"key.reanchor: size {size} is not a checkpointed root of this log up to {seq}"
            self.find(Category.BAD_ROTATION, seq, msg)
            return  # pragma: no cover - find() stops on BAD ROTATION
        self.periods = [
            KeyPeriod(p.verifier, p.from_size, min(p.until_size or seq + 1, seq + 1))
            for p in self.periods
        ]  # fmt: skip
        self.periods.append(KeyPeriod(new, seq + 1))
        self.must_verify.add(seq + 1)
        if size < seq:
            msg = (
                f"re-anchored at seq {seq} to the root at size {size}: entries "
                f"{size}..{seq - 1} were written under a key that may have been compromised"
            )
            self.find(Category.REANCHORED, size, msg)

    def _reanchor_statement(self, statement: str) -> tuple[tuple[int, bytes], note.Verifier]:
        keys = self.trust.reanchor_keys
        if not keys:
            msg = "trust.toml pins no re-anchor keys"
            raise AuditLogError(msg)
        text, signed = note.open_note(statement, keys)
        if len({str(v) for v in signed}) < self.trust.reanchor_threshold:
            msg = f"{len(signed)} re-anchor signatures, {self.trust.reanchor_threshold} required"
            raise AuditLogError(msg)
        value = canonical.loads(text.removesuffix("\n").encode())
        if not text.endswith("\n") or set(value) != {
            "new_vkey",
            "origin",
            "trusted_prefix_size",
            "trusted_root",
        }:
            msg = "the statement is not its four members and a newline"
            raise AuditLogError(msg)
        new = note.Verifier.parse(value["new_vkey"])
        used = {str(p.verifier) for p in self.periods}
        if value["origin"] != self.origin or new.name != self.origin or str(new) in used:
            msg = "another origin, or a new key not new or not named after the origin"
            raise AuditLogError(msg)
        size = value["trusted_prefix_size"]
        if type(size) is not int or size < 1:
            msg = "trusted_prefix_size is a positive integer"
            raise AuditLogError(msg)
        return (size, bytes.fromhex(value["trusted_root"])), new

    def _at_size(self, size: int, root: bytes, last_good: int) -> int:
        self.roots[size] = root
        items = self._set_aside(size, root, self.notes.get(size, []), last_good)
        if len({item.root for item in items}) > 1:
            self._equivocation(size, items)
        verify = (
            self.options.all_signatures
            or size in self.must_verify
            or any(b <= size for b in self.boundaries)
        )
        for item in items:
            if item.root != root:
                self._mismatch(size, item, last_good)
            if verify:
                self._verify_signed(size, item)
        if not items:
            return last_good
        self.boundaries = [b for b in self.boundaries if b > size]
        self.last_matched = size
        return size

    def _set_aside(self, size: int, root: bytes, items: list[_Note], last_good: int) -> list[_Note]:
        """Keep apart the notes a listed witness cosigned whose root is not the log's.

        After the pass (:meth:`resolve_set_aside`) such a note is FORK evidence when the
        log's own signed checkpoints at or after ``size`` match the entries (the log key
        signed another tree than the one the witness saw), else an ordinary mismatch.
        """
        if not self.cosigned:
            return items
        aside = [i for i in items if i.root != root and self.cosigned.get((size, i.root))]
        self.set_aside.extend((size, item, last_good) for item in aside)
        return [i for i in items if i not in aside]

    def _mismatch(self, size: int, item: _Note, last_good: int) -> None:
        if self.signers_of(item) is None:
            msg = f"the checkpoint at size {size} was altered: its signature fails"
            self.find(Category.BAD_SIGNATURE, size - 1, msg)
        msg = (
            f"the root at size {size} differs from its signed checkpoint: "
            f"the first bad entry is in {last_good}..{size - 1}"
        )
        self.find(Category.TAMPER, last_good, msg)

    def _equivocation(self, size: int, items: list[_Note]) -> None:
        valid = [item for item in items if self.signers_of(item) is not None]
        if len({item.root for item in valid}) > 1:
            evidence = "\n---\n".join(item.text for item in valid)
            msg = f"two validly signed roots for size {size}:\n{evidence}"
            self.find(Category.EQUIVOCATION, None, msg)

    def _verify_signed(self, size: int, item: _Note) -> None:
        try:
            signed = note.open_note(item.text, self.verifiers_for(size))[1]
        except NoteError as exc:
            self.find(Category.REJECT, size - 1, f"checkpoint note at size {size} rejected: {exc}")
            return  # pragma: no cover - find() stops on REJECT
        pair = self.rotation_checks.get(size)
        if pair is not None and not {str(pair[0]), str(pair[1])} <= {str(v) for v in signed}:
            msg = f"checkpoint at size {size} lacks the dual signature of a key rotation"
            self.find(Category.BAD_ROTATION, size - 1, msg)

    # -- after the pass ---------------------------------------------------------------

    def finish_tail(self, entries: int) -> None:
        beyond = [
            item
            for (size, root) in self.cosigned
            if size > entries
            for item in self.notes[size]
            if item.root == root
        ]
        # Evidence only when the log signed it too: a witness's line alone proves nothing
        # about the log (a rogue or mistaken witness could cosign any body).
        unsigned = [item for item in beyond if self.signers_of(item) is None]
        if unsigned:
            item = min(unsigned, key=lambda i: i.size)
            msg = (f"a cosigned checkpoint at size {item.size} beyond the export's {entries} "
                   f"entries is not signed by a log key:\n{item.text}")  # fmt: skip
            self.find(Category.BAD_SIGNATURE, None, msg)
        if beyond:
            newest = max(beyond, key=lambda item: item.size)
            msg = (
                f"a witness cosigned the log at size {newest.size}, the export has {entries} "
                f"entries; the cosigned checkpoint:\n{newest.text}"
            )
            self.find(Category.ROLLBACK, entries, msg)
        if self.newest > entries:
            msg = f"a checkpoint covers {self.newest} entries, the export has {entries}"
            self.find(Category.TRUNCATION, entries, msg)
        if entries > self.newest:
            msg = f"entries {self.newest}..{entries - 1} are covered by no checkpoint"
            self.find(Category.UNSIGNED_TAIL, self.newest, msg)

    def check_pinned(self) -> None:
        pinned = self.pinned
        if pinned is None:
            return
        evidence = f"pinned checkpoint:\n{pinned.checkpoint}"
        if pinned.size > self.report.size:
            msg = f"the log has {self.report.size} entries, fewer than the pinned {pinned.size}; "
            self.find(Category.ROLLBACK, None, msg + evidence)
        found = self.roots.get(pinned.size, pinned.root)
        if found != pinned.root:
            msg = f"the root at the pinned size {pinned.size} is {found.hex()}; "
            self.find(Category.FORK, None, msg + evidence)

    def check_receipt(self, name: str, text: str) -> None:
        try:
            parsed = Receipt.parse(text)
            keys = self.verifiers_for(cp.parse_unverified(parsed.checkpoint_note).size)
            checkpoint, _ = cp.open_checkpoint(parsed.checkpoint_note, self.origin, keys)
        except NoteError as exc:
            self.find(Category.REJECT, None, f"receipt {name}: {exc}")
            return  # pragma: no cover - find() stops on REJECT
        index, size = parsed.index, checkpoint.size
        if size > self.report.size or index not in self.leaves:
            msg = f"receipt {name} proves entry {index} at size {size}, beyond the log"
            self.find(Category.ROLLBACK, index, msg)
            return  # pragma: no cover - find() stops on ROLLBACK
        if self.roots.get(size) != checkpoint.root:
            msg = f"receipt {name}: its signed root at size {size} is not the log's:\n"
            self.find(Category.FORK, index, msg + parsed.checkpoint_note)
        try:
            merkle.verify_inclusion(index, size, self.leaves[index], parsed.proof, checkpoint.root)
        except ProofError as exc:
            self.find(Category.PROOF, index, f"receipt {name}: {exc}")

    def new_state(self) -> state.PinnedState | None:
        """The state to pin: at the newest checkpoint, or at the witnessed head."""
        snapshot = self.witness_head if self.trust.witness_keys else self.snapshot
        if snapshot is None or snapshot.size == 0 or snapshot.size not in self.roots:
            return None
        size, root = snapshot.size, self.roots[snapshot.size]
        if self.pinned is not None and size < self.pinned.size:
            return None  # the witnessed head lags behind what was pinned: keep that
        keys = tuple((str(p.verifier), p.from_size, p.until_size) for p in snapshot.periods)
        items = self.notes[size]
        text = next((item.text for item in items if item.root == root), items[0].text)
        return state.PinnedState(
            self.origin, size, root, text, keys,
            snapshot.compact, snapshot.last_leaf, snapshot.offset,
        )  # fmt: skip

    # -- witnesses (trust.toml [witness]) ---------------------------------------------

    def verify_cosignatures(self) -> None:
        """Verify every cosignature line of a listed witness key, in every note read.

        A failing one is BAD SIGNATURE; valid ones are counted per (size, root), and the
        sizes where a root reaches the threshold get their log signature verified too.
        """
        keys = self.trust.witness_keys
        if not keys:
            return
        marks = {f"\n— {key.name} " for key in keys}  # skip notes without their lines
        for size, items in self.notes.items():
            for item in items:
                if not any(mark in item.text for mark in marks):
                    continue
                for line in note.split(item.text)[1]:
                    for key in keys:
                        if key.matches(line):
                            self._verify_cosignature(size, item, key, line)
        for (size, _), signers in self.cosigned.items():
            if len(signers) >= self.trust.witness_threshold:
                self.witnessed_sizes.add(size)
                self.must_verify.add(size)

    def _verify_cosignature(
        self, size: int, item: _Note, key: WitnessKey, line: note.SignatureLine
    ) -> None:
        body = cp.Checkpoint(self.origin, size, item.root).body()
        try:
            key.verify(body, line)
        except NoteError as exc:
            seq = size - 1 if size > 0 else None
            self.find(Category.BAD_SIGNATURE, seq, f"checkpoint at size {size}: {exc}")
            return  # pragma: no cover - find() stops on BAD SIGNATURE
        self.cosigned.setdefault((size, item.root), set()).add(key.public_key.hex())

    def _witnessed(self, size: int, root: bytes) -> bool:
        return len(self.cosigned.get((size, root), ())) >= self.trust.witness_threshold

    def resolve_set_aside(self) -> None:
        """Judge the witnessed notes whose root differs from the log's (:meth:`_set_aside`)."""
        for size, item, last_good in self.set_aside:
            if self.last_matched < size or self.signers_of(item) is None:
                # Not signed by the log: no evidence of a fork, an altered note.
                self._mismatch(size, item, last_good)
                continue  # pragma: no cover - _mismatch() always stops the run
            own = next(
                (n.text for t in sorted(self.notes) if t >= size for n in self.notes[t]
                 if n.root == self.roots.get(t)),
                "",
            )  # fmt: skip
            msg = (
                f"a witness cosigned another root at size {size} than the log's "
                f"{self.roots[size].hex()}: the witness was shown another tree; the "
                f"cosigned checkpoint:\n{item.text}---\nthe log's checkpoint:\n{own}"
            )
            self.find(Category.FORK, None, msg)

    def check_witness_notes(self, entries: Path) -> None:
        """Each listed witness's ``witness.note`` line must verify for the log's root."""
        if not self.witness_notes:
            return
        missing = {w.size for w in self.witness_notes} - set(self.roots)
        roots = {**self.roots, **_roots_at(entries, missing)} if missing else self.roots
        for item in self.witness_notes:
            body = cp.Checkpoint(self.origin, item.size, roots[item.size]).body()
            try:
                item.key.verify(body, item.line)
            except NoteError as exc:
                msg = (
                    f"witness.note of {item.key.name} for size {item.size} does not verify "
                    f"for the log's checkpoint there ({exc}): the witness was shown another "
                    f"tree; the log's checkpoint body:\n{body}the cosignature:\n"
                    f"{item.line.line}"
                )
                self.find(Category.FORK, item.seq, msg)

    def check_witness_policy(self, entries: int) -> None:
        """Entries after the newest witnessed checkpoint are WITNESS POLICY (exit 3).

        Except ``witness.note`` entries alone: recording a cosignature appends one, which
        no witness is asked to cosign (audit-log-v1 §12), so a witnessed log always ends
        in them. Each was checked in the pass (its schema, and a listed witness's line
        against the log's root at its size).
        """
        if not self.trust.witness_keys:
            return
        head = self.witness_head.size if self.witness_head is not None else 0
        if self.options.since and self.pinned is not None:
            head = max(head, self.pinned.size)  # an incremental run judges new entries only
        if entries > head and self.last_witnessable > head:
            msg = (
                f"entries {head}..{entries - 1} follow the newest checkpoint with "
                f"{self.trust.witness_threshold} valid witness cosignatures (size {head})"
            )
            self.find(Category.WITNESS_POLICY, head, msg)

    def plan(self, receipts: list[tuple[str, str]]) -> None:
        """Mark what must be verified and what must be remembered during the pass."""
        self.must_verify.add(self.newest)
        self.verify_cosignatures()
        if self.pinned is not None:
            self.must_verify.add(self.pinned.size)
            self.wanted_roots.add(self.pinned.size)
        for _, text in receipts:
            try:
                parsed = Receipt.parse(text)
                size = cp.parse_unverified(parsed.checkpoint_note).size
            except NoteError:
                continue  # reported when the receipt is checked
            self.wanted_leaves.add(parsed.index)
            self.wanted_roots.add(size)

    def resume(self, pinned: state.PinnedState) -> None:
        """For ``since``: start from the pinned compact range, chain and key periods."""
        self.periods = [KeyPeriod(note.Verifier.parse(v), f, u) for v, f, u in pinned.keys]
        self.compact = merkle.CompactRange(pinned.size, pinned.compact)
        self.prev_leaf, self.offset = pinned.last_leaf, pinned.offset
        self.roots[pinned.size] = self.compact.root()
        if self.compact.root() != pinned.root:
            msg = "the pinned compact range does not give the pinned root (a damaged state file)"
            self.find(Category.FORK, None, msg)

    def skip_pinned_prefix(self, pinned: state.PinnedState, lines: Iterator[bytes]) -> int:
        """For ``since`` without a resumable state: hash the pinned prefix only."""
        self.periods = [KeyPeriod(note.Verifier.parse(v), f, u) for v, f, u in pinned.keys]
        for _ in range(pinned.size):
            line = next(lines)
            leaf = merkle.leaf_hash(line.removesuffix(b"\n"))
            self.compact.append(leaf)
            self.prev_leaf = leaf
            self.offset += len(line)
        self.roots[pinned.size] = self.compact.root()
        if self.compact.root() != pinned.root:
            msg = (
                f"the first {pinned.size} entries do not give the pinned root; pinned checkpoint:\n"
            )
            self.find(Category.FORK, None, msg + pinned.checkpoint)
        return pinned.size


def verify_log(  # noqa: PLR0913 - the verifier's inputs
    export_dir: Path,
    trust: Trust,
    options: Options = Options(),
    *,
    state_dir: Path | None = None,
    receipts_dir: Path | None = None,
    progress: Progress | None = None,
) -> Report:
    """Verify an export folder against ``trust``; findings go into the report.

    With ``options.since``, entries below the pinned size are only hashed (their root
    must equal the pinned root) and the new ones get every check. The caller pins
    ``report.new_state`` when the exit code is 0 or 3.
    """
    try:
        pinned = state.load(state_dir, trust.origin) if state_dir is not None else None
        receipts = _read_receipts(receipts_dir)
        incremental = options.since and pinned is not None and _resumable(pinned)
        if (
            incremental
            and pinned is not None
            and (export_dir / ENTRIES).stat().st_size >= pinned.offset
        ):
            # Only what is new is read: entries after the pinned offset, checkpoint lines
            # from the end back to the pinned size.
            total = pinned.size + _count(export_dir / ENTRIES, pinned.offset)
            checkpoint_lines = _tail_lines(export_dir / CHECKPOINTS, pinned.size)
        else:
            total = _count(export_dir / ENTRIES)
            checkpoint_lines = (export_dir / CHECKPOINTS).read_bytes().splitlines(keepends=True)
    except (OSError, AuditLogError) as exc:
        report = Report(trust.origin)
        report.findings.append(Finding(Category.USAGE, None, f"cannot read the inputs: {exc}"))
        return report
    run = _Run(trust, pinned, options)
    try:
        below = pinned.size if options.since and pinned is not None else 0
        run.read_checkpoints(checkpoint_lines, below)
        run.plan(receipts)
        start = offset = 0
        if options.since and pinned is not None and pinned.size <= total and _resumable(pinned):
            run.resume(pinned)
            start, offset = pinned.size, pinned.offset
        elif options.since and pinned is not None and pinned.size <= total:
            start = run.skip_pinned_prefix(pinned, _lines(export_dir / ENTRIES))
            offset = run.offset
        entries = export_dir / ENTRIES
        if options.workers > 1 and total - start >= PARALLEL_MIN_ENTRIES:
            records = _parallel_records(entries, offset, options.workers)
        else:
            records = _serial_records(entries, offset)
        run.run_entries(records, start, total, progress)
        run.resolve_set_aside()
        run.finish_tail(total)
        run.check_pinned()
        run.check_witness_notes(entries)
        run.check_witness_policy(total)
        for name, text in receipts:
            run.check_receipt(name, text)
    except (_Stop, CanonicalError, NoteError, SchemaError):
        return run.report
    except (OSError, BrokenExecutor) as exc:  # a worker process died mid-run
        msg = f"parsing failed: {exc}; rerun with one worker"
        run.report.findings.append(Finding(Category.USAGE, None, msg))
        return run.report
    run.report.new_state = run.new_state() if run.report.exit_code in {0, 3} else None
    return run.report


class _Slim(NamedTuple):
    """What the sequential checks read of a valid entry, small enough to pickle cheaply.

    ``data`` is kept only for the kinds whose data those checks inspect (else None).
    """

    seq: int
    prev: str
    ts: int
    req: str
    kind: str
    log: str
    data: dict[str, Any] | None


_DATA_READ = frozenset({"log.init", "key.rotate", "key.reanchor", "witness.note"})


class _Record(NamedTuple):
    """One export line, parsed: its length, leaf hash, and fields or error."""

    length: int
    leaf: bytes
    entry: _Slim | None
    error: tuple[Category, str] | None


# What a parse returns across the process boundary: a _Record made of plain tuples, as
# unpickling NamedTuples costs seven times more (4.6 against 0.6 µs per line measured).
_Wire = tuple[int, bytes, tuple[Any, ...] | None, tuple[Category, str] | None]
_new = tuple.__new__


def _record(body: bytes, newline: bool = True) -> _Wire:
    """Parse one ``entries.aud1`` line (without its newline): canonical form, schema."""
    length = len(body) + newline
    leaf = merkle.leaf_hash(body)
    if not newline:
        return length, leaf, None, (Category.REJECT, "lacks its newline")
    if len(body) > MAX_ENTRY_BYTES:
        return (
            length,
            leaf,
            None,
            (Category.SCHEMA, f"entry of {len(body)} bytes exceeds {MAX_ENTRY_BYTES}"),
        )
    try:
        value = decode_value(body.decode("utf-8"))
    except UnicodeDecodeError:
        return length, leaf, None, (Category.NONCANONICAL, "not UTF-8")
    except CanonicalError as exc:
        return length, leaf, None, (Category.NONCANONICAL, str(exc))
    except SchemaError as exc:
        return length, leaf, None, (Category.SCHEMA, str(exc))
    kind = value["kind"]
    data = value["data"] if kind in _DATA_READ else None
    if kind in DOMAIN_KINDS:  # the domain rules read the subject and actor too
        data = {"subj": value["subj"], "who": value["who"], "data": value["data"]}
    return (
        length,
        leaf,
        (value["seq"], value["prev"], value["ts"], value["req"], kind, value["log"], data),
        None,
    )


def _block_records(data: bytes) -> list[_Wire]:
    """Parse a block of whole lines; only a final line may lack its newline."""
    bodies = data.split(b"\n")
    tail = bodies.pop()
    records = [_record(body) for body in bodies]
    if tail:
        records.append(_record(tail, newline=False))
    return records


def _typed(block: list[_Wire]) -> Iterator[_Record]:
    for length, leaf, entry, error in block:
        yield _new(_Record, (length, leaf, None if entry is None else _new(_Slim, entry), error))


def _chunk_records(path: str, start: int, stop: int) -> list[_Wire]:
    """Parse the lines in bytes ``[start, stop)`` of a file (a worker process's job)."""
    with open(path, "rb") as handle:  # noqa: PTH123 - a path string crosses processes
        handle.seek(start)
        data = handle.read(stop - start)
    return _block_records(data)


def _serial_records(path: Path, offset: int) -> Iterator[_Record]:
    """Parse the file from ``offset`` in this process, a block of lines at a time."""
    for start, stop in _chunk_bounds(path, offset):
        yield from _typed(_chunk_records(str(path), start, stop))


CHUNK_BYTES = 2 << 20


def _chunk_bounds(path: Path, offset: int) -> list[tuple[int, int]]:
    """Split ``[offset, end)`` into chunks of about 2 MB that end at line boundaries."""
    size = path.stat().st_size
    bounds, start = [], offset
    with path.open("rb") as handle:
        while start < size:
            handle.seek(min(start + CHUNK_BYTES, size))
            handle.readline()
            stop = min(handle.tell(), size)
            bounds.append((start, stop))
            start = stop
    return bounds


def _parallel_records(path: Path, offset: int, workers: int) -> Iterator[_Record]:
    """Parse chunks in worker processes; yield the records in file order."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    # "spawn": workers import only this library and never inherit a caller's threads.
    context = multiprocessing.get_context("spawn")
    bounds = _chunk_bounds(path, offset)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        window = 2 * workers
        pending: deque[Future[list[_Wire]]] = deque(
            pool.submit(_chunk_records, str(path), start, stop) for start, stop in bounds[:window]
        )
        try:
            first = pending.popleft().result() if pending else []
        except BrokenProcessPool:  # e.g. run from a script on standard input: parse here
            yield from _serial_records(path, offset)
            return
        yield from _typed(first)
        for start, stop in bounds[window:]:
            pending.append(pool.submit(_chunk_records, str(path), start, stop))
            yield from _typed(pending.popleft().result())
        while pending:
            yield from _typed(pending.popleft().result())


def _with_lookahead(records: Iterator[_Record], run: _Run) -> Iterator[_Record]:
    """Yield records, exposing the following one as ``run.lookahead`` (GAP vs TAMPER)."""
    current = next(records, None)
    while current is not None:
        following = next(records, None)
        run.lookahead = following
        yield current
        current = following


def cosignature_line(text: str) -> note.SignatureLine:
    r"""Parse the ``line`` of a ``witness.note``: one signature line ending in ``\n``.

    Raises:
        NoteError: not exactly one well-formed signature line.
    """
    if not text.endswith("\n") or text.count("\n") != 1:
        msg = "not one signature line ending in a newline"
        raise NoteError(msg)
    return note.split("-\n\n" + text)[1][0]


def _roots_at(path: Path, sizes: set[int]) -> dict[int, bytes]:
    """The roots at ``sizes`` recomputed from ``entries.aud1`` (a second, rarer pass)."""
    found = {0: merkle.EMPTY_ROOT} if 0 in sizes else {}
    compact, last = merkle.CompactRange(), max(sizes)
    for line in _lines(path):
        if compact.size >= last:
            break
        compact.append(merkle.leaf_hash(line.removesuffix(b"\n")))
        if compact.size in sizes:
            found[compact.size] = compact.root()
    return found


def _read_receipts(directory: Path | None) -> list[tuple[str, str]]:
    if directory is None:
        return []
    files = sorted(p for p in directory.iterdir() if p.is_file())
    return [(p.name, p.read_text(encoding="utf-8")) for p in files]


def _resumable(pinned: state.PinnedState) -> bool:
    compact_ok = len(pinned.compact) == pinned.size.bit_count()
    return compact_ok and len(pinned.last_leaf) == merkle.HASH_SIZE and pinned.offset > 0


def _lines(path: Path, offset: int = 0) -> Iterator[bytes]:
    with path.open("rb") as handle:
        handle.seek(offset)
        yield from handle


def _count(path: Path, offset: int = 0) -> int:
    with path.open("rb") as handle:
        handle.seek(offset)
        return sum(1 for _ in handle)


def _tail_lines(path: Path, below: int, block: int = 1 << 16) -> list[bytes]:
    """Read an ascending checkpoint file from its end, back past the size ``below``.

    The returned lines include the first older line found, so the caller still checks
    the order where the new lines meet the old ones.
    """
    with path.open("rb") as handle:
        end = handle.seek(0, 2)
        position, data = end, b""
        while position > 0:
            position = max(0, position - block)
            handle.seek(position)
            data = handle.read(end - position)
            lines = data.splitlines(keepends=True)
            complete = lines[1:] if position > 0 else lines
            for line in complete:
                match = _LINE_SIZE.search(line)
                if match is not None and int(match.group(1)) < below:
                    return complete
        return data.splitlines(keepends=True)
