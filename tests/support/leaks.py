"""A log handler that looks for personal data in every log record of the test session.

The suite creates experts with valid 身份证号 and mobile numbers; none of them may ever
reach a log line (issue 4: "A test scans all log output of the suite for ID numbers
and phone numbers and fails on any"). The handler sees each record as rendered (message,
arguments, structlog event dict, exception text) and keeps the first findings; the
session fails at the end if there are any.
"""

from __future__ import annotations

import logging
import re

from expert_draw.core.identifiers import resident_id_problem

_ID = re.compile(r"(?<![0-9A-Za-z])[1-8][0-9]{16}[0-9Xx](?![0-9A-Za-z])")
_PHONE = re.compile(r"(?<![0-9A-Za-z])1[3-9][0-9]{9}(?![0-9A-Za-z])")
MAX_KEPT = 20


def personal_data_in(text: str) -> list[str]:
    """Valid-looking 身份证号 (checksum) and mobile numbers in ``text``, masked."""
    found = [
        m.group(0) for m in _ID.finditer(text) if resident_id_problem(m.group(0).upper()) is None
    ]
    found += [m.group(0) for m in _PHONE.finditer(text)]
    return [value[:3] + "…" + value[-2:] for value in found]


class LeakDetector(logging.Handler):
    """Records (logger, masked value) for every log record that holds personal data."""

    def __init__(self) -> None:
        """Start with no findings."""
        super().__init__(level=logging.DEBUG)
        self.findings: list[tuple[str, str]] = []
        self.records = 0

    def emit(self, record: logging.LogRecord) -> None:
        """Scan one record."""
        self.records += 1
        parts = [str(record.msg)]
        try:
            parts.append(record.getMessage())
        except (TypeError, ValueError):
            parts.append(repr(record.args))
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        if record.exc_text:
            parts.append(record.exc_text)
        for value in dict.fromkeys(personal_data_in("\n".join(parts))):
            if len(self.findings) < MAX_KEPT:
                self.findings.append((record.name, value))
