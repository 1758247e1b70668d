"""``expert-draw witness``: a supervisory body's witness of the audit log.

``witness new-key`` makes the witness's Ed25519 key (cosignature/v1, type 0x04) and
prints its vkey, which goes into the service's ``[witness]`` settings and into the
supervisors' trust.toml ``[witness] keys``. ``witness serve`` runs the WitnessService
(audit-log-v1, witness cosignatures) over mutual TLS until SIGTERM or SIGINT.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Run a witness that cosigns the log's checkpoints.", no_args_is_help=True)


@app.command("new-key")
def new_key(
    name: Annotated[
        str, typer.Argument(help="The witness's name, a schema-less URL (e.g. witness.gov.cn/w1).")
    ],
    out: Annotated[Path, typer.Argument(help="Where to write the private key (mode 0600).")],
) -> None:
    """Write a new witness key to OUT and print its vkey."""
    from audit_log.cosig import WitnessSigner
    from audit_log.errors import KeyFormatError
    from expert_draw.adapters.devpki import write_private

    if out.exists():
        typer.echo(f"expert-draw: {out} exists; a witness key is never overwritten", err=True)
        raise typer.Exit(4)
    try:
        signer = WitnessSigner.generate(name)
    except KeyFormatError as exc:
        typer.echo(f"expert-draw: {exc}", err=True)
        raise typer.Exit(4) from None
    write_private(out, signer.private_string().encode() + b"\n")
    typer.echo(str(signer.key))


@app.command("serve")
def serve(
    config: Annotated[Path, typer.Option("--config", "-c", help="witness.toml.")],
    listen: Annotated[
        str | None, typer.Option("--listen", help="host:port (overrides the settings).")
    ] = None,
) -> None:
    """Run the witness until SIGTERM or SIGINT."""
    from cli.logs import configure_logging
    from expert_draw.adapters.witness import load_settings, start_witness
    from expert_draw.errors import Error

    configure_logging()
    try:
        settings = load_settings(config, listen)
        server, port, state = start_witness(settings)
    except Error as exc:
        typer.echo(f"expert-draw: cannot start the witness: {exc.message}", err=True)
        raise typer.Exit(4) from None
    typer.echo(f"witness {settings.signer.key.name} serving on port {port}", err=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop(2.0).wait()
    state.close()


@app.command("show")
def show(
    config: Annotated[Path, typer.Option("--config", "-c", help="witness.toml.")],
) -> None:
    """Print, per log, the newest checkpoint this witness cosigned, with its cosignature.

    Each is printed as one checkpoints.aud1 line ({"note", "size"}), ready to be merged
    into a supervisor's export (`log merge-notes`) as evidence against a truncated or
    rewritten log.
    """
    from audit_log.export import checkpoint_line
    from expert_draw.adapters.witness import WitnessState, load_settings
    from expert_draw.errors import Error

    try:
        settings = load_settings(config)
    except Error as exc:
        typer.echo(f"expert-draw: {exc.message}", err=True)
        raise typer.Exit(4) from None
    if not settings.state.exists():
        typer.echo(f"expert-draw: {settings.state}: the witness has cosigned nothing", err=True)
        raise typer.Exit(4)
    state = WitnessState(settings.state)
    try:
        for _, size, cosigned in state.latest():
            typer.echo(checkpoint_line(size, cosigned).decode(), nl=False)
    finally:
        state.close()
