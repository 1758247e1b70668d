"""The EDS-1 proof bundle (docs/spec/draw-v1.md §10): built from a draw's log entries.

Everything in a bundle is either a logged value, recomputed from logged values, or a
pool leaf bound by the logged ``pool_root``; :func:`build` derives it all from the
eligible members, the entries (with their inclusion proofs) and two checkpoints, so
the service, the vector generator and a test double produce the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from audit_log import canonical
from expert_draw.core import eds1

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

SPEC_VERSION = "EDS-1"
MEMBERS = frozenset({
    "spec_version", "code_digest", "drand", "params", "params_hash", "leaves", "pool_root",
    "n_elig", "excluded_root", "n_excl", "excluded_counts", "envelopes", "r", "sig_r", "rho",
    "s", "nonce", "seed", "draw", "replacements", "entries", "checkpoint", "latest",
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Included:
    """One log entry of the bundle: its seq, exact body and inclusion proof."""

    seq: int
    body: bytes
    proof: tuple[bytes, ...]


def _data(entries: Sequence[Included], draw_subj: str, kind: str) -> dict[str, Any]:
    for item in entries:
        value = canonical.loads(item.body)
        if value["kind"] == kind and value["subj"] == draw_subj:
            data: dict[str, Any] = value["data"]
            return data
    msg = f"the bundle's entries hold no {kind} of {draw_subj}"
    raise ValueError(msg)


def replacements(entries: Sequence[Included], draw_subj: str) -> list[dict[str, Any]]:
    """One item per ``draw.decline`` of the draw, with the ``draw.replace`` after it."""
    items: list[dict[str, Any]] = []
    for item in entries:
        value = canonical.loads(item.body)
        if value["subj"] != draw_subj:
            continue
        data = value["data"]
        if value["kind"] == "draw.decline":
            items.append({
                "decline_seq": item.seq, "pseud": data["pseud"], "reason": data["reason"],
                "evidence_hash": data["evidence_hash"], "void": data["void"], "d": None,
                "replacement": None, "replace_seq": None,
            })  # fmt: skip
        elif (
            value["kind"] == "draw.replace"
            and items
            and items[-1]["replace_seq"] is None
            and items[-1]["pseud"] == data["out"]
        ):
            items[-1].update(d=data["d"], replacement=data["in"], replace_seq=item.seq)
    return items


def build(  # noqa: PLR0913 - the bundle's sources
    *,
    draw_id: str,
    members: Sequence[eds1.Member],
    entries: Sequence[Included],
    checkpoint: str,
    latest: str,
    consistency: Sequence[bytes],
    drand: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The bundle object of an executed draw (aud1 bytes: ``canonical.dumps``).

    ``members`` are the frozen pool's members (leaves and xleaves; only leaves are
    published); ``entries`` ascending by seq.

    Raises:
        ValueError: the entries lack a phase the bundle needs.
    """
    subj = f"draws/{draw_id}"
    commit = _data(entries, subj, "draw.commit")
    freeze = _data(entries, subj, "pool.freeze")
    execute = _data(entries, subj, "draw.execute")
    nonce = _data(entries, subj, "draw.nonce")["nonce"]
    params = eds1.Params.decode(bytes.fromhex(commit["params"]))
    codes = [d.code for d in params.disciplines]
    seed = bytes.fromhex(execute["seed"])
    order = eds1.orders(members, codes, lambda p: eds1.rank(seed, p))
    quotas = {d.code: eds1.Quota(d.k, d.r) for d in params.disciplines}
    panel, reserve = eds1.panels(order, codes, quotas)
    leaves = sorted((m for m in members if m.eligible), key=lambda m: m.pseudonym)
    return {
        "spec_version": SPEC_VERSION, "code_digest": params.code_digest.hex(),
        "drand": None if drand is None else dict(drand),
        "params": commit["params"], "params_hash": commit["params_hash"],
        "leaves": [{"pseud": m.pseudonym.hex(), "discs": [d.decode() for d in m.discs],
                    "idc": m.idc.hex()} for m in leaves],
        "pool_root": commit["pool_root"], "n_elig": commit["n_elig"],
        "excluded_root": commit["excluded_root"], "n_excl": commit["n_excl"],
        "excluded_counts": freeze["excluded_counts"], "envelopes": commit["envelopes"],
        "r": commit["r"], "sig_r": execute["sig_r"], "rho": execute["rho"], "s": execute["s"],
        "nonce": nonce, "seed": execute["seed"],
        "draw": [{"d": d.decode(), "panel": [p.hex() for p in panel[d]],
                  "reserve": [p.hex() for p in reserve[d]],
                  "order": [p.hex() for p in order[d]]} for d in codes],
        "replacements": replacements(entries, subj),
        "entries": [{"seq": e.seq, "body": e.body.decode(), "proof": [h.hex() for h in e.proof]}
                    for e in entries],
        "checkpoint": checkpoint,
        "latest": {"checkpoint": latest, "consistency": [h.hex() for h in consistency]},
    }  # fmt: skip
