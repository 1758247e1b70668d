"""The ``expert-draw`` command. Heavy imports stay inside the commands that need them."""

from __future__ import annotations

import os

import typer

from cli import db, dev, health, keys, server, witness
from cli.admin import archive, classification, draws, experts, stats
from cli.admin import escrow as escrow_admin
from cli.admin import log as log_commands
from cli.verify import draw as draw_checks
from cli.verify import log as verify_commands
from cli.verify.classification import validate

app = typer.Typer(
    name="expert-draw",
    help="Verifiable random draws of bid-evaluation experts: service, admin and supervisor tools.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("serve")(server.serve)
app.command("health")(health.health)
app.add_typer(dev.app, name="dev")
app.add_typer(db.app, name="db")
classification.app.command("validate")(validate)
app.add_typer(classification.app, name="classification")
app.add_typer(experts.app, name="experts")
app.add_typer(draws.app, name="draws")
app.add_typer(archive.app, name="archive")
app.add_typer(stats.app, name="stats")
draw_checks.escrow_app.command("open")(escrow_admin.open_)
app.add_typer(draw_checks.escrow_app, name="escrow")
log_commands.app.command("new-key")(keys.new_key)
log_commands.app.command("rotate-key")(keys.rotate_key)
app.add_typer(log_commands.app, name="log")
app.add_typer(verify_commands.app, name="verify")
app.add_typer(witness.app, name="witness")


def main() -> None:
    """Entry point of the console script."""
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    app()
