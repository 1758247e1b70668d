"""``expert-draw verify log``: verify an export folder offline (audit-log.md §9).

Exit codes: 0 ok; 1 TAMPER, GAP, NONCANONICAL, SCHEMA, TRUNCATION, REJECT, BAD
SIGNATURE, BAD ROTATION, PROOF, DOMAIN VIOLATION; 2 EQUIVOCATION, FORK, ROLLBACK;
3 UNSIGNED TAIL, REANCHORED or WITNESS POLICY (a failure under --strict); 4 usage,
unreadable input, I/O. With a ``[witness]`` table in trust.toml, the pinned state advances
only to the newest checkpoint the witnesses cosigned (audit-log-v1 §11 step 4, §12).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from audit_log import state, trust
from audit_log.verify import Options, Report, verify_log
from cli.verify.archive import archive as verify_archive_command
from cli.verify.draw import draw as verify_draw
from cli.verify.draw import receipt as verify_receipt_command
from cli.verify.replay import replay as verify_replay_command

app = typer.Typer(help="Offline verification: no network, no database.", no_args_is_help=True)
app.command("draw")(verify_draw)
app.command("receipt")(verify_receipt_command)
app.command("archive")(verify_archive_command)
app.command("replay")(verify_replay_command)
_err = Console(stderr=True)


def _print(report: Report) -> None:
    colour = {0: "green", 3: "yellow"}.get(report.exit_code, "red")
    typer.secho(
        f"log {report.origin}: {report.size} entries, root sha256:{report.root.hex()}", fg=colour
    )
    for finding in report.findings:
        where = "" if finding.seq is None else f" at seq {finding.seq}"
        typer.secho(f"{finding.category}{where}: {finding.msg}", fg=colour)
    verdict = {0: "OK", 3: "OK with policy findings"}.get(report.exit_code, "FAILED")
    typer.secho(f"{verdict} (exit {report.exit_code})", fg=colour, bold=True)


@app.command("log")
def log(
    export: Annotated[
        Path, typer.Option("--export", help="Export folder written by `expert-draw log export`.")
    ],
    trust_file: Annotated[
        Path, typer.Option("--trust", help="trust.toml with the pinned log_vkey.")
    ],
    state_dir: Annotated[
        Path | None, typer.Option("--state", help="Pinned-state folder, updated on success.")
    ] = None,
    receipts: Annotated[
        Path | None, typer.Option("--receipts", help="Folder of receipts (tlog-proof) to check.")
    ] = None,
    since: Annotated[
        Path | None, typer.Option("--since", help="Pinned-state folder: verify only what is new.")
    ] = None,
    all_signatures: Annotated[
        bool, typer.Option("--all-signatures", help="Verify every checkpoint's signature.")
    ] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Treat exit-3 findings (unsigned tail, witness policy) as failures."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=0, help="Processes that parse entries (0: up to 2, one per core)."
        ),
    ] = 0,
) -> None:
    """Verify an exported log against the pinned key and state; exit 0-4."""
    try:
        pinned = trust.load(trust_file)
    except trust.TrustError as exc:
        typer.echo(f"expert-draw: {exc}", err=True)
        raise typer.Exit(4) from None
    workers = workers or min(2, os.cpu_count() or 1)
    options = Options(
        strict=strict, all_signatures=all_signatures, since=since is not None, workers=workers
    )
    columns = (BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(
        "[progress.description]{task.description}", *columns,
        console=_err, transient=True, disable=as_json,
    ) as bar:  # fmt: skip
        task = bar.add_task("verifying", total=None)
        report = verify_log(
            export, pinned, options, state_dir=since or state_dir, receipts_dir=receipts,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )  # fmt: skip
    pin_to = since or state_dir
    if pin_to is not None and report.new_state is not None:
        state.save(pin_to, report.new_state)
    if as_json:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False, sort_keys=True))
    else:
        _print(report)
    raise typer.Exit(report.exit_code)
