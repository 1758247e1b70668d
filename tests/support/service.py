"""Start the real service in-process on 127.0.0.1:0 and open client channels to it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from audit_log.note import Signer
from cli.server import RunningService, start_service
from expert_draw.adapters.audit import AuditLog
from expert_draw.adapters.devpki import write_private
from expert_draw.adapters.protection import DataKeys
from expert_draw.config import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tests.support.pki import Pki

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
EDITIONS = [
    {
        "id": "2018",
        "path": str(SHARED_DATA / "discipline-standard-2018.csv"),
        "title": "2018 (316号)",
    },
    {
        "id": "2010-trial",
        "path": str(SHARED_DATA / "discipline-standard-2010-trial.csv"),
        "title": "2010 试行",
    },
]
RULES = [
    {"principal": "dev:admin", "role": "admin", "ca": "dev", "subject_cn": "dev-admin"},
    {
        "principal": "client:trading-01",
        "role": "trading_system",
        "ca": "dev",
        "subject_cn": "dev-trading-01",
    },
    {
        "principal": "client:trading-02",
        "role": "trading_system",
        "ca": "dev",
        "subject_cn": "dev-trading-02",
    },
    {
        "principal": "dev:supervisor",
        "role": "supervisor",
        "ca": "dev",
        "subject_cn": "dev-supervisor",
    },
    {
        "principal": "bureau:supervisor",
        "role": "supervisor",
        "ca": "other",
        "subject_cn": "bureau-supervisor",
    },
]


ORIGIN = "audit.test/expert-draw"


def log_key_file(pki: Pki) -> Path:
    """The test log's signing key, written once per PKI folder (mode 0600)."""
    path = pki.folder / "log.key"
    if not path.exists():
        write_private(path, Signer.generate(ORIGIN).private_string().encode())
    return path


def data_keys_file(pki: Pki) -> Path:
    """The test library's data keys, written once per PKI folder (mode 0600)."""
    path = pki.folder / "data-keys.json"
    if not path.exists():
        write_private(path, DataKeys.generate().to_json().encode())
    return path


# The test supervisor's X25519 escrow key (raw private bytes; its public half is configured).
SUPERVISOR_ESCROW_KEY = bytes(range(32, 64))


def draw_key_files(pki: Pki) -> dict[str, Any]:
    """The [draws] settings: a tender key and one supervisor escrow key, written once."""
    tender = pki.folder / "tender.key"
    if not tender.exists():
        write_private(tender, (bytes(range(32)).hex() + "\n").encode())
    public = pki.folder / "supervisor-escrow.pub"
    if not public.exists():
        key = X25519PrivateKey.from_private_bytes(SUPERVISOR_ESCROW_KEY)
        public.write_text(key.public_key().public_bytes_raw().hex() + "\n", encoding="ascii")
    return {"tender_key": str(tender), "escrow_keys": [str(public)]}


def service_settings(pki: Pki, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "listen": "127.0.0.1:0",
        "health_listen": "127.0.0.1:0",
        "database_url": database_url,
        "config_dir": str(pki.folder),
        "tls": {
            "server_cert": "server.pem",
            "server_key": "server.key",
            "client_cas": [
                {"name": "dev", "file": "ca-dev.pem"},
                {"name": "other", "file": "ca-other.pem"},
            ],
        },
        "auth": {"clients": RULES},
        "classification": {"editions": EDITIONS, "current_edition": "2018"},
        "audit": {"origin": ORIGIN, "signing_key": str(log_key_file(pki)), "replica_id": "test-1"},
        "library": {"data_keys": str(data_keys_file(pki))},
        "draws": draw_key_files(pki),
        # Tests of concurrent retries send several calls from one client at once; the
        # per-client limit has its own test (test_client_limits.py).
        "grpc": {
            "max_workers": 4,
            "max_calls_per_client": 4,
            "grace_seconds": 2.0,
            "drain_seconds": 0.0,
        },
    }
    values.update(overrides)
    return load_settings(None, **values)


def start(pki: Pki, database_url: str, **overrides: Any) -> RunningService:
    return start_service(service_settings(pki, database_url, **overrides))


def client_channel(pki: Pki, port: int, client: str | None) -> grpc.Channel:
    """Open an mTLS channel presenting ``client``'s certificate (None: no certificate)."""
    roots = pki.ca_file("dev").read_bytes()
    if client is None:
        credentials = grpc.ssl_channel_credentials(root_certificates=roots)
    else:
        cert, key = pki.client_files(client)
        credentials = grpc.ssl_channel_credentials(roots, key.read_bytes(), cert.read_bytes())
    return grpc.secure_channel(f"127.0.0.1:{port}", credentials)


def make_audit_log(engine: Engine, pki: Pki) -> AuditLog:
    """An initialised audit log on ``engine`` with the test key."""
    settings = service_settings(pki, "sqlite://")
    audit = AuditLog.from_settings(settings, engine, lambda: int(time.time() * 1000))
    audit.initialize()
    return audit


EXPERT_UUID = "0b7f6c2e-8a1d-4c3b-9e2f-5a6b7c8d9e0f"


def append_entries(running: RunningService, request_id: str, count: int) -> None:
    """Append ``count`` admin entries in one transaction (a checkpoint after them)."""
    from audit_log.entry import Who
    from audit_log.sqlstore import PendingEntry
    from expert_draw.adapters.db.engine import write_transaction

    pending = [
        PendingEntry("expert.delete", f"experts/{EXPERT_UUID}", {"reason": f"{request_id}-{i}"})
        for i in range(count)
    ]
    with write_transaction(running.audit.engine) as conn:
        running.audit.append(conn, who=Who("admin", "dev:admin", "dev-1"), request_id=request_id,
                             payload={"r": request_id}, pending=pending)  # fmt: skip


def write_client_config(pki: Pki, port: int, folder: Path, profile: str = "supervisor") -> Path:
    """A CLI client.toml in ``folder`` reaching 127.0.0.1:``port`` as ``profile``."""
    cert, key = pki.client_files(profile)
    path = folder / "client.toml"
    path.write_text(
        f'target = "127.0.0.1:{port}"\nca = "{pki.ca_file("dev")}"\n'
        f'profile = "{profile}"\n[profiles.{profile}]\ncert = "{cert}"\nkey = "{key}"\n',
        encoding="utf-8",
    )
    return path
