"""Test PKI: two trusted CAs, one untrusted CA, and certificates for every case."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from expert_draw.adapters.devpki import Issued, create_ca, issue

if TYPE_CHECKING:
    from pathlib import Path

NOW = dt.datetime.now(dt.UTC)

# name -> (issuing CA, subject CN)
CLIENTS = {
    "admin": ("dev", "dev-admin"),
    "trading_system": ("dev", "dev-trading-01"),
    "trading_system_b": ("dev", "dev-trading-02"),
    "supervisor": ("dev", "dev-supervisor"),
    "other_ca_supervisor": ("other", "bureau-supervisor"),
    "unmapped": ("dev", "nobody"),
    "imposter": ("other", "dev-admin"),
    "rogue": ("rogue", "dev-admin"),
    "gateway": ("dev", "tlcp-gateway"),
}


@dataclass
class Pki:
    """Files of the test PKI under one folder."""

    folder: Path
    cas: dict[str, Issued]
    clients: dict[str, Issued]

    def ca_file(self, name: str) -> Path:
        return self.folder / f"ca-{name}.pem"

    def client_files(self, name: str) -> tuple[Path, Path]:
        return self.folder / f"{name}.pem", self.folder / f"{name}.key"


def build_pki(folder: Path) -> Pki:
    cas = {name: create_ca(f"test CA {name}", NOW) for name in ("dev", "other", "rogue")}
    for name, ca in cas.items():
        ca.write(folder / f"ca-{name}.pem", folder / f"ca-{name}.key")
    server = issue(cas["dev"], "localhost", NOW, server_names=("localhost", "127.0.0.1"))
    server.write(folder / "server.pem", folder / "server.key")
    clients = {}
    for name, (issuer, cn) in CLIENTS.items():
        clients[name] = issue(cas[issuer], cn, NOW)
        clients[name].write(folder / f"{name}.pem", folder / f"{name}.key")
    return Pki(folder, cas, clients)
