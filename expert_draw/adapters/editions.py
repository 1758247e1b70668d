"""Reads the configured edition table files (the I/O half of loading)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from classification import EditionFormatError, read_edition
from expert_draw.errors import ConfigurationError

if TYPE_CHECKING:
    from classification import LoadResult
    from expert_draw.config import Settings


def read_configured_editions(settings: Settings) -> list[tuple[str, LoadResult]]:
    """Read and parse every configured edition table; return ``(title, result)`` pairs.

    Raises:
        ConfigurationError: a file is missing, unreadable or not an edition table; the
            message names the setting and the path.
    """
    loaded = []
    for index, source in enumerate(settings.classification.editions):
        path = settings.path(source.path)
        setting = f"classification.editions[{index}].path (edition {source.id})"
        try:
            result = read_edition(path, source.id)
        except OSError as exc:
            msg = f"setting {setting}: cannot read {path}: {exc.strerror or exc}"
            raise ConfigurationError(msg) from None
        except EditionFormatError as exc:
            msg = f"setting {setting}: {path}: {exc}"
            raise ConfigurationError(msg) from None
        loaded.append((source.title or f"edition {source.id}", result))
    return loaded
