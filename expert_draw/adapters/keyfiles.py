"""Reading secret key files: readable, and not accessible by group or others."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from expert_draw.errors import ConfigurationError

if TYPE_CHECKING:
    from pathlib import Path


def read_private(path: Path, setting: str, encoding: str = "utf-8") -> str:
    """Return a key file's text.

    Raises:
        ConfigurationError: ``setting`` names the file; it is unreadable, not text in
            ``encoding``, or accessible by group or others (POSIX).
    """
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding=encoding)
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"{setting}: cannot read {path}: {getattr(exc, 'strerror', None) or exc}"
        raise ConfigurationError(msg) from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        msg = f"{setting}: {path} must not be accessible by group or others (chmod 600)"
        raise ConfigurationError(msg)
    return text
