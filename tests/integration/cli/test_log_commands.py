"""`log trust`, `log export` and `verify log` end to end, and the verifier offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from audit_log import state
from tests.integration.cli.conftest import client_args, run
from tests.support.service import append_entries as add

if TYPE_CHECKING:
    from cli.server import RunningService

ROOT = Path(__file__).resolve().parents[3]


def client(dev_service: tuple[RunningService, Path], profile: str = "supervisor") -> list[str]:
    return client_args(dev_service, profile)


def test_log_trust_matches_the_dev_trust_file(dev_service: tuple[RunningService, Path]) -> None:
    _, var = dev_service
    result = run("log", "trust", *client(dev_service, "trading_system"))
    assert result.exit_code == 0, result.output
    printed = tomllib.loads(result.stdout)
    assert printed == tomllib.loads((var / "trust.toml").read_text())


def test_export_verify_pin_and_incremental(
    dev_service: tuple[RunningService, Path], tmp_path: Path
) -> None:
    running, var = dev_service
    export, pins = tmp_path / "export", tmp_path / "state"
    add(running, f"first-{tmp_path.name}", 3)
    assert run("log", "export", str(export), *client(dev_service)).exit_code == 0
    trust = str(var / "trust.toml")
    result = run(
        "verify", "log", "--export", str(export), "--trust", trust, "--state", str(pins), "--json"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["findings"] == []
    pinned = state.load(pins, report["origin"])
    assert pinned is not None
    assert pinned.size == report["size"]
    add(running, f"second-{tmp_path.name}", 2)
    assert run("log", "export", str(export), *client(dev_service)).exit_code == 0
    result = run("verify", "log", "--export", str(export), "--trust", trust, "--since", str(pins))
    assert result.exit_code == 0, result.output
    assert "OK (exit 0)" in result.output
    newer = state.load(pins, report["origin"])
    assert newer is not None
    assert newer.size == pinned.size + 2


def test_trading_systems_may_not_export(
    dev_service: tuple[RunningService, Path], tmp_path: Path
) -> None:
    result = run("log", "export", str(tmp_path / "x"), *client(dev_service, "trading_system"))
    assert result.exit_code == 1
    assert "PERMISSION_DENIED" in result.output


def test_usage_errors_exit_4(tmp_path: Path, dev_service: tuple[RunningService, Path]) -> None:
    _, var = dev_service
    (tmp_path / "bad.toml").write_text("version = 2\n")
    assert (
        run(
            "verify", "log", "--export", str(tmp_path), "--trust", str(tmp_path / "bad.toml")
        ).exit_code
        == 4
    )
    result = run(
        "verify", "log", "--export", str(tmp_path / "missing"), "--trust", str(var / "trust.toml")
    )
    assert result.exit_code == 4


def test_verifier_runs_without_network_or_server_libraries(
    dev_service: tuple[RunningService, Path], tmp_path: Path
) -> None:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.fail("the offline test needs unshare and root (CI runs as root)")
    _running, var = dev_service
    export = tmp_path / "export"
    assert run("log", "export", str(export), *client(dev_service)).exit_code == 0
    script = (
        "import sys\n"
        "from cli.main import app\n"
        "try:\n"
        f"    app(['verify', 'log', '--export', {str(export)!r}, '--trust', {str(var / 'trust.toml')!r}])\n"
        "except SystemExit as done:\n"
        "    heavy = sorted(m for m in ('grpc', 'sqlalchemy', 'sqlmodel', 'psycopg') if m in sys.modules)\n"
        "    print('HEAVY', heavy)\n"
        "    raise\n"
    )
    done = subprocess.run(["unshare", "-n", sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "HEAVY []" in done.stdout
    assert "OK (exit 0)" in done.stdout


def test_new_key_and_rotate_key_commands(tmp_path: Path) -> None:
    var = tmp_path / "var"
    assert (
        run(
            "dev", "init", "--var", str(var), "--data-dir", str(ROOT.parent / "shared" / "data")
        ).exit_code
        == 0
    )
    config = var / "expert-draw.toml"
    assert run("db", "upgrade", "--config", str(config)).exit_code == 0
    made = run(
        "log",
        "new-key",
        "--origin",
        "expert-draw.localhost/dev",
        "--out",
        str(tmp_path / "new.key"),
    )
    assert made.exit_code == 0
    assert made.stdout.startswith("expert-draw.localhost/dev+")
    assert (
        run(
            "log", "new-key", "--origin", "x.example/log", "--out", str(tmp_path / "new.key")
        ).exit_code
        == 4
    )
    rotated = run(
        "log",
        "rotate-key",
        "--config",
        str(config),
        "--new-key",
        str(tmp_path / "new.key"),
        "--reason",
        "test",
    )
    assert rotated.exit_code == 0, rotated.output
    assert "key.rotate logged at seq 1" in rotated.stdout
    wrong = run(
        "log", "new-key", "--origin", "other.example/log", "--out", str(tmp_path / "other.key")
    )
    assert wrong.exit_code == 0
    refused = run(
        "log",
        "rotate-key",
        "--config",
        str(config),
        "--new-key",
        str(tmp_path / "other.key"),
        "--reason",
        "x",
    )
    assert refused.exit_code == 4


def test_follow_appends_verifies_and_pins(
    dev_service: tuple[RunningService, Path], tmp_path: Path
) -> None:
    running, var = dev_service
    export, pins = tmp_path / "follow", tmp_path / "pins"
    add(running, f"follow-{tmp_path.name}", 2)
    args = ["log", "follow", str(export), "--trust", str(var / "trust.toml"), "--state", str(pins),
            "--idle-exit", "2", *client(dev_service)]  # fmt: skip
    first_run = run(*args)
    assert first_run.exit_code == 0, first_run.output
    assert "verified and pinned size" in first_run.stdout
    pinned = state.load(pins, "expert-draw.localhost/dev")
    assert pinned is not None
    add(running, f"follow-more-{tmp_path.name}", 3)
    second = run(*args)
    assert second.exit_code == 0, second.output
    newer = state.load(pins, "expert-draw.localhost/dev")
    assert newer is not None
    assert newer.size == pinned.size + 3
    verified = run("verify", "log", "--export", str(export), "--trust", str(var / "trust.toml"))
    assert verified.exit_code == 0, verified.output


def test_follow_stops_at_tampering(
    dev_service: tuple[RunningService, Path], tmp_path: Path
) -> None:
    running, var = dev_service
    export, pins = tmp_path / "follow", tmp_path / "pins"
    args = ["log", "follow", str(export), "--trust", str(var / "trust.toml"), "--state", str(pins),
            "--idle-exit", "2", *client(dev_service)]  # fmt: skip
    assert run(*args).exit_code == 0
    entries = export / "entries.aud1"
    lines = entries.read_bytes().splitlines(keepends=True)
    lines[-1] = lines[-1].replace(b'"v":1', b'"v":1 ', 1)
    entries.write_bytes(b"".join(lines))
    add(running, f"after-tamper-{tmp_path.name}", 1)
    assert run(*args).exit_code in {1, 2}


def test_export_waits_out_a_busy_refusal(
    dev_service: tuple[RunningService, Path], tmp_path: Path
) -> None:
    """An export's large pages are refused TOO_MANY_CALLS while another call of the same
    certificate runs; the CLI pauses and sends them again instead of failing."""
    import threading

    import grpc

    from cli.admin.client import load_client_config, open_channel
    from expert_draw.api.v1 import audit_service_pb2 as apb
    from expert_draw.api.v1 import audit_service_pb2_grpc as apb_grpc

    running, var = dev_service
    config = load_client_config(var / "client.toml", "supervisor", f"127.0.0.1:{running.port}")
    add(running, f"busy-{tmp_path.name}", 2)
    with open_channel(config) as channel:
        follower = apb_grpc.AuditServiceStub(channel).StreamEntries(
            apb.StreamEntriesRequest(start_seq=0)
        )
        next(follower)  # the stream runs: it holds one of the certificate's slots
        credentials = grpc.ssl_channel_credentials(
            config.ca.read_bytes(), config.key.read_bytes(), config.cert.read_bytes()
        )
        with (
            grpc.secure_channel(config.target, credentials) as plain,  # no retries
            pytest.raises(grpc.RpcError) as refused,
        ):
            apb_grpc.AuditServiceStub(plain).ListEntries(
                apb.ListEntriesRequest(page_size=1000), timeout=10
            )
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        release = threading.Timer(0.5, follower.cancel)
        release.start()
        try:
            result = run("log", "export", str(tmp_path / "export"), *client(dev_service))
        finally:
            release.join()
        assert result.exit_code == 0, result.output
        with pytest.raises(grpc.RpcError):
            for _ in follower:
                pass
