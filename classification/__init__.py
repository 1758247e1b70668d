"""The national discipline standard for evaluation experts (发改法规〔2018〕316号).

A pure library (standard library only) shared by the service and the offline verifier:
it parses an edition table, reports its defects, and answers tree queries.
"""

from classification.codes import (
    CODE_PATTERN,
    EDITION_ID_PATTERN,
    CodeError,
    ancestors_of,
    is_in_subtree,
    level_of,
    parent_of,
    validate_code,
    validate_edition_id,
)
from classification.edition import Discipline, Edition, SearchHit
from classification.loader import (
    Defect,
    DefectKind,
    EditionFormatError,
    LoadResult,
    parse_edition,
    read_edition,
)

__all__ = [
    "CODE_PATTERN",
    "EDITION_ID_PATTERN",
    "CodeError",
    "Defect",
    "DefectKind",
    "Discipline",
    "Edition",
    "EditionFormatError",
    "LoadResult",
    "SearchHit",
    "ancestors_of",
    "is_in_subtree",
    "level_of",
    "parent_of",
    "parse_edition",
    "read_edition",
    "validate_code",
    "validate_edition_id",
]
