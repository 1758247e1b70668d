"""AIP-122 resource names: format and strict parsing.

Names are ``editions/{edition}`` and ``editions/{edition}/disciplines/{code}``; later
collections (``experts/{uuid}``, ``draws/{draw_id}``) join them here. Parsing raises
:class:`~expert_draw.errors.InvalidRequestError` naming the request field.
"""

from __future__ import annotations

import re

from classification import CODE_PATTERN, EDITION_ID_PATTERN
from expert_draw.errors import InvalidRequestError

EDITIONS = "editions"
DISCIPLINES = "disciplines"
MAX_NAME_LENGTH = 256


def edition_name(edition_id: str) -> str:
    """Return ``editions/{edition_id}``."""
    return f"{EDITIONS}/{edition_id}"


def discipline_name(edition_id: str, code: str) -> str:
    """Return ``editions/{edition_id}/disciplines/{code}``."""
    return f"{EDITIONS}/{edition_id}/{DISCIPLINES}/{code}"


def _segments(name: str, field: str, expected: int, example: str) -> list[str]:
    parts = name.split("/") if len(name) <= MAX_NAME_LENGTH else []
    if len(parts) != expected:
        description = f"expected a resource name such as {example!r}"
        raise InvalidRequestError.field(field, description)
    return parts


def parse_edition_name(name: str, field: str = "name") -> str:
    """Return the edition id of ``editions/{edition}``.

    Raises:
        InvalidRequestError: ``name`` is not an edition resource name.
    """
    collection, edition_id = _segments(name, field, 2, "editions/2018")
    if collection != EDITIONS or EDITION_ID_PATTERN.fullmatch(edition_id) is None:
        raise InvalidRequestError.field(field, "expected editions/{edition}, e.g. editions/2018")
    return edition_id


def parse_discipline_name(name: str, field: str = "name") -> tuple[str, str]:
    """Return ``(edition_id, code)`` of ``editions/{edition}/disciplines/{code}``.

    Raises:
        InvalidRequestError: ``name`` is not a discipline resource name.
    """
    example = "editions/2018/disciplines/A080105"
    editions, edition_id, disciplines, code = _segments(name, field, 4, example)
    if (
        editions != EDITIONS
        or disciplines != DISCIPLINES
        or EDITION_ID_PATTERN.fullmatch(edition_id) is None
        or CODE_PATTERN.fullmatch(code) is None
    ):
        description = f"expected editions/{{edition}}/disciplines/{{code}}, e.g. {example}"
        raise InvalidRequestError.field(field, description)
    return edition_id, code


EXPERTS = "experts"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def expert_name(expert_uuid: str) -> str:
    """Return ``experts/{uuid}``."""
    return f"{EXPERTS}/{expert_uuid}"


def parse_expert_name(name: str, field: str = "name") -> str:
    """Return the UUID text of ``experts/{uuid}`` (lowercase, RFC 9562 text form).

    Raises:
        InvalidRequestError: ``name`` is not an expert resource name.
    """
    example = "experts/0b7f6c2e-8a1d-4c3b-9e2f-5a6b7c8d9e0f"
    collection, expert_uuid = _segments(name, field, 2, example)
    if collection != EXPERTS or _UUID.fullmatch(expert_uuid) is None:
        description = f"expected experts/{{uuid}} with a lowercase UUID, e.g. {example}"
        raise InvalidRequestError.field(field, description)
    return expert_uuid
