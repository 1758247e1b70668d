"""The edition registry on the database (implements ``app.classification.EditionRegistry``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from expert_draw.adapters.audit import pending
from expert_draw.adapters.db.engine import write_transaction
from expert_draw.adapters.db.models import DisciplineRow, EditionLoadRow
from expert_draw.app.classification import EditionRecord

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Connection, Engine

    from classification import LoadResult
    from expert_draw.adapters.audit import AuditLog

_LOAD = EditionLoadRow.__table__  # type: ignore[attr-defined]
_DISCIPLINE = DisciplineRow.__table__  # type: ignore[attr-defined]


class SqlEditionRegistry:
    """Records each (edition, digest) once, with its usable disciplines."""

    def __init__(self, engine: Engine, clock_ms: Callable[[], int], audit: AuditLog) -> None:
        """Use ``engine``; ``clock_ms`` gives the load time; loads are audit-logged."""
        self._engine = engine
        self._clock_ms = clock_ms
        self._audit = audit

    def record_load(self, edition_id: str, title: str, result: LoadResult) -> EditionRecord:
        """Record the load if its digest is new for the edition; return the record.

        Replicas starting together may race to record the same table: the loser's
        insert hits the unique key and it reads the winner's record instead.
        """
        try:
            return self._record(edition_id, title, result)
        except IntegrityError:
            with self._engine.connect() as connection:
                found = self._find(connection, edition_id, result.digest)
            if found is None:
                raise
            return found

    def _record(self, edition_id: str, title: str, result: LoadResult) -> EditionRecord:
        with write_transaction(self._engine) as connection:
            found = self._find(connection, edition_id, result.digest)
            if found is not None:
                return found
            now = self._clock_ms()
            load_id = connection.execute(
                insert(_LOAD).returning(_LOAD.c.id),
                {
                    "edition_id": edition_id,
                    "table_sha256": result.digest,
                    "title": title,
                    "row_count": result.rows,
                    "discipline_count": len(result.edition),
                    "defects_json": json.dumps(result.defect_strings()),
                    "loaded_at_ms": now,
                },
            ).scalar_one()
            connection.execute(
                insert(_DISCIPLINE),
                [
                    {
                        "load_id": load_id,
                        "code": d.code,
                        "name": d.name,
                        "level": d.level,
                        "parent_code": d.parent,
                    }
                    for d in result.edition
                ],
            )
            data = {
                "edition": edition_id,
                "digest": result.digest,
                "rows": result.rows,
                "defects": result.defect_strings(),
            }
            self._audit.append(
                connection,
                who=self._audit.service_who(),
                request_id=f"classification-load-{edition_id}-{result.digest[:16]}",
                payload=data,
                pending=[pending("classification.load", f"editions/{edition_id}", data)],
            )
            return EditionRecord(edition_id, result.digest, now)

    @staticmethod
    def _find(connection: Connection, edition_id: str, digest: str) -> EditionRecord | None:
        row = connection.execute(
            select(_LOAD.c.loaded_at_ms).where(
                _LOAD.c.edition_id == edition_id, _LOAD.c.table_sha256 == digest
            )
        ).first()
        return None if row is None else EditionRecord(edition_id, digest, row.loaded_at_ms)
