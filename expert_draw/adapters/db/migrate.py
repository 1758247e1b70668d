"""Schema migrations (Alembic) run programmatically: ``expert-draw db upgrade``.

The service never migrates on its own: at start it checks that the database is at the
head revision and refuses to start otherwise, naming the command to run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from expert_draw.errors import PreconditionError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """Return the newest revision the code knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # pragma: no cover - the package ships its revisions
        msg = "no migrations found"
        raise RuntimeError(msg)
    return head


def current_revision(engine: Engine) -> str | None:
    """Return the database's revision, or None for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` in one transaction."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade the database to ``revision`` (``base`` empties it)."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def require_head(engine: Engine) -> None:
    """Check that the schema is at the head revision.

    Raises:
        PreconditionError: the database is empty, behind or ahead of the code.
    """
    current, head = current_revision(engine), head_revision()
    if current != head:
        found = current or "empty"
        msg = (
            f"database schema is at revision {found}, this release needs {head}: "
            "run `expert-draw db upgrade --config FILE` first"
        )
        raise PreconditionError(msg, reason="SCHEMA_OUT_OF_DATE")
