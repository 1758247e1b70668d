"""A throwaway PostgreSQL 15 cluster for the test suite.

``make test`` needs no PostgreSQL set up by hand: the session fixture starts a cluster
under /tmp on a free loopback port and stops it at the end, even when tests fail.
PostgreSQL refuses to run as root, so as root the cluster runs as the unprivileged user
``pgtest`` (created if missing). ``EXPERT_DRAW_TEST_PG_URL`` points the suite at an
existing server instead.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN = Path(os.environ.get("EXPERT_DRAW_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "pgtest"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgCluster:
    """A PostgreSQL cluster the tests own: start, stop, restart, URLs."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="expert-draw-pg.")))
    port: int = field(default_factory=free_port)
    running: bool = False

    def _as_owner(self, *argv: str | Path) -> list[str]:
        args = [str(a) for a in argv]
        if os.geteuid() == 0:
            return ["runuser", "-u", PG_USER, "--", *args]
        return args

    def _run(self, *argv: str | Path) -> None:
        subprocess.run(self._as_owner(*argv), check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        if not (PG_BIN / "initdb").exists():
            msg = f"PostgreSQL binaries not found in {PG_BIN} (set EXPERT_DRAW_PG_BIN)"
            raise RuntimeError(msg)
        for sub in ("data", "sock", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(PG_USER)
            except KeyError:
                subprocess.run(["useradd", "--system", "--no-create-home", PG_USER], check=True)
            shutil.chown(self.root, PG_USER, PG_USER)
            for sub in ("data", "sock", "log"):
                shutil.chown(self.root / sub, PG_USER, PG_USER)
        (self.root / "data").chmod(0o700)
        self._run(
            PG_BIN / "initdb", "-D", self.root / "data", "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root / 'sock'} -c listen_addresses=127.0.0.1 "
            "-c max_connections=200 -c fsync=on -c synchronous_commit=on"
        )
        self._run(
            PG_BIN / "pg_ctl", "-D", self.root / "data", "-l", self.root / "log" / "pg.log",
            "-w", "-t", "60", "-o", options, "start",
        )  # fmt: skip
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        if self.running:
            self._run(PG_BIN / "pg_ctl", "-D", self.root / "data", "-m", mode, "-w", "stop")
            self.running = False

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def launch(self) -> str:
        """Initialise, start and wait for the cluster; return the server URL."""
        self.init()
        self.start()
        wait_ready(self.url())
        return self.url()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"


def wait_ready(url: str, timeout: float = 30.0) -> None:
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(conninfo, connect_timeout=2).close()
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
        else:
            return
