"""``expert-draw db``: schema migrations (Alembic)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from expert_draw.config import load_settings
from expert_draw.errors import Error

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

app = typer.Typer(help="Database schema: upgrade and inspect migrations.", no_args_is_help=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", envvar="EXPERT_DRAW_CONFIG", help="Service settings (TOML)."),
]


def _engine(config: Path | None) -> Engine:
    from expert_draw.adapters.db.engine import make_engine

    try:
        settings = load_settings(config)
        return make_engine(settings.database_url, base_dir=settings.config_dir)
    except Error as exc:
        typer.echo(f"expert-draw: {exc.message}", err=True)
        raise typer.Exit(4) from None


@app.command("upgrade")
def upgrade(config: ConfigOption = None) -> None:
    """Apply every pending migration (idempotent)."""
    from expert_draw.adapters.db import migrate

    engine = _engine(config)
    try:
        before = migrate.current_revision(engine)
        migrate.upgrade(engine)
        after = migrate.current_revision(engine)
    finally:
        engine.dispose()
    typer.echo(f"database schema: {before or 'empty'} -> {after}")


@app.command("current")
def current(config: ConfigOption = None) -> None:
    """Print the database's schema revision and the one this release needs."""
    from expert_draw.adapters.db import migrate

    engine = _engine(config)
    try:
        found = migrate.current_revision(engine)
    finally:
        engine.dispose()
    head = migrate.head_revision()
    state = "up to date" if found == head else "run `expert-draw db upgrade`"
    typer.echo(f"database schema: {found or 'empty'}; release needs {head} ({state})")


@app.command("rekey")
def rekey(config: ConfigOption = None) -> None:
    """Re-encrypt personal data and draw secrets, re-hash 身份证号, under the current keys.

    Run it after adding a key to library.data_keys and making it current; it is
    idempotent and safe while the service runs.
    """
    from expert_draw.adapters.draws import rekey_draws
    from expert_draw.adapters.experts import rekey as run_rekey
    from expert_draw.adapters.protection import FieldCipher, load_data_keys

    try:
        settings = load_settings(config)
        cipher = FieldCipher(load_data_keys(settings.path(settings.library.data_keys)))
    except Error as exc:
        typer.echo(f"expert-draw: {exc.message}", err=True)
        raise typer.Exit(4) from None
    engine = _engine(config)
    try:
        done = run_rekey(engine, cipher)
        draw_cells = rekey_draws(engine, cipher)
    finally:
        engine.dispose()
    typer.echo(
        f"{done.experts} experts: {done.cells} cells re-encrypted, {done.hashes} identity "
        f"hashes renewed, {done.salts} salt sets re-encrypted; {draw_cells} draw secrets "
        f"re-encrypted (key {cipher.current_key_id})"
    )
