"""``expert-draw dev init``: development PKI and configuration (``make serve``)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

from audit_log.note import Signer
from expert_draw.adapters.devpki import create_ca, issue, write_private
from expert_draw.adapters.protection import DataKeys
from expert_draw.config import Role

app = typer.Typer(help="Development set-up: dev PKI and configuration.", no_args_is_help=True)

CLIENT_CN = {
    Role.ADMIN: ("dev-admin", "dev:admin"),
    Role.TRADING_SYSTEM: ("dev-trading-01", "dev:trading-01"),
    Role.SUPERVISOR: ("dev-supervisor", "dev:supervisor"),
}
DEV_ORIGIN = "expert-draw.localhost/dev"
EDITIONS = (
    (
        "2018",
        "discipline-standard-2018.csv",
        "公共资源交易评标专家专业分类标准（发改法规〔2018〕316号）",
    ),
    ("2010-trial", "discipline-standard-2010-trial.csv", "评标专家专业分类标准（试行，2010）"),
)


def _table(name: str, **values: str) -> str:
    """Render one TOML array-of-tables entry; JSON string escapes are valid TOML."""
    body = "".join(
        f"{key} = {json.dumps(value, ensure_ascii=False)}\n" for key, value in values.items()
    )
    return f"\n[[{name}]]\n{body}"


def _server_toml(data_dir: Path) -> str:
    rules = "".join(
        _table("auth.clients", principal=principal, role=role, ca="dev", subject_cn=cn)
        for role, (cn, principal) in CLIENT_CN.items()
    )
    editions = "".join(
        _table("classification.editions", id=edition, path=str(data_dir / name), title=title)
        for edition, name, title in EDITIONS
    )
    return f"""# Development settings written by `expert-draw dev init` (make serve). Relative
# paths are relative to this file's folder. Environment variables EXPERT_DRAW_* win.
listen = "127.0.0.1:50051"
health_listen = "127.0.0.1:50052"
database_url = "sqlite:///expert-draw.db"

[tls]
server_cert = "pki/server.pem"
server_key = "pki/server.key"

[[tls.client_cas]]
name = "dev"
file = "pki/ca.pem"
{rules}
[audit]
origin = "{DEV_ORIGIN}"
signing_key = "keys/log.key"
replica_id = "dev-1"

[library]
data_keys = "keys/data-keys.json"

[draws]
tender_key = "keys/tender.key"
escrow_keys = ["keys/supervisor-escrow.pub"]

[classification]
current_edition = "2018"
{editions}"""


def _trust_toml(vkey: str) -> str:
    return f"""# What supervisors pin to verify this log (audit-log.md §9), written by
# `expert-draw dev init`. Compare log_vkey with `expert-draw log trust` and with the
# key received out of band before trusting it.
version = 1
log_vkey = {json.dumps(vkey)}
"""


def _client_toml() -> str:
    profiles = "".join(
        f'\n[profiles.{role}]\ncert = "pki/clients/{role}.pem"\nkey = "pki/clients/{role}.key"\n'
        for role in CLIENT_CN
    )
    return f"""# Client settings for the expert-draw CLI, written by `expert-draw dev init`.
target = "127.0.0.1:50051"
ca = "pki/ca.pem"
profile = "admin"
{profiles}"""


@app.command("init")
def init(
    var: Annotated[
        Path, typer.Option(help="Folder for the dev PKI, settings and database.")
    ] = Path("var"),
    data_dir: Annotated[
        Path, typer.Option(help="Folder holding the discipline-standard edition tables.")
    ] = Path("../shared/data"),
) -> None:
    """Create the dev PKI and settings under VAR on first run; keep existing files."""
    pki = var / "pki"
    now = dt.datetime.now(dt.UTC)
    created = []
    if not (pki / "ca.pem").exists():
        ca = create_ca("expert-draw dev CA", now)
        ca.write(pki / "ca.pem", pki / "ca.key")
        issue(ca, "localhost", now, server_names=("localhost", "127.0.0.1", "::1")).write(
            pki / "server.pem", pki / "server.key"
        )
        for role, (cn, _principal) in CLIENT_CN.items():
            issue(ca, cn, now).write(
                pki / "clients" / f"{role}.pem", pki / "clients" / f"{role}.key"
            )
        created.append(f"dev PKI in {pki}/ (CA, server, clients: {', '.join(CLIENT_CN)})")
    key_file = var / "keys" / "log.key"
    if not key_file.exists():
        signer = Signer.generate(DEV_ORIGIN)
        write_private(key_file, signer.private_string().encode() + b"\n")
        (var / "trust.toml").write_text(_trust_toml(str(signer.verifier)), encoding="utf-8")
        created.append(f"log signing key {key_file} and {var / 'trust.toml'} (pin its log_vkey)")
    data_keys = var / "keys" / "data-keys.json"
    if not data_keys.exists():
        write_private(data_keys, DataKeys.generate().to_json().encode())
        created.append(f"library data keys {data_keys} (keep a backup: without it no record opens)")
    created += _draw_keys(var / "keys")
    for name, text in (
        ("expert-draw.toml", _server_toml(data_dir.resolve())),
        ("client.toml", _client_toml()),
    ):
        path = var / name
        if not path.exists():
            path.write_text(text, encoding="utf-8")
            created.append(str(path))
        elif name == "expert-draw.toml" and not _settings_load(path):
            path.write_text(text, encoding="utf-8")
            created.append(f"{path} (the old one no longer matched the settings)")
    for line in created:
        typer.echo(f"created {line}")


def _draw_keys(keys: Path) -> list[str]:
    """The tender-reference key and a dev supervisor's X25519 escrow key pair."""
    import os

    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    created = []
    tender = keys / "tender.key"
    if not tender.exists():
        write_private(tender, os.urandom(32).hex().encode() + b"\n")
        created.append(f"tender-reference key {tender} (share it with the supervisors)")
    private = keys / "supervisor-escrow.key"
    if not private.exists():
        key = X25519PrivateKey.generate()
        write_private(private, key.private_bytes_raw().hex().encode() + b"\n")
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        (keys / "supervisor-escrow.pub").write_text(public.hex() + "\n", encoding="utf-8")
        created.append(f"dev supervisor escrow key pair {private} (.pub: the service's copy)")
    return created


def _settings_load(path: Path) -> bool:
    """True if an existing dev settings file still loads (an older release's may not)."""
    from expert_draw.config import load_settings
    from expert_draw.errors import ConfigurationError

    try:
        load_settings(path)
    except ConfigurationError:
        return False
    return True
