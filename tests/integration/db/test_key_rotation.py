"""Planned key rotation in the service: logged, dual-signed, survives restarts, verifies."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from audit_log import trust
from audit_log.entry import Who
from audit_log.note import Signer
from audit_log.sqlstore import PendingEntry
from audit_log.verify import Options, verify_log
from expert_draw.adapters.audit import AuditLog
from expert_draw.adapters.db.engine import make_engine, write_transaction
from expert_draw.adapters.devpki import write_private
from expert_draw.errors import PreconditionError
from tests.support import tamper
from tests.support.service import ORIGIN, log_key_file, service_settings

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.pki import Pki


def open_log(db_url: str, pki: Pki, key: Path, previous: list[Path]) -> AuditLog:
    settings = service_settings(pki, db_url)
    audit_settings = settings.audit.model_copy(
        update={"signing_key": key, "previous_signing_keys": previous}
    )
    settings = settings.model_copy(update={"audit": audit_settings})
    log = AuditLog.from_settings(settings, make_engine(db_url), lambda: int(time.time() * 1000))
    log.initialize()
    return log


def add(log: AuditLog, request_id: str) -> None:
    pending = [PendingEntry("expert.delete", f"experts/{tamper.UUID}", {"reason": request_id})]
    with write_transaction(log.engine) as conn:
        log.append(
            conn,
            who=Who("admin", "dev:admin", "t"),
            request_id=request_id,
            payload={"r": request_id},
            pending=pending,
        )


def test_rotation_end_to_end(db_url: str, pki: Pki, tmp_path: Path) -> None:
    old_file = log_key_file(pki)
    new = Signer.generate(ORIGIN)
    new_file = tmp_path / "new.key"
    write_private(new_file, new.private_string().encode())
    log = open_log(db_url, pki, old_file, [])
    add(log, "before")
    rotated = log.rotate_key(new, "annual rotation", overlap=3)
    assert "— " + ORIGIN in rotated.checkpoint_note
    assert rotated.checkpoint_note.count("— ") == 2  # dual-signed at q + 1
    add(log, "during-1")
    log.engine.dispose()
    only_old = open_log(db_url, pki, old_file, [])
    assert only_old.writes_refused is not None  # the new key is needed from q + 1
    with pytest.raises(PreconditionError):
        add(only_old, "refused")
    only_old.engine.dispose()
    both = open_log(db_url, pki, new_file, [old_file])
    assert both.writes_refused is None
    assert both.self_check(64) == []
    for i in range(4):
        add(both, f"after-{i}")
    both.engine.dispose()
    new_only = open_log(db_url, pki, new_file, [])
    assert new_only.writes_refused is None
    add(new_only, "new-only")
    export = tamper.export(new_only.engine, tmp_path / "export")
    new_only.engine.dispose()
    pinned = trust.parse(
        f'version = 1\nlog_vkey = "{Signer.parse(old_file.read_text().strip()).verifier}"\n'
    )
    report = verify_log(export, pinned, Options(all_signatures=True))
    assert report.findings == []
    assert report.new_state is not None
    old_period, new_period = report.new_state.keys
    assert old_period[2] is not None
    assert new_period[2] is None


def test_rotation_refuses_a_reused_or_foreign_key(db_url: str, pki: Pki) -> None:
    log = open_log(db_url, pki, log_key_file(pki), [])
    with pytest.raises(PreconditionError, match="never used before"):
        log.rotate_key(Signer.parse(log_key_file(pki).read_text().strip()), "same", overlap=1)
    with pytest.raises(PreconditionError, match="named after the origin"):
        log.rotate_key(Signer.generate("other.example/log"), "foreign", overlap=1)
    log.engine.dispose()
