"""ClassificationService: the discipline standard over gRPC (read-only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from classification import mapping
from expert_draw.adapters.grpc import convert
from expert_draw.api.v1 import classification_service_pb2 as pb
from expert_draw.api.v1 import classification_service_pb2_grpc as pb_grpc
from expert_draw.core import names
from expert_draw.errors import InvalidRequestError

MAX_SUGGESTIONS = 20

if TYPE_CHECKING:
    import grpc

    from expert_draw.app.classification import ClassificationCatalog


class ClassificationServicer(pb_grpc.ClassificationServiceServicer):
    """Serves the catalog of loaded editions."""

    def __init__(self, catalog: ClassificationCatalog) -> None:
        """Serve ``catalog``."""
        self._catalog = catalog

    def ListEditions(
        self, request: pb.ListEditionsRequest, context: grpc.ServicerContext
    ) -> pb.ListEditionsResponse:
        """List the loaded editions, the current one first."""
        del context
        page = self._catalog.list_editions(request.page_size, request.page_token)
        return pb.ListEditionsResponse(
            editions=[convert.edition_to_pb(e) for e in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    def GetEdition(
        self, request: pb.GetEditionRequest, context: grpc.ServicerContext
    ) -> pb.GetEditionResponse:
        """Get one edition with its defect report."""
        del context
        edition_id = names.parse_edition_name(request.name)
        return pb.GetEditionResponse(
            edition=convert.edition_to_pb(self._catalog.get_edition(edition_id))
        )

    def GetDiscipline(
        self, request: pb.GetDisciplineRequest, context: grpc.ServicerContext
    ) -> pb.GetDisciplineResponse:
        """Get one discipline."""
        del context
        edition_id, code = names.parse_discipline_name(request.name)
        discipline = self._catalog.get_discipline(edition_id, code)
        edition = self._catalog.get_edition(edition_id).edition
        return pb.GetDisciplineResponse(discipline=convert.discipline_to_pb(edition, discipline))

    def ListDisciplines(
        self, request: pb.ListDisciplinesRequest, context: grpc.ServicerContext
    ) -> pb.ListDisciplinesResponse:
        """List disciplines in code order, optionally below one discipline."""
        del context
        edition_id = names.parse_edition_name(request.parent, "parent")
        ancestor = None
        if request.ancestor:
            ancestor_edition, ancestor = names.parse_discipline_name(request.ancestor, "ancestor")
            if ancestor_edition != edition_id:
                description = "must be a discipline of the parent edition"
                raise InvalidRequestError.field("ancestor", description)
        page = self._catalog.list_disciplines(
            edition_id,
            ancestor,
            children_only=request.children_only,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        edition = self._catalog.get_edition(edition_id).edition
        return pb.ListDisciplinesResponse(
            disciplines=[convert.discipline_to_pb(edition, d) for d in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    def SearchDisciplines(
        self, request: pb.SearchDisciplinesRequest, context: grpc.ServicerContext
    ) -> pb.SearchDisciplinesResponse:
        """Search an edition by code prefix or Chinese name."""
        del context
        edition_id = names.parse_edition_name(request.parent, "parent")
        page = self._catalog.search(
            edition_id, request.query, page_size=request.page_size, page_token=request.page_token
        )
        edition = self._catalog.get_edition(edition_id).edition
        return pb.SearchDisciplinesResponse(
            results=[convert.match_to_pb(edition, hit) for hit in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    def SuggestDisciplineMappings(
        self, request: pb.SuggestDisciplineMappingsRequest, context: grpc.ServicerContext
    ) -> pb.SuggestDisciplineMappingsResponse:
        """Suggest target-edition codes for one discipline."""
        del context
        edition_id, code = names.parse_discipline_name(request.name)
        target_id = (
            names.parse_edition_name(request.target_edition, "target_edition")
            if request.target_edition
            else self._catalog.current.edition_id
        )
        if not 0 <= request.max_suggestions <= MAX_SUGGESTIONS:
            raise InvalidRequestError.field("max_suggestions", f"0 to {MAX_SUGGESTIONS}")
        limit = request.max_suggestions or mapping.DEFAULT_LIMIT
        discipline = self._catalog.get_discipline(edition_id, code)
        source = self._catalog.get_edition(edition_id).edition
        target = self._catalog.get_edition(target_id).edition
        found = mapping.suggest(source, code, target, limit)
        return pb.SuggestDisciplineMappingsResponse(
            source=convert.discipline_to_pb(source, discipline),
            suggestions=[
                pb.DisciplineMapping(
                    discipline=convert.discipline_to_pb(target, target.get(s.code)), score=s.score
                )
                for s in found
            ],
        )
