r"""How long a fairness run takes, and how big its report is, as the platform grows.

Builds synthetic closed draws (STRATA strata per draw, each a pool of POOL experts out of
the EXPERTS / DISCIPLINES of its discipline, 5 seats; a decline in one draw of ten;
EMPLOYERS employers; no re-draw chains), then times the pure
analysis (``analyse``), the JSON encoding and the HTML rendering, and prints the sizes of
report.json and report.html (the service streams them in 1 MiB chunks). Selection here
uses Python's seeded ``random`` (a bench input, not the EDS-1 code).

    PYTHONPATH=. .venv/bin/python bench/fairness.py [--draws 1000 10000] [--experts 2000]
        [--disciplines 10] [--pool 60] [--strata 1] [--employers 400] [--analyse-only]

The peak RSS is the process's: run one size per process to read each size's own peak
("RSS inputs" is what the synthetic records already hold before ``analyse``).
"""

from __future__ import annotations

import argparse
import random
import resource
import time

from expert_draw.adapters.fairness_report import render_html
from expert_draw.adapters.stats import report_json
from expert_draw.core.fairness import (
    Decline,
    DrawRecord,
    ExpertInfo,
    FairnessPolicy,
    Stratum,
    analyse,
)

DAY_MS = 86_400_000
T0 = 1_893_427_200_000  # 2030-01-01T00:00:00Z


def records(
    draws: int,
    experts: int,
    disciplines: int,
    pool: int,
    seed: int = 7,
    *,
    strata: int = 1,
    employers: int = 400,
) -> tuple[list[DrawRecord], list[ExpertInfo]]:
    """Deterministic synthetic closed draws over ``experts`` experts.

    Each draw has ``strata`` strata (consecutive disciplines, so their pools are disjoint),
    each a pool of up to ``pool`` members of its discipline with 5 seats; a decline in
    the first stratum of one draw in ten; ``employers`` employers, assigned round-robin.
    """
    rnd = random.Random(seed)
    by_discipline = [
        [f"e{e:06d}" for e in range(experts) if e % disciplines == d] for d in range(disciplines)
    ]
    out: list[DrawRecord] = []
    for i in range(draws):
        parts = []
        for j in range(min(strata, disciplines)):
            d = (i + j) % disciplines
            members = tuple(rnd.sample(by_discipline[d], min(pool, len(by_discipline[d]))))
            parts.append(Stratum(f"A08{d:04d}", members, 5, tuple(rnd.sample(members, 5))))
        drawn = tuple(x for s in parts for x in s.drawn)
        declines: tuple[Decline, ...] = ()
        seated = drawn
        if i % 10 == 0:
            spare = next(m for m in parts[0].pool if m not in drawn)
            declines = (Decline(drawn[0], "HEALTH", spare),)
            seated = (spare, *drawn[1:])
        out.append(DrawRecord(
            draw_id=f"d{i:07d}", requester=f"ts-{i % 7}", project_ref=f"{i // 2:064x}",
            tender_ref=f"{i:064x}", tenderer=f"T{i % 97:017d}", agency=f"A{i % 13:017d}",
            state="CLOSED", created_ms=T0 + i * (180 * DAY_MS // max(draws, 1)),
            strata=tuple(parts), seated=seated, accepted=seated, declines=declines,
        ))  # fmt: skip
    info = [ExpertInfo(f"e{e:06d}", f"emp{e % employers:03d}") for e in range(experts)]
    return out, info


def main() -> None:
    """Time one run per size and print a Markdown table row for each."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--draws", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--experts", type=int, default=2_000)
    parser.add_argument("--disciplines", type=int, default=10)
    parser.add_argument("--pool", type=int, default=60, help="members per stratum (at most)")
    parser.add_argument("--strata", type=int, default=1, help="strata per draw (disjoint pools)")
    parser.add_argument("--employers", type=int, default=400)
    parser.add_argument("--analyse-only", action="store_true", help="skip the JSON and HTML")
    args = parser.parse_args()
    print("| draws | experts | analyse s | JSON s | HTML s | report.json | report.html "
          "| RSS inputs | max RSS analyse | max RSS |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.draws:
        draws, experts = records(
            n, args.experts, args.disciplines, args.pool,
            strata=args.strata, employers=args.employers,
        )  # fmt: skip
        inputs = _rss_now()
        start = time.perf_counter()
        report = analyse(draws, experts, FairnessPolicy(), as_of_ms=T0 + 365 * DAY_MS)
        analysed = time.perf_counter()
        peak = _max_rss()
        row = f"| {n:,} | {args.experts:,} | {analysed - start:.2f} "
        if args.analyse_only:
            row += "| – | – | – | – "
        else:
            body = report_json(report)
            encoded = time.perf_counter()
            html = render_html(report).encode()
            rendered = time.perf_counter()
            row += (f"| {encoded - analysed:.2f} | {rendered - encoded:.2f} "
                    f"| {len(body) / 1e6:.1f} MB | {len(html) / 1e6:.1f} MB ")  # fmt: skip
        print(f"{row}| {inputs:.0f} MiB | {peak:.0f} MiB | {_max_rss():.0f} MiB |", flush=True)


def _max_rss() -> float:
    """The process's peak resident set so far, MiB (over every size run before, too)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_now() -> float:
    """The current resident set, MiB (Linux ``/proc``; the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as f:  # noqa: PTH123 - a bench, Linux first
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        return _max_rss()


if __name__ == "__main__":
    main()
