"""Use cases of the discipline standard: load editions at start, answer queries.

Editions are loaded from the operator's table files (an adapter reads them), recorded in
the database once per table digest, and served from memory: a table has a few thousand
rows and never changes while the service runs.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from expert_draw.core import names
from expert_draw.core.paging import Page, paginate, query_key
from expert_draw.errors import InvalidRequestError, NotFoundError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from classification import Discipline, Edition, LoadResult, SearchHit

MAX_QUERY_CHARS = 100


@dataclass(frozen=True, slots=True)
class EditionRecord:
    """What the service recorded when it first loaded a table: its load time."""

    edition_id: str
    table_sha256: str
    load_time_ms: int


class EditionRegistry(Protocol):
    """Port: records each loaded edition table (once per edition and digest)."""

    def record_load(self, edition_id: str, title: str, result: LoadResult) -> EditionRecord:
        """Record the load if this digest is new for the edition; return the record."""
        ...


@dataclass(frozen=True, slots=True)
class LoadedEdition:
    """An edition as the service serves it."""

    result: LoadResult
    title: str
    current: bool
    record: EditionRecord

    @property
    def edition(self) -> Edition:
        """The indexed disciplines."""
        return self.result.edition

    @property
    def edition_id(self) -> str:
        """The edition id, e.g. ``2018``."""
        return self.result.edition.edition_id


def register_editions(
    registry: EditionRegistry,
    loaded: Iterable[tuple[str, LoadResult]],
    current_edition: str,
) -> list[LoadedEdition]:
    """Record every loaded table and return the editions, the current one first.

    ``loaded`` pairs each table's title with its parse result.
    """
    editions = [
        LoadedEdition(
            result,
            title,
            result.edition.edition_id == current_edition,
            registry.record_load(result.edition.edition_id, title, result),
        )
        for title, result in loaded
    ]
    editions.sort(key=lambda e: (not e.current, e.edition_id))
    return editions


class ClassificationCatalog:
    """Read-only queries over the loaded editions."""

    def __init__(self, editions: Sequence[LoadedEdition]) -> None:
        """Serve ``editions`` in the given order (the current one first)."""
        self._editions = tuple(editions)
        self._by_id = {edition.edition_id: edition for edition in editions}

    @property
    def current(self) -> LoadedEdition:
        """The edition draws use."""
        return next(edition for edition in self._editions if edition.current)

    def list_editions(self, page_size: int, page_token: str) -> Page[LoadedEdition]:
        """List the editions, current first."""
        digests = ",".join(e.result.digest for e in self._editions)
        return paginate(self._editions, page_size, page_token, query_key("editions", digests))

    def get_edition(self, edition_id: str) -> LoadedEdition:
        """Return one edition.

        Raises:
            NotFoundError: no edition with this id is loaded (``EDITION_NOT_FOUND``).
        """
        try:
            return self._by_id[edition_id]
        except KeyError:
            name = names.edition_name(edition_id)
            raise NotFoundError("Edition", name, reason="EDITION_NOT_FOUND") from None

    def get_discipline(self, edition_id: str, code: str) -> Discipline:
        """Return one discipline.

        Raises:
            NotFoundError: the edition or the code is unknown.
        """
        edition = self.get_edition(edition_id).edition
        discipline = edition.find(code)
        if discipline is None:
            name = names.discipline_name(edition_id, code)
            raise NotFoundError("Discipline", name, reason="DISCIPLINE_NOT_FOUND")
        return discipline

    def level_of(self, edition_id: str, code: str) -> int | None:
        """The discipline's level (0 门类 … 3 三级), or None when it is not loaded."""
        loaded = self._by_id.get(edition_id)
        discipline = None if loaded is None else loaded.edition.find(code)
        return None if discipline is None else discipline.level

    def subtree(self, edition_id: str, code: str) -> tuple[str, ...]:
        """The codes of a discipline and every discipline below it.

        Raises:
            NotFoundError: the edition or the code is unknown.
        """
        self.get_discipline(edition_id, code)
        return tuple(d.code for d in self.get_edition(edition_id).edition.subtree(code))

    def is_current(self, edition_id: str) -> bool:
        """Whether draws use this edition."""
        loaded = self._by_id.get(edition_id)
        return loaded is not None and loaded.current

    def list_disciplines(
        self,
        edition_id: str,
        ancestor: str | None,
        *,
        children_only: bool,
        page_size: int,
        page_token: str,
    ) -> Page[Discipline]:
        """List disciplines in code order: all, below ``ancestor``, or direct children.

        Raises:
            NotFoundError: the edition or the ancestor is unknown.
        """
        loaded = self.get_edition(edition_id)
        if ancestor is not None:
            self.get_discipline(edition_id, ancestor)
        edition = loaded.edition
        if children_only:
            items: Sequence[Discipline] = edition.children(ancestor)
        elif ancestor is None:
            items = tuple(edition)
        else:
            items = edition.subtree(ancestor)[1:]
        key = query_key(
            "disciplines", edition_id, loaded.result.digest, ancestor or "", str(children_only)
        )
        return paginate(items, page_size, page_token, key)

    def search(
        self, edition_id: str, query: str, *, page_size: int, page_token: str
    ) -> Page[SearchHit]:
        """Search an edition by code prefix or Chinese name.

        Raises:
            InvalidRequestError: the query is empty or longer than 100 characters.
            NotFoundError: the edition is unknown.
        """
        text = unicodedata.normalize("NFC", query).strip()
        if not text or len(text) > MAX_QUERY_CHARS:
            description = f"must be 1 to {MAX_QUERY_CHARS} characters after trimming"
            raise InvalidRequestError.field("query", description)
        loaded = self.get_edition(edition_id)
        hits = loaded.edition.search(text)
        key = query_key("search", edition_id, loaded.result.digest, text)
        return paginate(hits, page_size, page_token, key)
