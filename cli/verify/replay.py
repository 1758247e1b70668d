"""``expert-draw verify replay``: re-derive every opened draw's pool (draw-v1 §15).

Verifies the log export first (the same checks as ``verify log``, against trust.toml):
a replay never runs on an unverified log. Then replays every draw the openings open,
with the library rebuilt from the log's expert entries up to its freeze. Exit codes: 0
every draw OK; 3 some draws PARTIAL (codes that could not be checked, listed with why);
1 a FAILED draw, openings that contradict the log, or a log that does not verify; 4
usage or unreadable input.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from audit_log import canonical, trust
from audit_log.export import ENTRIES, count_lines, iter_entry_lines
from audit_log.verify import Options, verify_log
from expert_draw.core.replay import OpeningsError, Replayer, parse_openings

if TYPE_CHECKING:
    from expert_draw.core.replay import ReplayReport

_err = Console(stderr=True)
_VERIFIED = (0, 3)  # verify log's exits a replay may run on (3: unsigned tail, policy)


def replay(
    openings: Annotated[
        Path, typer.Argument(help="Openings file written by `expert-draw stats openings`.")
    ],
    export: Annotated[
        Path, typer.Option("--export", help="Export folder written by `expert-draw log export`.")
    ],
    trust_file: Annotated[
        Path, typer.Option("--trust", help="trust.toml with the pinned log_vkey.")
    ],
    lookback_seconds: Annotated[
        int | None,
        typer.Option("--lookback-seconds", min=0,
                     help="Look-back window before each freeze (default: the freeze's own)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:  # fmt: skip
    """Re-derive every opened draw's pool from the verified log; exit 0, 1, 3 or 4."""
    try:
        pinned = trust.load(trust_file)
        parsed = parse_openings(openings.read_bytes())
    except (trust.TrustError, OpeningsError, OSError) as exc:
        typer.echo(f"expert-draw: {exc}", err=True)
        raise typer.Exit(4) from None
    columns = (BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress("[progress.description]{task.description}", *columns, console=_err,
                  transient=True, disable=as_json) as bar:  # fmt: skip
        task = bar.add_task("verifying the log", total=None)
        checked = verify_log(
            export, pinned, Options(workers=min(2, os.cpu_count() or 1)),
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )  # fmt: skip
        if checked.exit_code not in _VERIFIED:
            typer.secho(f"the log export does not verify (verify log exits {checked.exit_code});"
                        " no replay on an unverified log", fg="red", err=True)  # fmt: skip
            raise typer.Exit(1 if checked.exit_code != 4 else 4)  # noqa: PLR2004 - exit 4
        replayer = Replayer(parsed, origin=checked.origin, lookback_s=lookback_seconds)
        path = export / ENTRIES
        bar.update(task, description="replaying", completed=0, total=count_lines(path))
        for done, line in enumerate(iter_entry_lines(path), 1):
            if done > checked.size:
                break
            replayer.add(canonical.loads(line.rstrip(b"\n")))
            if done % 1000 == 0:
                bar.update(task, completed=done)
        report = replayer.finish()
    if as_json:
        typer.echo(json.dumps(to_json(report), ensure_ascii=False, sort_keys=True))
    else:
        _print(report)
    raise typer.Exit(report.exit_code)


def to_json(report: ReplayReport) -> dict[str, Any]:
    """The ``--json`` report."""

    def pattern(p: Any) -> dict[str, Any]:  # noqa: ANN401 - a Pattern
        return {"draws": p.draws, "abandoned": p.abandoned, "redraws": p.redraws,
                "declines": p.declines,
                "cancellations": dict(sorted(p.cancellations.items()))}  # fmt: skip

    return {
        "exit_code": report.exit_code,
        "problems": report.problems,
        "draws": [
            {"draw_id": d.draw_id, "freeze_seq": d.freeze_seq, "members": d.members,
             "verdict": d.verdict,
             "findings": [{"check": f.check, "msg": f.msg} for f in d.findings],
             "unverified": d.unverified,
             "lookback": [{"expert": c.expert, "seqs": list(c.seqs), "kinds": list(c.kinds),
                           "before": None if c.before is None else list(c.before),
                           "at_freeze": None if c.at_freeze is None else list(c.at_freeze),
                           "changed": c.changed} for c in d.lookback]}
            for d in report.draws
        ],
        "requesters": {k: pattern(v) for k, v in sorted(report.requesters.items())},
        "projects": {k: pattern(v) for k, v in sorted(report.projects.items())},
    }  # fmt: skip


def _print(report: ReplayReport) -> None:
    console = Console()
    for problem in report.problems:
        console.print(f"[red]OPENINGS[/red]: {problem}")
    colours = {"OK": "green", "PARTIAL": "yellow", "FAILED": "red"}
    for d in report.draws:
        console.print(f"[{colours[d.verdict]}]{d.verdict}[/] draws/{d.draw_id} "
                      f"(freeze seq {d.freeze_seq}, {d.members} members)")  # fmt: skip
        for f in d.findings:
            console.print(f"  {f.check}: {f.msg}")
        for codes, why in d.unverified.items():
            console.print(f"  unverified {codes}: {why}")
        for c in d.lookback:
            changes = ", ".join(f"{k}@{s}" for k, s in zip(c.kinds, c.seqs, strict=True))
            label = "CHANGED_BEFORE" if c.changed else "edited before (codes unchanged)"
            console.print(f"  {label} experts/{c.expert}: {_codes(c.before)} -> "
                          f"{_codes(c.at_freeze)} ({changes})")  # fmt: skip
    for title, rows in (("per trading system", report.requesters),
                        ("per project", report.projects)):  # fmt: skip
        table = Table("who", "draws", "abandoned", "cancelled", "re-draws", "declines",
                      title=f"Patterns {title}")  # fmt: skip
        for key, p in sorted(rows.items()):
            cancelled = ", ".join(f"{r} {n}" for r, n in sorted(p.cancellations.items()))
            table.add_row(key, str(p.draws), str(p.abandoned), cancelled or "0",
                          str(p.redraws), str(p.declines))  # fmt: skip
        console.print(table)
    verdict = {0: "OK", 3: "OK with unverified codes"}.get(report.exit_code, "FAILED")
    console.print(f"{verdict} (exit {report.exit_code}): {len(report.draws)} draws replayed")


def _codes(codes: tuple[str, ...] | None) -> str:
    return "not a member" if codes is None else (", ".join(codes) or "eligible")
