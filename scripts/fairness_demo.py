r"""Write the fairness report of a deterministic demo platform (docs/fairness-analytics.md).

Usage::

    .venv/bin/python scripts/fairness_demo.py --out /tmp/report.html \\
        --screenshot docs/images/fairness-report.png

Half a year (January to June 2030, 中国标准时间) of a small platform: 60 experts over
three disciplines of a building tender (土建, 电气, 给排水; two experts hold two), eight
tenderers, four agencies, four trading systems. Every executed draw is a real EDS-1 draw:
the seed comes from ``eds1.seed`` over the draw's own pool roots, the panels from
``eds1.orders`` and ``eds1.panels``, declines and their replacements from
``eds1.Seating``. Some experts decline (a signed decline, no answer, busy), a few tenders
are re-drawn for ordinary reasons, one draw is cancelled before execution, one expires
without its nonce, one is refused at the freeze (short pool) and one is still waiting.

One anomaly is injected: the trading system ``ts-qingyuan`` cancels and re-draws each of
its tenders that starts with 土建 until its friend ``E007`` sits on that panel. The report
must show it (the steering detector and the re-draw rate); everything else is fair. No clock and no
unseeded randomness: the same command writes the same bytes.

``--screenshot`` opens the written file in headless Chromium (``/usr/bin/chromium``;
Debian package ``chromium``) and saves the top of the page as a PNG.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from expert_draw.adapters.fairness_report import render_html
from expert_draw.core import eds1
from expert_draw.core.eds1 import Member, Quota
from expert_draw.core.fairness import (
    CHINA_STANDARD_TIME,
    Decline,
    DrawRecord,
    ExpertInfo,
    FairnessPolicy,
    FairnessReport,
    Stratum,
    analyse,
)

TITLE = "专家抽取公平性分析报告（演示数据）"
START_MS = int(datetime(2030, 1, 1, tzinfo=CHINA_STANDARD_TIME).timestamp() * 1000)
AS_OF_MS = int(datetime(2030, 7, 1, tzinfo=CHINA_STANDARD_TIME).timestamp() * 1000)
SPAN_MS = AS_OF_MS - START_MS - 7 * 86_400_000  # the last week holds no ordinary tender
HOUR_MS = 3_600_000

# The injected anomaly: a requester who re-draws until a friend is seated.
ANOMALY_REQUESTER = "ts-qingyuan"
ANOMALY_EXPERT = "E007"

CIVIL, ELECTRICAL, PLUMBING = "A080104", "A080105", "A080106"  # 土建, 电气, 给排水
SEATS = {CIVIL: Quota(3, 2), ELECTRICAL: Quota(2, 2), PLUMBING: Quota(2, 2)}
EXPERTS = tuple(f"E{i:03d}" for i in range(60))


def _holds(i: int) -> tuple[str, ...]:
    """E000-E021 土建, E020-E041 电气, E040-E059 给排水: E020, E021, E040, E041 hold two."""
    return tuple(
        code
        for code, (low, high) in ((CIVIL, (0, 21)), (ELECTRICAL, (20, 41)), (PLUMBING, (40, 59)))
        if low <= i <= high
    )


DISCIPLINES = {e: _holds(i) for i, e in enumerate(EXPERTS)}
# Thirty employers of two experts each, in different disciplines.
EMPLOYER = {
    e: "emp-" + hashlib.sha256(f"employer-{i % 30}".encode()).hexdigest()[:10]
    for i, e in enumerate(EXPERTS)
}
TENDERERS = (
    "91440101MA59A1B2C3", "91440101MA5CK7L8M9", "91440300MA5D2E3F4G", "91440300MA5EX1Y2Z3",
    "91440600MA4W5V6U7T", "91440600MA52Q3R4S5", "91441800MA4X8Y9Z0A", "91441800MA53H4J5K6",
)  # fmt: skip
AGENCIES = ("91440101AG0001XK2P", "91440300AG0002LM3Q", "91440600AG0003NP4R", "")
REQUESTERS = ("ts-guangzhou", "ts-shenzhen", "ts-foshan", ANOMALY_REQUESTER)
REQUESTS = (  # the disciplines a tender asks for, in D order
    (CIVIL,), (ELECTRICAL,), (PLUMBING,), (CIVIL, ELECTRICAL), (ELECTRICAL, PLUMBING),
    (CIVIL, PLUMBING),
)  # fmt: skip
NOT_EXECUTED = frozenset({"TENDER_WITHDRAWN", "INSUFFICIENT_POOL"})  # cancelled before
EXCLUSIONS = (b"BUSY_WINDOW", b"FREQ_TENDERER", b"SAME_PROJECT", b"REGION")


def _h(*parts: object) -> bytes:
    return hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()


PSEUDONYM = {e: _h("pseudonym", e)[:16] for e in EXPERTS}
EXPERT_OF = {p: e for e, p in PSEUDONYM.items()}


@dataclass(frozen=True, slots=True)
class Tender:
    """One tender (a lot) of a project, as a trading system asks for it."""

    number: int
    requester: str
    project_ref: str
    tender_ref: str
    tenderer: str
    agency: str
    disciplines: tuple[str, ...]
    created_ms: int


@dataclass(slots=True)
class _Attempt:
    """How the requester ends one attempt of a tender (the draw itself is EDS-1's)."""

    state: str = "AWARDED"
    cancel_reason: str = ""
    decline_rate: float = 0.08
    at_ms: int = 0


def _members(tender: Tender, rnd: random.Random) -> list[Member]:
    """The experts holding a requested discipline; about one in six excluded (回避 etc.)."""
    out = []
    for e in EXPERTS:
        discs = tuple(sorted(d for d in DISCIPLINES[e] if d in tender.disciplines))
        if not discs:
            continue
        reasons = (rnd.choice(EXCLUSIONS),) if rnd.random() < 1 / 6 else ()
        out.append(Member(PSEUDONYM[e], tuple(d.encode() for d in discs), reasons, _h("idc", e)))
    return out


def _seed(draw_id: str, members: list[Member]) -> bytes:
    """The EDS-1 seed over the draw's own pool roots (secret and nonce fixed per draw)."""
    pool_root, excluded_root = eds1.pool_roots(members)
    return eds1.seed(
        draw_id.encode(),
        pool_root=pool_root,
        excluded_root=excluded_root,
        params_hash=_h("params", draw_id),
        s=_h("secret", draw_id),
        r=0,
        rho=b"",
        nonce=_h("nonce", draw_id),
    )


def _declines(
    seating: eds1.Seating, rate: float, rnd: random.Random
) -> tuple[tuple[Decline, ...], bool]:
    """Seated experts decline at ``rate`` (signed, no answer or busy); mode-A replacements."""
    declines: list[Decline] = []
    for d in list(seating.seats):
        for p in list(seating.seats[d]):
            if rnd.random() >= rate:
                continue
            reason = rnd.choices(("SIGNED_DECLINE", "NO_ANSWER", "BUSY"), (6, 3, 1))[0]
            out = seating.decline(p)
            incoming = "" if out is None or out.incoming is None else EXPERT_OF[out.incoming]
            declines.append(Decline(EXPERT_OF[p], reason, incoming))
            if seating.exhausted:
                return tuple(declines), True
    return tuple(declines), False


def draw(tender: Tender, attempt: int, how: _Attempt, supersedes: str = "") -> DrawRecord:
    """One attempt of a tender: freeze the pool, then a real EDS-1 draw unless not executed."""
    draw_id = f"d-{tender.number:04d}-{attempt}"
    rnd = random.Random(f"{draw_id}/pool")  # noqa: S311 - a fixed seed per draw, no secret
    members = _members(tender, rnd)
    codes = [d.encode() for d in tender.disciplines]
    pools = {d: tuple(EXPERT_OF[m.pseudonym] for m in members if m.eligible and d in m.discs)
             for d in codes}  # fmt: skip
    record = DrawRecord(
        draw_id=draw_id,
        requester=tender.requester,
        project_ref=tender.project_ref,
        tender_ref=tender.tender_ref,
        tenderer=tender.tenderer,
        agency=tender.agency,
        state=how.state,
        created_ms=how.at_ms or tender.created_ms,
        strata=tuple(
            Stratum(d.decode(), tuple(sorted(pools[d])), SEATS[d.decode()].k) for d in codes
        ),
        supersedes=supersedes,
        cancel_reason=how.cancel_reason,
    )
    if how.state in {"EXPIRED", "COMMITTED"} or how.cancel_reason in NOT_EXECUTED:
        return record  # never executed: no panel
    seed = _seed(draw_id, members)
    order = eds1.orders(members, codes, lambda p: eds1.rank(seed, p))
    quotas = {d: SEATS[d.decode()] for d in codes}
    panel, reserve = eds1.panels(order, codes, quotas)
    seating = eds1.Seating(order, panel, reserve, {d: q.r for d, q in quotas.items()})
    declines, exhausted = _declines(seating, how.decline_rate, rnd)
    seated = tuple(EXPERT_OF[p] for d in codes for p in seating.seats[d])
    declined = {x.expert_id for x in declines}
    answered = how.state in {"OPENED", "CLOSED", "AWARDED"} or (
        how.state == "CANCELLED" and how.cancel_reason != "REPL_EXHAUSTED"
    )
    return replace(
        record,
        state="CANCELLED" if exhausted else how.state,
        cancel_reason="REPL_EXHAUSTED" if exhausted else how.cancel_reason,
        shortfall=exhausted,
        strata=tuple(
            replace(s, drawn=tuple(EXPERT_OF[p] for p in panel[d]))
            for s, d in zip(record.strata, codes, strict=True)
        ),
        seated=seated,
        accepted=tuple(x for x in seated if x not in declined) if answered else (),
        declines=declines,
    )


def _tenders(rnd: random.Random) -> list[Tender]:
    """300 tenders over six months: projects of one to three lots."""
    tenders: list[Tender] = []
    project = 0
    while len(tenders) < 300:  # noqa: PLR2004 - the demo's size
        project += 1
        requester = rnd.choices(REQUESTERS, (5, 4, 3, 1))[0]
        tenderer = rnd.choice(TENDERERS)
        agency = rnd.choice(AGENCIES)
        created = START_MS + rnd.randrange(SPAN_MS)
        for lot in range(rnd.choice((1, 1, 2, 3))):
            number = len(tenders) + 1
            tenders.append(
                Tender(
                    number=number,
                    requester=requester,
                    project_ref=_h("project", project)[:8].hex(),
                    tender_ref=_h("tender", project, lot)[:8].hex(),
                    tenderer=tenderer,
                    agency=agency,
                    disciplines=rnd.choice(REQUESTS),
                    created_ms=created + lot * HOUR_MS,
                )
            )
    return tenders


def _ordinary(tender: Tender, rnd: random.Random) -> list[DrawRecord]:
    """A fair tender: usually one draw; one in twenty-five re-drawn after a changed window."""
    recent = tender.created_ms > AS_OF_MS - 30 * 86_400_000
    final = _Attempt(state=rnd.choice(("EXECUTED", "OPENED")) if recent else "AWARDED")
    if rnd.random() >= 1 / 25:
        return [draw(tender, 1, final)]
    first = draw(tender, 1, _Attempt(state="CANCELLED", cancel_reason="WINDOW_CHANGED"))
    final.at_ms = tender.created_ms + 2 * 86_400_000
    return [first, draw(tender, 2, final, supersedes=first.draw_id)]


def _steered(tender: Tender) -> list[DrawRecord]:
    """The anomaly: cancel and re-draw (new seed each time) until the friend is seated."""
    out: list[DrawRecord] = []
    for attempt in range(1, 40):
        how = _Attempt(state="AWARDED", at_ms=tender.created_ms + attempt * 6 * HOUR_MS)
        d = draw(tender, attempt, how, supersedes=out[-1].draw_id if out else "")
        if ANOMALY_EXPERT in d.strata[0].drawn or d.state != "AWARDED":
            out.append(d)
            break
        out.append(replace(d, state="CANCELLED", cancel_reason="WINDOW_CHANGED", accepted=()))
    return out


def _special(tenders: list[Tender]) -> list[DrawRecord]:
    """A draw cancelled before execution, one expired, one refused, one still pending."""
    base = tenders[0]
    last = START_MS + SPAN_MS
    specials = [
        ("TENDER_WITHDRAWN", replace(base, number=901, created_ms=START_MS + 40 * 86_400_000)),
        ("EXPIRED", replace(base, number=902, created_ms=START_MS + 75 * 86_400_000)),
        ("SHORT", replace(base, number=903, created_ms=START_MS + 110 * 86_400_000)),
        ("COMMITTED", replace(base, number=904, created_ms=last + 3 * 86_400_000)),
    ]
    out = []
    for kind, t in specials:
        t2 = replace(
            t, tender_ref=_h("special", kind)[:8].hex(), project_ref=_h("sp", kind)[:8].hex()
        )
        if kind == "TENDER_WITHDRAWN":
            out.append(draw(t2, 1, _Attempt(state="CANCELLED", cancel_reason=kind)))
        elif kind == "SHORT":  # refused at the freeze: every expert but two excluded
            refused = draw(t2, 1, _Attempt(state="CANCELLED", cancel_reason="INSUFFICIENT_POOL"))
            strata = tuple(replace(s, pool=s.pool[:2], short=True) for s in refused.strata)
            out.append(replace(refused, shortfall=True, strata=strata))
        else:
            out.append(draw(t2, 1, _Attempt(state=kind)))
    return out


def build_records() -> tuple[list[DrawRecord], list[ExpertInfo]]:
    """The demo platform's draws and experts (the same every time)."""
    rnd = random.Random(20300701)  # noqa: S311 - demo data, fixed seed
    tenders = _tenders(rnd)
    draws: list[DrawRecord] = []
    for t in tenders:
        steered = t.requester == ANOMALY_REQUESTER and t.disciplines[0] == CIVIL
        draws.extend(_steered(t) if steered else _ordinary(t, rnd))
    draws.extend(_special(tenders))
    experts = [ExpertInfo(e, EMPLOYER[e]) for e in EXPERTS]
    return draws, experts


def build_report(policy: FairnessPolicy | None = None) -> FairnessReport:
    """``analyse`` over the demo records, as of 2030-07-01 00:00 中国标准时间."""
    draws, experts = build_records()
    return analyse(draws, experts, policy or FairnessPolicy(), as_of_ms=AS_OF_MS)


def build_html(report: FairnessReport | None = None) -> str:
    """The demo report as one self-contained HTML document."""
    return render_html(report or build_report(), title=TITLE)


# -- headless Chromium ---------------------------------------------------------------------


def find_chromium() -> str | None:
    """The Chromium binary on PATH (Debian: /usr/bin/chromium), or None."""
    return shutil.which("chromium")


def chromium(binary: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    """Run headless Chromium once, offline, with a fresh profile (works as root)."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        cmd = [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--hide-scrollbars", "--force-device-scale-factor=1",
            f"--user-data-dir={profile}", *args,
        ]  # fmt: skip
        return subprocess.run(cmd, capture_output=True, timeout=timeout, check=True)


def has_cjk_font() -> bool:
    """A font with Chinese glyphs is installed (fontconfig); True when that cannot be told."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return True
    found = subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, check=False)
    return bool(found.stdout.strip())


def screenshot(html_file: Path, png: Path, size: tuple[int, int], binary: str) -> None:
    """Save the top ``size`` (width, height) of the page as a PNG."""
    png.parent.mkdir(parents=True, exist_ok=True)
    chromium(
        binary,
        f"--screenshot={png.resolve()}",
        f"--window-size={size[0]},{size[1]}",
        html_file.resolve().as_uri(),
    )


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


def main(argv: list[str] | None = None) -> int:
    """Write the demo report (and optionally its screenshot)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, required=True, help="where to write report.html")
    parser.add_argument("--screenshot", type=Path, help="also save a PNG of the page's top")
    parser.add_argument("--size", type=_size, default=(1280, 1400), help="WIDTHxHEIGHT")
    args = parser.parse_args(argv)
    report = build_report()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(build_html(report), encoding="utf-8")
    print(f"{args.out}: {report.platform.draws} draws, {len(report.findings)} findings")
    for f in report.findings:
        print(f"  {f.detector}: {f.subject} ({f.detail})")
    if args.screenshot is not None:
        binary = find_chromium()
        if binary is None:
            print("chromium not found (apt-get install -y chromium)", file=sys.stderr)
            return 1
        if not has_cjk_font():
            print(
                "warning: no font with Chinese glyphs (fc-list :lang=zh): the screenshot "
                "shows boxes (apt-get install -y fonts-wqy-microhei)",
                file=sys.stderr,
            )
        screenshot(args.out, args.screenshot, args.size, binary)
        print(f"{args.screenshot}: {args.size[0]}x{args.size[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
