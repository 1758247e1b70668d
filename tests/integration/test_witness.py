"""A supervisory witness over mTLS (issue 6): the service submits checkpoints, stores and
logs the cosignatures, exports them with the checkpoint; the witness refuses what C2SP
tlog-witness says it must, and never cosigns a forked tree."""

from __future__ import annotations

import base64
import dataclasses
import json
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import select

from audit_log import merkle, note, sqlstore
from audit_log.checkpoint import Checkpoint, parse_unverified
from audit_log.cosig import WitnessKey, WitnessSigner
from audit_log.entry import Entry
from audit_log.export import checkpoint_line
from expert_draw.adapters.witness import WitnessSettings, start_witness
from expert_draw.api.v1 import audit_service_pb2 as apb
from expert_draw.api.v1 import audit_service_pb2_grpc as apb_grpc
from expert_draw.api.v1 import witness_service_pb2 as wpb
from expert_draw.api.v1 import witness_service_pb2_grpc as wpb_grpc
from tests.integration.cli.conftest import run
from tests.support.databases import new_sqlite_url
from tests.support.service import ORIGIN, client_channel, log_key_file, start, write_client_config
from tests.support.service import append_entries as add

if TYPE_CHECKING:
    from collections.abc import Iterator

    from cli.server import RunningService
    from tests.support.pki import Pki


def log_signer(pki: Pki) -> note.Signer:
    return note.Signer.parse(log_key_file(pki).read_text().strip())


@pytest.fixture
def witness(pki: Pki, tmp_path: Path) -> Iterator[tuple[WitnessSettings, int]]:
    settings = WitnessSettings(
        listen="127.0.0.1:0",
        signer=WitnessSigner.generate("witness.test/w1"),
        state=tmp_path / "witness.db",
        server_cert=(pki.folder / "server.pem").read_bytes(),
        server_key=(pki.folder / "server.key").read_bytes(),
        client_ca=pki.ca_file("dev").read_bytes(),
        log_keys={ORIGIN: [log_signer(pki).verifier]},
    )
    server, port, state = start_witness(settings)
    yield settings, port
    server.stop(0).wait()
    state.close()


def witness_config(pki: Pki, settings: WitnessSettings, port: int) -> dict[str, object]:
    cert, key = pki.client_files("supervisor")
    return {"witnesses": [{"vkey": str(settings.signer.key), "target": f"localhost:{port}",
                           "ca": str(pki.ca_file("dev")), "cert": str(cert), "key": str(key)}],
            "interval_seconds": 3600}  # fmt: skip


@pytest.fixture
def witnessed(
    pki: Pki, db_url: str, witness: tuple[WitnessSettings, int]
) -> Iterator[tuple[RunningService, WitnessSettings, int]]:
    settings, port = witness
    running = start(pki, db_url, witness=witness_config(pki, settings, port))
    yield running, settings, port
    running.stop(grace=0)


def cosigs(running: RunningService) -> list[tuple[int, str, str]]:
    table = sqlstore.cosig_table
    with running.audit.engine.connect() as conn:
        rows = conn.execute(
            select(table.c.size, table.c.signer, table.c.line).order_by(table.c.size)
        )
        return [(int(r.size), str(r.signer), str(r.line)) for r in rows]


def witness_notes(running: RunningService) -> list[Entry]:
    table = sqlstore.entry_table
    with running.audit.engine.connect() as conn:
        rows = conn.execute(select(table.c.body).where(table.c.kind == "witness.note"))
        return [Entry.decode(bytes(r.body)) for r in rows]


def test_the_service_collects_logs_and_exports_cosignatures(
    witnessed: tuple[RunningService, WitnessSettings, int], pki: Pki
) -> None:
    running, settings, _ = witnessed
    cosigner = running.cosigner
    assert cosigner is not None
    add(running, "first", 3)
    assert cosigner.run_once() == 1
    [(size, signer, line)] = cosigs(running)
    assert signer == "witness.test/w1"
    # The line is the witness's, over the log's checkpoint at that size.
    with running.audit.engine.connect() as conn:
        body = parse_unverified(running.audit.store.checkpoint_note(conn, size) or "").body()
    assert settings.signer.key.verify(body, note.split(body + "\n" + line)[1][0]) > 0
    [logged] = witness_notes(running)
    assert logged.data == {"line": line, "size": size, "witness": "witness.test/w1"}
    assert logged.subj == "log"
    assert logged.seq >= size
    # Only the witness.note since: nothing to submit.
    assert cosigner.run_once() == 0
    # New entries: submitted again, from the cosigned size with a consistency proof.
    add(running, "second", 2)
    assert cosigner.run_once() == 1
    sizes = [s for s, _, _ in cosigs(running)]
    assert sizes[0] == size
    assert sizes[1] > size
    # ListCheckpoints carries each line in its size's note (what `log export` saves).
    channel = client_channel(pki, running.port, "supervisor")
    with channel:
        listed = apb_grpc.AuditServiceStub(channel).ListCheckpoints(
            apb.ListCheckpointsRequest(page_size=1000)
        )
    notes = {c.size: c.note for c in listed.checkpoints}
    for cosigned, _, cosig_line in cosigs(running):
        assert notes[cosigned].endswith(cosig_line)
        note.open_note(notes[cosigned], [log_signer(pki).verifier])  # still the log's note
    assert not any("witness.test" in n for s, n in notes.items() if s not in sizes)


def _refusal(call: grpc.RpcError) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    status = rpc_status.from_call(call)
    info = error_details_pb2.ErrorInfo()
    assert status is not None
    assert any(d.Unpack(info) for d in status.details)
    return call.code(), info.reason, dict(info.metadata)


def _checkpoint(signer: note.Signer, leaves: list[bytes]) -> tuple[str, Checkpoint]:
    cp = Checkpoint(
        ORIGIN, len(leaves), merkle.reference_root([merkle.leaf_hash(x) for x in leaves])
    )
    return note.sign(cp.body(), [signer]), cp


def _proof(leaves: list[bytes], size1: int) -> list[bytes]:
    hashes = [merkle.leaf_hash(x) for x in leaves]

    def read(level: int, index: int) -> bytes:
        if level == 0:
            return hashes[index]
        width = 1 << level
        return merkle.reference_root(hashes[index * width : (index + 1) * width])

    return merkle.consistency_proof(size1, len(leaves), read)


def test_the_witness_refuses_what_c2sp_says_it_must(
    witness: tuple[WitnessSettings, int], pki: Pki
) -> None:
    settings, port = witness
    channel = client_channel(pki, port, "supervisor")
    stub = wpb_grpc.WitnessServiceStub(channel)
    signer = log_signer(pki)
    leaves = [f"leaf {i}".encode() for i in range(9)]

    def refused(request: wpb.AddCheckpointRequest) -> tuple[grpc.StatusCode, str, dict[str, str]]:
        with pytest.raises(grpc.RpcError) as caught:
            stub.AddCheckpoint(request, timeout=10)
        return _refusal(caught.value)

    with channel:
        five, _ = _checkpoint(signer, leaves[:5])
        # Unknown origin: 404.
        stranger = note.Signer.generate("elsewhere.test/log")
        other = note.sign(Checkpoint("elsewhere.test/log", 1, bytes(32)).body(), [stranger])
        code, reason, _ = refused(wpb.AddCheckpointRequest(old_size=0, checkpoint=other))
        assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "UNKNOWN_LOG")
        # Signed by another key under the log's name: 403.
        forged = note.sign(parse_unverified(five).body(), [note.Signer.generate(ORIGIN)])
        code, reason, _ = refused(wpb.AddCheckpointRequest(old_size=0, checkpoint=forged))
        assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "NO_LOG_SIGNATURE")
        # old_size above the checkpoint's size: 400.
        code, reason, _ = refused(wpb.AddCheckpointRequest(old_size=6, checkpoint=five))
        assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "OLD_SIZE_TOO_LARGE")
        # First submission from 0, then the witness holds size 5.
        first = stub.AddCheckpoint(wpb.AddCheckpointRequest(old_size=0, checkpoint=five))
        key = WitnessKey.parse(first.witness_vkey)
        assert key == settings.signer.key
        assert key.verify(
            parse_unverified(five).body(), note.split(five + first.cosignature)[1][-1]
        )
        # A stale old_size: 409 with the witness's size.
        nine, _ = _checkpoint(signer, leaves)
        code, reason, meta = refused(wpb.AddCheckpointRequest(old_size=0, checkpoint=nine))
        assert (code, reason, meta["witness_size"]) == (
            grpc.StatusCode.FAILED_PRECONDITION, "WITNESS_CONFLICT", "5")  # fmt: skip
        # A proof for another tree: 422 (BAD_PROOF), and nothing stored.
        wrong = _proof([b"x", *leaves[1:]], 5)
        code, reason, _ = refused(
            wpb.AddCheckpointRequest(old_size=5, consistency_proof=wrong, checkpoint=nine)
        )
        assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "BAD_PROOF")
        # A fork at the same size (another root): 409.
        forked, _ = _checkpoint(signer, [b"fork", *leaves[1:5]])
        code, reason, _ = refused(wpb.AddCheckpointRequest(old_size=5, checkpoint=forked))
        assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "WITNESS_CONFLICT")
        # The right proof: accepted; the same checkpoint again is cosigned again.
        right = _proof(leaves, 5)
        stub.AddCheckpoint(wpb.AddCheckpointRequest(old_size=5, consistency_proof=right,
                                                    checkpoint=nine))  # fmt: skip
        stub.AddCheckpoint(wpb.AddCheckpointRequest(old_size=9, checkpoint=nine))
        # Malformed proof hashes: INVALID_ARGUMENT naming the field.
        code, _, _ = refused(
            wpb.AddCheckpointRequest(old_size=9, consistency_proof=[b"short"], checkpoint=nine)
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT
    # Without a client certificate the handshake fails.
    anonymous = client_channel(pki, port, None)
    with anonymous, pytest.raises(grpc.RpcError) as caught:
        wpb_grpc.WitnessServiceStub(anonymous).AddCheckpoint(
            wpb.AddCheckpointRequest(old_size=9, checkpoint=nine), timeout=10
        )
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("extra", [0, 1, 3])
def test_a_forked_log_gets_no_cosignature(
    pki: Pki, tmp_path: Path, witness: tuple[WitnessSettings, int], extra: int,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """Two databases under one key (a restored backup grown apart, a split view): the
    witness cosigns the first and refuses the second, which stores and logs nothing."""
    settings, port = witness
    config = witness_config(pki, settings, port)
    honest = start(pki, new_sqlite_url(tmp_path), witness=config)
    fork = start(pki, new_sqlite_url(tmp_path), witness=config,
                 metrics={"listen": "127.0.0.1:0"})  # fmt: skip
    try:
        add(honest, "same", 2)
        add(fork, "different", 2 + extra)  # the same size, or larger than the witness's
        assert honest.cosigner is not None
        assert fork.cosigner is not None
        assert honest.cosigner.run_once() == 1
        assert fork.cosigner.run_once() == 0
        assert cosigs(fork) == []
        assert witness_notes(fork) == []
        assert any("witness.fork" in r.getMessage() for r in caplog.records)
        assert fork.metrics is not None
        alerts = fork.metrics.registry.get_sample_value(
            "expert_draw_verification_failures_total", {"check": "witness_consistency"}
        )
        assert alerts == 1
    finally:
        honest.stop(grace=0)
        fork.stop(grace=0)


def test_witness_new_key(tmp_path: Path) -> None:
    out = tmp_path / "keys" / "witness.key"
    made = run("witness", "new-key", "witness.test/w9", str(out))
    assert made.exit_code == 0, made.output
    key = WitnessKey.parse(made.stdout.strip())
    assert key.name == "witness.test/w9"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert WitnessSigner.parse(out.read_text().strip()).key == key
    assert base64.b64decode(made.stdout.strip().split("+", 2)[2])[0] == 0x04
    again = run("witness", "new-key", "witness.test/w9", str(out))
    assert again.exit_code == 4
    bad = run("witness", "new-key", "has space", str(tmp_path / "other.key"))
    assert bad.exit_code == 4


def _trust(pki: Pki, folder: Path, witness_keys: list[str], threshold: int) -> Path:
    path = folder / f"trust-{threshold}-{len(witness_keys)}.toml"
    text = f'version = 1\nlog_vkey = "{log_signer(pki).verifier}"\n'
    if witness_keys:
        keys = ", ".join(f'"{k}"' for k in witness_keys)
        text += f"\n[witness]\nkeys = [{keys}]\nthreshold = {threshold}\n"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_export_carries_the_cosignatures_to_the_verifier(
    witnessed: tuple[RunningService, WitnessSettings, int], pki: Pki, tmp_path: Path
) -> None:
    running, settings, _ = witnessed
    assert running.cosigner is not None
    config, export = write_client_config(pki, running.port, tmp_path), tmp_path / "export"
    vkey = str(settings.signer.key)
    add(running, "before", 3)
    assert running.cosigner.run_once() == 1

    def export_and_verify(trust: Path) -> int:
        exported = run("log", "export", str(export), "--client-config", str(config))
        assert exported.exit_code == 0, exported.output
        verified = run("verify", "log", "--export", str(export), "--trust", str(trust))
        return int(verified.exit_code)

    # The newest checkpoint's only new entry is the witness.note: witnessed enough.
    assert export_and_verify(_trust(pki, tmp_path, [vkey], 1)) == 0
    # New entries after the cosigned size: a witness policy finding (exit 3) ...
    add(running, "after", 2)
    assert export_and_verify(_trust(pki, tmp_path, [vkey], 1)) == 3
    # ... until the witness cosigns them; the next export re-reads the last size it had.
    assert running.cosigner.run_once() == 1
    assert export_and_verify(_trust(pki, tmp_path, [vkey], 1)) == 0
    # A second witness required but absent: policy finding; without [witness]: clean.
    other = str(WitnessSigner.generate("witness.test/w2").key)
    assert export_and_verify(_trust(pki, tmp_path, [vkey, other], 2)) == 3
    assert export_and_verify(_trust(pki, tmp_path, [], 0)) == 0


def test_witness_show_and_merge_notes(
    witnessed: tuple[RunningService, WitnessSettings, int], pki: Pki, tmp_path: Path
) -> None:
    """What the witness holds can be printed and merged into an export in size order."""
    running, settings, _ = witnessed
    assert running.cosigner is not None
    add(running, "shown", 4)
    assert running.cosigner.run_once() == 1
    key = tmp_path / "w.key"
    key.write_text(settings.signer.private_string() + "\n", encoding="utf-8")
    key.chmod(0o600)
    config = tmp_path / "witness.toml"
    vkey = log_signer(pki).verifier
    config.write_text(
        f'signing_key = "{key}"\nstate = "{settings.state}"\n[tls]\n'
        f'server_cert = "{pki.folder / "server.pem"}"\nserver_key = "{pki.folder / "server.key"}"\n'
        f'client_ca = "{pki.ca_file("dev")}"\n[[logs]]\nvkeys = ["{vkey}"]\n',
        encoding="utf-8",
    )
    shown = run("witness", "show", "--config", str(config))
    assert shown.exit_code == 0, shown.output
    [(size, _, line)] = cosigs(running)
    [held] = [canonical_line for canonical_line in shown.stdout.splitlines() if canonical_line]
    assert json.loads(held)["size"] == size
    assert json.loads(held)["note"].endswith(line)
    export = tmp_path / "export"
    exported = run("log", "export", str(export), "--client-config",
                   str(write_client_config(pki, running.port, tmp_path)))  # fmt: skip
    assert exported.exit_code == 0, exported.output
    evidence = tmp_path / "held.aud1"
    evidence.write_text(held + "\n", encoding="utf-8")
    before = (export / "checkpoints.aud1").read_bytes().splitlines()
    merged = run("log", "merge-notes", str(export), str(evidence))
    assert merged.exit_code == 0, merged.output
    after = (export / "checkpoints.aud1").read_bytes().splitlines()
    sizes = [int(json.loads(x)["size"]) for x in after]
    assert sizes == sorted(sizes)
    assert set(before) <= set(after)
    assert len(after) == len(set(after))
    again = run("log", "merge-notes", str(export), str(evidence))
    assert "0 note(s) added" in again.stdout
    assert (export / "checkpoints.aud1").read_bytes().splitlines() == after


def test_two_witnesses_cosign_the_same_sizes_and_meet_a_threshold_of_two(
    pki: Pki, tmp_path: Path, witness: tuple[WitnessSettings, int]
) -> None:
    """Recording one witness's line appends a witness.note; the other witness is still
    sent the size the first one cosigned, so their lines add up."""
    first, first_port = witness
    second = dataclasses.replace(
        first, signer=WitnessSigner.generate("witness.test/w2"), state=tmp_path / "w2.db"
    )
    server, port, state = start_witness(second)
    config = witness_config(pki, first, first_port)
    config["witnesses"] = [*config["witnesses"], *witness_config(pki, second, port)["witnesses"]]  # type: ignore[misc]
    running = start(pki, new_sqlite_url(tmp_path), witness=config)
    try:
        assert running.cosigner is not None
        for round_ in range(3):
            add(running, f"two-{round_}", 2)
            assert running.cosigner.run_once() == 2
        rows = cosigs(running)
        sizes = {s for s, _, _ in rows}
        assert len(rows) == 6
        assert all(sum(1 for s, _, _ in rows if s == size) == 2 for size in sizes)
        export = tmp_path / "export"
        client = write_client_config(pki, running.port, tmp_path)
        assert run("log", "export", str(export), "--client-config", str(client)).exit_code == 0
        trust = _trust(pki, tmp_path, [str(first.signer.key), str(second.signer.key)], 2)
        verified = run("verify", "log", "--export", str(export), "--trust", str(trust))
        assert verified.exit_code == 0, verified.output
    finally:
        running.stop(grace=0)
        server.stop(0).wait()
        state.close()


def test_an_export_holding_merged_evidence_is_not_extended(
    witnessed: tuple[RunningService, WitnessSettings, int], pki: Pki, tmp_path: Path
) -> None:
    running, _, _ = witnessed
    assert running.cosigner is not None
    add(running, "stale-1", 2)
    client = write_client_config(pki, running.port, tmp_path)
    export = tmp_path / "export"
    assert run("log", "export", str(export), "--client-config", str(client)).exit_code == 0
    add(running, "stale-2", 2)
    assert running.cosigner.run_once() == 1
    [(size, _, line)] = cosigs(running)[-1:]
    with running.audit.engine.connect() as conn:
        held = (running.audit.store.checkpoint_note(conn, size) or "") + line
    evidence = tmp_path / "held.aud1"
    evidence.write_bytes(checkpoint_line(size, held))
    merged = run("log", "merge-notes", str(export), str(evidence))
    assert merged.exit_code == 0, merged.output
    assert "beyond the export's" in merged.stderr
    again = run("log", "export", str(export), "--client-config", str(client))
    assert again.exit_code == 4
    assert "export into a new folder" in again.stderr


def test_the_witness_keeps_the_log_signed_note_with_its_own_line(
    witness: tuple[WitnessSettings, int], pki: Pki
) -> None:
    """A note padded with 15 strangers' lines is accepted (unknown keys are ignored),
    but the evidence the witness keeps holds the log's line and its own: 2 lines, not 17."""
    from expert_draw.adapters.witness import WitnessState

    settings, port = witness
    leaves = [f"leaf {i}".encode() for i in range(3)]
    cp = Checkpoint(ORIGIN, 3, merkle.reference_root([merkle.leaf_hash(x) for x in leaves]))
    strangers = [note.Signer.generate(f"stranger.test/{i}") for i in range(15)]
    padded = note.sign(cp.body(), [log_signer(pki), *strangers])
    with client_channel(pki, port, "supervisor") as channel:
        reply = wpb_grpc.WitnessServiceStub(channel).AddCheckpoint(
            wpb.AddCheckpointRequest(old_size=0, checkpoint=padded), timeout=10
        )
    state = WitnessState(settings.state)
    try:
        [(origin, size, kept)] = state.latest()
    finally:
        state.close()
    assert (origin, size) == (ORIGIN, 3)
    text, lines = note.split(kept)
    assert text == cp.body()
    assert [line.name for line in lines] == [ORIGIN, "witness.test/w1"]
    assert kept.endswith(reply.cosignature)


def test_log_follow_pins_what_the_witness_cosigned(
    witnessed: tuple[RunningService, WitnessSettings, int], pki: Pki, tmp_path: Path
) -> None:
    """The stream sends each checkpoint before the witness has seen it; the witness.note
    entries that follow make the copy witnessed, and the pinned state advances."""
    from audit_log import state

    running, settings, _ = witnessed
    assert running.cosigner is not None
    add(running, "follow-1", 3)
    assert running.cosigner.run_once() == 1
    [(size, _, _)] = cosigs(running)
    trust = _trust(pki, tmp_path, [str(settings.signer.key)], 1)
    client = write_client_config(pki, running.port, tmp_path)
    followed = run("log", "follow", str(tmp_path / "copy"), "--trust", str(trust), "--state",
                   str(tmp_path / "pins"), "--idle-exit", "2", "--client-config", str(client))  # fmt: skip
    assert followed.exit_code == 0, followed.output
    pinned = state.load(tmp_path / "pins", ORIGIN)
    assert pinned is not None
    assert pinned.size == size


def test_witness_serve_runs_until_sigterm(pki: Pki, tmp_path: Path) -> None:
    """`witness new-key` then `witness serve --config` as an operator runs them: it serves
    AddCheckpoint over mTLS, stops on SIGTERM, and refuses a key file others can read."""
    import signal
    import subprocess
    import sys

    key = tmp_path / "witness.key"
    assert run("witness", "new-key", "witness.test/proc", str(key)).exit_code == 0
    config = tmp_path / "witness.toml"
    config.write_text(
        f'listen = "127.0.0.1:0"\nsigning_key = "witness.key"\nstate = "w.db"\n[tls]\n'
        f'server_cert = "{pki.folder / "server.pem"}"\nserver_key = "{pki.folder / "server.key"}"\n'
        f'client_ca = "{pki.ca_file("dev")}"\n[[logs]]\nvkeys = ["{log_signer(pki).verifier}"]\n',
        encoding="utf-8",
    )
    binary = str(Path(sys.executable).with_name("expert-draw"))
    process = subprocess.Popen([binary, "witness", "serve", "--config", str(config)],
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert process.stderr is not None
        port = 0
        for line in process.stderr:
            if "serving on port" in line:
                port = int(line.rsplit(" ", 1)[1])
                break
        body = Checkpoint(ORIGIN, 1, merkle.reference_root([merkle.leaf_hash(b"one")])).body()
        with client_channel(pki, port, "supervisor") as channel:
            reply = wpb_grpc.WitnessServiceStub(channel).AddCheckpoint(
                wpb.AddCheckpointRequest(old_size=0, checkpoint=note.sign(body, [log_signer(pki)])),
                timeout=10,
            )
        assert reply.cosignature.startswith("— witness.test/proc ")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=20)
        if process.stderr is not None:
            process.stderr.close()
    key.chmod(0o644)  # readable by others: refused
    refused = run("witness", "serve", "--config", str(config))
    assert refused.exit_code == 4


def test_a_witness_that_lost_its_state_is_warned_about_and_caught_up(
    witnessed: tuple[RunningService, WitnessSettings, int], caplog: pytest.LogCaptureFixture
) -> None:
    import sqlite3

    running, settings, _ = witnessed
    assert running.cosigner is not None
    add(running, "lost-1", 2)
    assert running.cosigner.run_once() == 1
    with sqlite3.connect(settings.state) as db:  # the witness's state wiped (a bad restore)
        db.execute("DELETE FROM seen")
    add(running, "lost-2", 2)
    assert running.cosigner.run_once() == 1  # resubmitted from size 0
    assert any("witness.state_behind" in r.getMessage() for r in caplog.records)
    assert not any("witness.fork" in r.getMessage() for r in caplog.records)
