"""Client configuration, channels and error reporting for the online commands.

The client settings file is found from ``--client-config``, else
``$EXPERT_DRAW_CLIENT_CONFIG``, else ``./var/client.toml`` (written by
``expert-draw dev init``), else ``~/.config/expert-draw/client.toml``. It names the
target, the CA that issued the server's certificate, and one certificate and key per
profile (usually one per role). Relative paths are relative to the file's folder.
"""

from __future__ import annotations

import os
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, cast

import typer

if TYPE_CHECKING:
    from collections.abc import Iterator

    import grpc

EXIT_RPC_ERROR = 1
EXIT_USAGE = 4

ClientConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--client-config",
        envvar="EXPERT_DRAW_CLIENT_CONFIG",
        help=(
            "Client settings (TOML); default ./var/client.toml, "
            "then ~/.config/expert-draw/client.toml."
        ),
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        envvar="EXPERT_DRAW_PROFILE",
        help="Certificate profile (e.g. admin, supervisor).",
    ),
]
TargetOption = Annotated[
    str | None,
    typer.Option(
        "--target",
        envvar="EXPERT_DRAW_TARGET",
        help="Service address host:port (overrides the settings).",
    ),
]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", min=0.1, help="Deadline of each call, in seconds.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
RequestIdOption = Annotated[
    str | None,
    typer.Option(
        "--request-id",
        help="Idempotency key of the call (default: a fresh one, printed): rerun with the "
        "printed id after a lost connection to get the first result, not a second action.",
    ),
]


def request_id(given: str | None, prefix: str) -> str:
    """``given``, or a fresh id that is printed to stderr so a rerun can repeat it."""
    if given:
        return given
    fresh = f"{prefix}-{os.urandom(12).hex()}"
    typer.echo(f"request id {fresh} (after a lost connection, rerun with --request-id {fresh})",
               err=True)  # fmt: skip
    return fresh


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Where the service is and which certificate to present."""

    target: str
    ca: Path
    cert: Path
    key: Path
    profile: str


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``message`` to stderr and exit with ``code``."""
    typer.secho(f"expert-draw: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _find_config(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    for candidate in (Path("var/client.toml"), Path.home() / ".config/expert-draw/client.toml"):
        if candidate.exists():
            return candidate
    fail("no client settings: pass --client-config or run `make serve` (writes var/client.toml)")


def load_client_config(path: Path | None, profile: str | None, target: str | None) -> ClientConfig:
    """Read the client settings and pick a profile (exits 4 with a clear message)."""
    config_path = _find_config(path)
    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        fail(f"cannot read client settings {config_path}: {exc}")
    base = config_path.parent
    chosen = profile or data.get("profile", "")
    profiles = data.get("profiles", {})
    if chosen not in profiles:
        fail(f"profile {chosen!r} is not in {config_path} (have: {', '.join(profiles) or 'none'})")
    entry = profiles[chosen]
    try:
        return ClientConfig(
            target=target or data["target"],
            ca=base / data["ca"],
            cert=base / entry["cert"],
            key=base / entry["key"],
            profile=chosen,
        )
    except (KeyError, TypeError) as exc:
        fail(f"client settings {config_path}: missing {exc}")


def open_channel(config: ClientConfig) -> grpc.Channel:
    """Open a mutual-TLS channel to the service."""
    import grpc

    try:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=config.ca.read_bytes(),
            private_key=config.key.read_bytes(),
            certificate_chain=config.cert.read_bytes(),
        )
    except OSError as exc:
        fail(f"cannot read {exc.filename}: {exc.strerror}")
    from cli.admin.retry import BusyRetry

    channel = grpc.secure_channel(config.target, credentials)
    return grpc.intercept_channel(channel, BusyRetry())


def report_rpc_error(error: grpc.RpcError) -> NoReturn:
    """Print a failed call's status, reason and field violations, then exit 1 (4 if unreachable)."""
    import grpc
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    call = cast("grpc.Call", error)  # every error a stub raises is also a Call
    code = call.code()
    lines = [f"{code.name}: {call.details()}"]
    status = rpc_status.from_call(call)
    for detail in status.details if status else ():
        info = error_details_pb2.ErrorInfo()
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(info):
            extra = ", ".join(f"{k}={v}" for k, v in sorted(info.metadata.items()))
            lines.append(f"  reason: {info.reason}" + (f" ({extra})" if extra else ""))
        elif detail.Unpack(bad):
            lines.extend(f"  {v.field}: {v.description}" for v in bad.field_violations)
    unreachable = code in {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
    fail("\n".join(lines), EXIT_USAGE if unreachable else EXIT_RPC_ERROR)


def request_metadata() -> tuple[tuple[str, str], ...]:
    """Metadata sent with every call: a request id for correlating server logs."""
    return (("x-request-id", f"cli-{os.getpid()}-{os.urandom(4).hex()}"),)


@contextmanager
def connect(
    client_config: Path | None, profile: str | None, target: str | None
) -> Iterator[grpc.Channel]:
    """Open a channel from the client settings; report a failed call and exit."""
    import grpc

    config = load_client_config(client_config, profile, target)
    with open_channel(config) as channel:
        try:
            yield channel
        except grpc.RpcError as error:
            report_rpc_error(error)
