"""The image's ENTRYPOINT, CMD, ENV and HEALTHCHECK work, run outside a container.

The CI machines have no Docker engine, so this test does what `docker run` would: it
reads the final stage of the Dockerfile, maps each VOLUME to a temporary folder and the
two ports to free loopback ports, prepares the settings folder as an operator would
(`expert-draw dev init`), migrates with `db upgrade`, starts ENTRYPOINT + CMD with the
image's ENV, waits until the HEALTHCHECK command passes, and stops it with SIGTERM.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

from tests.support.tables import SHARED_DATA

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class Stage:
    """The instructions of the image's final stage that matter at run time."""

    env: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    healthcheck_options: dict[str, str] = field(default_factory=dict)
    volumes: list[str] = field(default_factory=list)
    workdir: str = "/"
    user: str = "root"
    run: list[str] = field(default_factory=list)


def instructions(text: str) -> list[tuple[str, str]]:
    """The Dockerfile's instructions (keyword, arguments), continuations joined."""
    found: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") and not pending:
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        if line:
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return found


def exec_form(value: str, what: str) -> list[str]:
    """A JSON-array (exec form) instruction argument; the shell form is not accepted."""
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        pytest.fail(f"{what} must use the exec form (a JSON array): {value}")
    assert isinstance(parsed, list), what
    assert all(isinstance(each, str) for each in parsed), what
    return parsed


def final_stage(text: str) -> Stage:
    stage = Stage()
    for keyword, rest in instructions(text):
        if keyword == "FROM":
            stage = Stage()
        elif keyword == "ENV":
            stage.env.update(
                (key, value) for key, _, value in (p.partition("=") for p in shlex.split(rest))
            )
        elif keyword == "ENTRYPOINT":
            stage.entrypoint = exec_form(rest, "ENTRYPOINT")
        elif keyword == "CMD":
            stage.cmd = exec_form(rest, "CMD")
        elif keyword == "HEALTHCHECK":
            options, _, command = rest.partition("CMD ")
            stage.healthcheck = exec_form(command, "HEALTHCHECK CMD")
            stage.healthcheck_options = dict(
                option.removeprefix("--").split("=", 1) for option in options.split()
            )
        elif keyword == "VOLUME":
            stage.volumes = exec_form(rest, "VOLUME")
        elif keyword == "WORKDIR":
            stage.workdir = rest
        elif keyword == "USER":
            stage.user = rest
        elif keyword == "RUN":
            stage.run.append(rest)
    return stage


STAGE = final_stage(DOCKERFILE.read_text(encoding="utf-8"))


def seconds(duration: str) -> float:
    """A HEALTHCHECK duration (``30s``, ``1m``, ``1m30s``) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts, duration
    assert "".join(f"{n}{u}" for n, u in parts) == duration, duration
    return sum(float(number) * units[unit] for number, unit in parts)


def probe(box: Container) -> subprocess.CompletedProcess[str]:
    """Run the HEALTHCHECK command once, within its --timeout (Docker's default 30 s)."""
    return box.run(
        STAGE.healthcheck, timeout=seconds(STAGE.healthcheck_options.get("timeout", "30s"))
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Container:
    """The image's run-time contract, mapped onto this machine like `docker run -v -p`."""

    def __init__(self, root: Path) -> None:
        self.paths = {
            volume: root / volume.strip("/").replace("/", "-") for volume in STAGE.volumes
        }
        for folder in self.paths.values():
            folder.mkdir(parents=True)
        listen = STAGE.env["EXPERT_DRAW_LISTEN"]
        health = STAGE.env["EXPERT_DRAW_HEALTH_LISTEN"]
        self.port, self.health_port = free_port(), free_port()
        self.ports = {
            listen: f"127.0.0.1:{self.port}",  # published port: loopback only in the test
            health: f"127.0.0.1:{self.health_port}",
        }

    def map(self, value: str) -> str:
        """A container path or address as seen from the host."""
        for inside, outside in sorted(self.paths.items(), key=lambda item: -len(item[0])):
            value = value.replace(inside, str(outside))
        for published, local in self.ports.items():
            value = value.replace(published, local)
        return value

    def path(self, inside: str) -> Path:
        return Path(self.map(inside))

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EXPERT_DRAW_")}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env.update((key, self.map(value)) for key, value in STAGE.env.items())
        return env

    def command(self, args: list[str]) -> list[str]:
        return [self.map(arg) for arg in args]

    def run(self, args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(args),
            env=self.environment(),
            cwd=self.path(STAGE.workdir),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def test_the_final_stage_runs_as_a_non_root_user_with_runtime_dependencies_only() -> None:
    assert STAGE.user.split(":")[0] not in {"root", "0"}
    assert STAGE.user.split(":")[0].isdigit()  # numeric: Kubernetes runAsNonRoot can check it
    assert STAGE.entrypoint, "no ENTRYPOINT"
    assert STAGE.healthcheck, "no HEALTHCHECK"
    installs = [run for run in STAGE.run if "pip install" in run]
    assert installs
    assert not any(re.search(r"\[[^]]*dev[^]]*\]|\s-e\s|--editable", run) for run in installs)
    assert {"/etc/expert-draw", "/var/lib/expert-draw", "/srv/editions"} <= set(STAGE.volumes)


def test_entrypoint_cmd_and_healthcheck_work_outside_a_container(tmp_path: Path) -> None:
    box = Container(tmp_path)
    entrypoint = STAGE.entrypoint
    assert shutil.which(entrypoint[0], path=box.environment()["PATH"]), entrypoint
    # The operator's part: edition tables into their volume, settings and keys into theirs.
    editions = box.path("/srv/editions")
    for table in ("discipline-standard-2018.csv", "discipline-standard-2010-trial.csv"):
        shutil.copy(SHARED_DATA / table, editions / table)
    config = box.path("/etc/expert-draw")
    done = box.run([*entrypoint, "dev", "init", "--var", str(config), "--data-dir", str(editions)])
    assert done.returncode == 0, done.stderr
    # Before the first start: `docker run --rm <volumes> <image> db upgrade`.
    done = box.run([*entrypoint, "db", "upgrade"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert box.path("/var/lib/expert-draw").joinpath("expert-draw.db").exists()
    unhealthy = probe(box)  # nothing serves yet: the probe must be able to fail
    assert unhealthy.returncode == 1, unhealthy.stdout + unhealthy.stderr  # Docker: 1 unhealthy

    with (tmp_path / "stderr.log").open("w+", encoding="utf-8") as log:
        text = serve_until_healthy_then_stop(box, config, log)
    events = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert [e["event"] for e in events if e["event"] in {"serving", "stopped"}] == [
        "serving",
        "stopped",
    ]  # JSON logs (EXPERT_DRAW_LOG__FORMAT) and a graceful stop
    assert probe(box).returncode == 1  # stopped: unhealthy again


def serve_until_healthy_then_stop(box: Container, config: Path, log: IO[str]) -> str:
    """Run ENTRYPOINT + CMD until HEALTHCHECK passes, call it, SIGTERM it: its log."""
    entrypoint = STAGE.entrypoint
    process = subprocess.Popen(
        box.command([*entrypoint, *STAGE.cmd]),
        env=box.environment(),
        cwd=box.path(STAGE.workdir),
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + seconds(STAGE.healthcheck_options["start-period"])
        while True:
            check = probe(box)
            if check.returncode == 0:
                break
            assert check.returncode == 1, check.stderr  # Docker reserves every other code
            assert process.poll() is None, f"the service exited: {log_text(log)}"
            assert time.monotonic() < deadline, f"never healthy: {check.stderr}{log_text(log)}"
            time.sleep(0.5)
        assert "SERVING" in check.stdout
        # The business port answers too, over mTLS with the operator's client certificate.
        editions_list = box.run(
            [
                *entrypoint, "classification", "editions", "--json",
                "--client-config", str(config / "client.toml"),
                "--target", f"127.0.0.1:{box.port}",
            ]
        )  # fmt: skip
        assert editions_list.returncode == 0, editions_list.stdout + editions_list.stderr
        assert "2018" in editions_list.stdout
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log_text(log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return log_text(log)


def log_text(log: IO[str]) -> str:
    log.seek(0)
    return log.read()
