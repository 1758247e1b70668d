"""``expert-draw log new-key`` and ``log rotate-key``: the operator's key commands.

Run ``rotate-key`` on one replica's host with the service settings; restart every
replica afterwards with ``audit.signing_key`` set to the new key and the old key in
``audit.previous_signing_keys`` until the overlap has passed (audit-log.md §7).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from audit_log.errors import KeyFormatError
from audit_log.note import Signer


def new_key(
    origin: Annotated[str, typer.Option("--origin", help="The log's origin (the key's name).")],
    out: Annotated[
        Path, typer.Option("--out", help="Key file to create (mode 0600); must not exist.")
    ],
) -> None:
    """Generate a log signing key and print its verifier key."""
    from expert_draw.adapters.devpki import write_private

    if out.exists():
        typer.echo(f"expert-draw: {out} exists; refusing to overwrite a key", err=True)
        raise typer.Exit(4)
    try:
        signer = Signer.generate(origin)
    except KeyFormatError as exc:
        typer.echo(f"expert-draw: {exc}", err=True)
        raise typer.Exit(4) from None
    write_private(out, signer.private_string().encode() + b"\n")
    typer.echo(str(signer.verifier))


def rotate_key(
    config: Annotated[
        Path,
        typer.Option(
            "--config", "-c", envvar="EXPERT_DRAW_CONFIG", help="Service settings (TOML)."
        ),
    ],
    new_key_file: Annotated[
        Path, typer.Option("--new-key", help="The new key file (from `log new-key`).")
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why the key is rotated (logged).")],
    overlap: Annotated[
        int, typer.Option("--overlap", min=1, help="Sizes during which both keys sign.")
    ] = 100,
) -> None:
    """Rotate the log signing key: appends key.rotate; the next checkpoint is dual-signed."""
    import time

    from expert_draw.adapters.audit import AuditLog, load_signer
    from expert_draw.adapters.db.engine import make_engine
    from expert_draw.config import load_settings
    from expert_draw.errors import Error

    try:
        settings = load_settings(config)
        new = load_signer(new_key_file, settings.audit.origin)
        engine = make_engine(settings.database_url, base_dir=settings.config_dir)
        try:
            log = AuditLog.from_settings(settings, engine, lambda: time.time_ns() // 1_000_000)
            log.initialize()
            done = log.rotate_key(new, reason, overlap)
        finally:
            engine.dispose()
    except Error as exc:
        typer.echo(f"expert-draw: {exc.message}", err=True)
        raise typer.Exit(4) from None
    typer.echo(f"key.rotate logged at seq {done.first_seq}; new key {new.verifier}")
    typer.echo("Now restart every replica with audit.signing_key = the new key and the old key")
    typer.echo("in audit.previous_signing_keys until the overlap has passed.")
