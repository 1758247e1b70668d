"""``expert-draw verify draw`` and ``expert-draw escrow …``: offline checks of draws.

Exit codes: 0 the bundle verifies; 1 a check fails (the first failing check is named);
3 policy findings (a waived pool minimum, pool changes before the freeze, an earlier
committed attempt, a cancellation, no beacon under require_beacon), a failure under
--strict; 4 usage or unreadable input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from audit_log import trust
from expert_draw.core import escrow
from expert_draw.core.verify_draw import (
    DrawVerificationError,
    UnsupportedBundleError,
    trust_from,
    verify_bundle,
)

EscrowKeyOption = Annotated[
    Path | None,
    typer.Option("--escrow-key", help="A supervisor's X25519 private key (64 hex digits)."),
]


def read_key(path: Path) -> bytes:
    """A raw X25519 private key from a file of 64 hex digits (exit 4 when unusable)."""
    try:
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        typer.echo(f"expert-draw: cannot read the escrow key {path}: {exc}", err=True)
        raise typer.Exit(4) from None
    if len(key) != escrow.KEY_BYTES:
        typer.echo(f"expert-draw: {path} must hold 64 hex digits", err=True)
        raise typer.Exit(4)
    return key


def draw(
    bundle: Annotated[Path, typer.Argument(help="The bundle saved by `expert-draw draws bundle`.")],
    trust_file: Annotated[
        Path, typer.Option("--trust", help="trust.toml with the pinned log_vkey.")
    ],
    escrow_key: EscrowKeyOption = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Policy findings fail (exit 3).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Re-check a draw's proof bundle offline (spec §11); exit 0-4.

    The checks: log, order and time, pool, binding, beacon, escrow, draw, replacements.
    """
    try:
        pinned = trust.load(trust_file)
        data = bundle.read_bytes()
    except (trust.TrustError, OSError) as exc:
        typer.echo(f"expert-draw: {exc}", err=True)
        raise typer.Exit(4) from None
    key = None if escrow_key is None else read_key(escrow_key)
    pins = trust_from(
        pinned.origin, [pinned.log_vkey], delta_min=pinned.delta_min,
        require_beacon=pinned.require_beacon, escrow_keys=pinned.escrow_keys,
    )  # fmt: skip
    try:
        report = verify_bundle(data, pins, escrow_private=key)
    except UnsupportedBundleError as exc:
        typer.echo(f"expert-draw: {exc}", err=True)
        raise typer.Exit(4) from None
    except DrawVerificationError as exc:
        if as_json:
            typer.echo(json.dumps({"exit_code": 1, "check": int(exc.check), "error": exc.message}))
        else:
            typer.secho(f"FAILED {exc} (exit 1)", fg="red", bold=True)
        raise typer.Exit(1) from None
    code = report.exit_code
    if as_json:
        typer.echo(json.dumps({**report.to_json(), "exit_code": code}, sort_keys=True))
    else:
        colour = "green" if not report.findings else "yellow"
        typer.secho(f"draw {report.draw_id} ({report.state.lower()}): params sha256:"
                    f"{report.params_hash}", fg=colour)  # fmt: skip
        for code_, seats in report.seats.items():
            typer.echo(f"  {code_}: {len(seats)} seat(s): {' '.join(seats)}")
        for finding in report.findings:
            typer.secho(f"POLICY: {finding}", fg="yellow")
        verdict = "OK" if not report.findings else "OK with policy findings"
        if strict and report.findings:
            verdict, colour = "FAILED under --strict: policy findings", "red"
        typer.secho(f"{verdict} (exit {code})", fg=colour, bold=True)
    raise typer.Exit(code)


escrow_app = typer.Typer(
    help="Open or check escrowed draw secrets with a supervisor key (offline).",
    no_args_is_help=True,
)


def envelope_for(commit_entry: Path, key: bytes) -> tuple[bytes, bytes, bytes]:
    """(draw_id, C_s, the envelope sealed to ``key``) from a saved draw.commit entry."""
    from audit_log.entry import Entry

    try:
        entry = Entry.decode(commit_entry.read_bytes())
    except (OSError, ValueError) as exc:
        typer.echo(f"expert-draw: cannot read the draw.commit entry: {exc}", err=True)
        raise typer.Exit(4) from None
    if entry.kind != "draw.commit":
        typer.echo("expert-draw: the file is not a draw.commit entry", err=True)
        raise typer.Exit(4)
    mine = escrow.key_id(escrow.public_key(key))
    for text in entry.data["envelopes"]:
        envelope = bytes.fromhex(text)
        if escrow.parse_envelope(envelope).key_id == mine:
            draw_id = entry.subj.removeprefix("draws/").encode()
            return draw_id, bytes.fromhex(entry.data["c_s"]), envelope
    typer.secho("FAILED: no envelope of this draw is sealed to your key", fg="red")
    raise typer.Exit(1)


@escrow_app.command("check")
def check(
    commit_entry: Annotated[Path, typer.Argument(help="The draw's draw.commit entry (bytes).")],
    escrow_key: Annotated[Path, typer.Option("--escrow-key", help="Your X25519 private key.")],
) -> None:
    """Check that your envelope opens to the committed secret; never prints it."""
    key = read_key(escrow_key)
    draw_id, c_s, envelope = envelope_for(commit_entry, key)
    try:
        escrow.open_envelope(key, envelope, draw_id, c_s)
    except escrow.EscrowError as exc:
        typer.secho(f"FAILED: the envelope does not open to C_s ({exc.reason}); report it as"
                    " an operator incident", fg="red", bold=True)  # fmt: skip
        raise typer.Exit(1) from None
    typer.secho(f"OK: draws/{draw_id.decode()}'s envelope opens to C_s", fg="green")


def receipt(
    file: Annotated[Path, typer.Argument(help="The receipt from `expert-draw draws receipt`.")],
    trust_file: Annotated[
        Path, typer.Option("--trust", help="trust.toml with the pinned log_vkey.")
    ],
    bundle: Annotated[
        Path | None,
        typer.Option("--bundle", help="The draw's public bundle, to check the positions too."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check an expert's receipt offline; exit 0, 1 or 4.

    The leaf is in the committed pool (or excluded, with its reasons), and, with the
    draw's public bundle, the positions are those of the order.
    """
    from expert_draw.core.receipts import ReceiptError, verify_receipt

    try:
        pinned = trust.load(trust_file)
        data = file.read_bytes()
        bundle_data = None if bundle is None else bundle.read_bytes()
    except (trust.TrustError, OSError) as exc:
        typer.echo(f"expert-draw: {exc}", err=True)
        raise typer.Exit(4) from None
    order = None
    if bundle_data is not None:
        pins = trust_from(
            pinned.origin, [pinned.log_vkey], delta_min=pinned.delta_min,
            require_beacon=pinned.require_beacon, escrow_keys=pinned.escrow_keys,
        )  # fmt: skip
        try:
            verify_bundle(bundle_data, pins)
        except (DrawVerificationError, UnsupportedBundleError) as exc:
            typer.secho(f"FAILED: the bundle does not verify: {exc}", fg="red", bold=True)
            raise typer.Exit(1) from None
        order = {row["d"]: row["order"] for row in json.loads(bundle_data)["draw"]}
    try:
        result = verify_receipt(data, pinned.origin, [pinned.log_vkey], bundle_order=order)
    except ReceiptError as exc:
        typer.secho(f"FAILED: {exc}", fg="red", bold=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, sort_keys=True))
    else:
        where = "in the eligible pool" if result["kind"] == "leaf" else (
            "excluded (" + ", ".join(result["reasons"]) + ")")  # fmt: skip
        typer.secho(f"OK: {result['expert']} is {where} of draws/{result['draw_id']}",
                    fg="green")  # fmt: skip
        for item in result["positions"]:
            state = "checked" if result["positions_checked"] else "not checked without --bundle"
            typer.echo(f"  {item['d']}: position {item['position']} ({state})")
