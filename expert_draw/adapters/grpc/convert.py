"""Mapping between domain values and generated protobuf messages (the only place)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from google.protobuf.timestamp_pb2 import Timestamp

from expert_draw.api.v1 import classification_service_pb2 as pb
from expert_draw.core import names

if TYPE_CHECKING:
    from classification import Defect, Discipline, Edition, SearchHit
    from expert_draw.app.classification import LoadedEdition

_DEFECT_KINDS = {kind.name: kind.number for kind in pb.Defect.Kind.DESCRIPTOR.values}
_MATCH_KINDS = {kind.name: kind.number for kind in pb.DisciplineMatch.MatchKind.DESCRIPTOR.values}


def timestamp_from_ms(ms: int) -> Timestamp:
    """Return a protobuf Timestamp for UTC milliseconds."""
    stamp = Timestamp()
    stamp.FromMilliseconds(ms)
    return stamp


def defect_to_pb(defect: Defect) -> pb.Defect:
    """Map a loader defect."""
    return pb.Defect(
        kind=_DEFECT_KINDS[f"KIND_{defect.kind.name}"],  # type: ignore[arg-type]
        subject=defect.subject,
        detail=defect.detail,
        text=str(defect),
    )


def edition_to_pb(loaded: LoadedEdition) -> pb.Edition:
    """Map a loaded edition with its defect report."""
    return pb.Edition(
        name=names.edition_name(loaded.edition_id),
        display_name=loaded.title,
        state=pb.Edition.STATE_CURRENT if loaded.current else pb.Edition.STATE_LEGACY,
        table_sha256=loaded.result.digest,
        row_count=loaded.result.rows,
        discipline_count=len(loaded.edition),
        level_counts=list(loaded.edition.level_counts()),
        defects=[defect_to_pb(d) for d in loaded.result.defects],
        load_time=timestamp_from_ms(loaded.record.load_time_ms),
    )


def discipline_to_pb(edition: Edition, discipline: Discipline) -> pb.Discipline:
    """Map a discipline with its parent, ancestors and path.

    Editions are immutable, so each message is built once and cached; callers only
    place it into a response, which copies it, and never mutate it.
    """
    return _discipline_pb(edition, discipline.code)


@functools.lru_cache(maxsize=16384)
def _discipline_pb(edition: Edition, code: str) -> pb.Discipline:
    discipline = edition.get(code)
    edition_id = edition.edition_id
    ancestors = edition.ancestors(discipline.code)
    return pb.Discipline(
        name=names.discipline_name(edition_id, discipline.code),
        code=discipline.code,
        display_name=discipline.name,
        level=discipline.level,
        parent=names.discipline_name(edition_id, discipline.parent) if discipline.parent else "",
        ancestors=[names.discipline_name(edition_id, a.code) for a in ancestors],
        path_display_name=" / ".join([*(a.name for a in ancestors), discipline.name]),
        child_count=len(edition.children(discipline.code)),
    )


def match_to_pb(edition: Edition, hit: SearchHit) -> pb.DisciplineMatch:
    """Map a search hit."""
    return pb.DisciplineMatch(
        discipline=discipline_to_pb(edition, hit.discipline),
        match_kind=_MATCH_KINDS[f"MATCH_KIND_{hit.match.name}"],  # type: ignore[arg-type]
    )
