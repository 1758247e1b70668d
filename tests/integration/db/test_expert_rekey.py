"""Data-key rotation: `db rekey` re-encrypts every cell and re-hashes every 身份证号."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from audit_log.entry import Who
from classification import read_edition
from expert_draw.adapters.db.engine import make_engine
from expert_draw.adapters.db.models import expert_salt_table, expert_table
from expert_draw.adapters.experts import ExpertLibrary, rekey
from expert_draw.adapters.grpc.expert_servicer import draft_from_pb
from expert_draw.adapters.protection import DataKeys, FieldCipher, KeySet
from expert_draw.app.classification import ClassificationCatalog, EditionRecord, LoadedEdition
from expert_draw.errors import AlreadyExistsError
from tests.support import experts as sample
from tests.support.service import make_audit_log
from tests.support.tables import TABLE_2018

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from sqlalchemy.engine import Engine

    from tests.support.pki import Pki

WHO = Who("admin", "dev:admin", "test-1")


def catalog() -> ClassificationCatalog:
    loaded = read_edition(TABLE_2018, "2018")
    return ClassificationCatalog(
        [
            LoadedEdition(
                loaded, "2018", current=True, record=EditionRecord("2018", loaded.digest, 0)
            )
        ]
    )


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def library(engine: Engine, pki: Pki, keys: DataKeys) -> ExpertLibrary:
    audit = make_audit_log(engine, pki)
    return ExpertLibrary(
        engine, audit, FieldCipher(keys), catalog(), clock_ms=lambda: int(time.time() * 1000)
    )


def test_rotation_then_rekey(engine: Engine, pki: Pki) -> None:
    old = DataKeys.generate()
    first = library(engine, pki, old)
    made = [first.create(WHO, f"rk-{n}", draft_from_pb(sample.expert(n))[0]) for n in range(3)]
    rotated = DataKeys(
        KeySet("k2", {**old.encryption.keys, "k2": os.urandom(32)}),
        KeySet("h2", {**old.identity_hash.keys, "h2": os.urandom(32)}),
    )
    second = library(engine, pki, rotated)
    # Before the re-key: old cells open and old hashes are found.
    assert second.get(made[0].uuid).personal == made[0].personal
    with pytest.raises(AlreadyExistsError):
        second.create(WHO, "rk-dup", draft_from_pb(sample.expert(1))[0])
    done = rekey(engine, FieldCipher(rotated), batch=2)
    assert (done.experts, done.cells, done.hashes, done.salts) == (3, 12, 3, 3)
    with engine.connect() as conn:
        rows = conn.execute(select(expert_table)).all()
        salts = conn.execute(select(expert_salt_table)).all()
    assert all(r.id_hash.startswith("h2:") for r in rows)
    assert all(bytes(r.phone_enc)[2:4] == b"k2" for r in rows)
    assert all(bytes(s.salts_enc)[2:4] == b"k2" for s in salts)
    # Only the new keys are needed from now on.
    fresh = DataKeys(KeySet("k2", {"k2": rotated.encryption.keys["k2"]}),
                     KeySet("h2", {"h2": rotated.identity_hash.keys["h2"]}))  # fmt: skip
    third = library(engine, pki, fresh)
    assert [third.get(m.uuid).personal for m in made] == [m.personal for m in made]
    assert third.salts(made[0].uuid, 1).keys() == {
        "full_name",
        "resident_id_number",
        "phone",
        "email",
        "birth_date",
        "gender",
    }
    with pytest.raises(AlreadyExistsError):
        third.create(WHO, "rk-dup2", draft_from_pb(sample.expert(2))[0])
    again = rekey(engine, FieldCipher(fresh))
    assert (again.cells, again.hashes, again.salts) == (0, 0, 0)  # idempotent


def test_the_command(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(app, ["db", "rekey", "--config", str(tmp_path / "missing.toml")])
    assert result.exit_code == 4
