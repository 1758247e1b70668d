"""Settings: one frozen pydantic-settings class, validated once at start.

Two sources: a TOML file (``expert-draw serve --config FILE``) and environment variables
``EXPERT_DRAW_<FIELD>`` with ``__`` between nested names (for example
``EXPERT_DRAW_GRPC__MAX_WORKERS=16``); the environment wins. Relative paths in the file
are relative to the file's folder. :func:`load_settings` turns every problem into one
:class:`~expert_draw.errors.ConfigurationError` that names the setting.
"""

from __future__ import annotations

import enum
import ipaddress
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from expert_draw.errors import ConfigurationError

PRINCIPAL_PATTERN = r"^[a-z0-9][a-z0-9:._-]{0,39}$"
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,39}$"
HEX64_PATTERN = r"^[0-9a-f]{64}$"


class Role(enum.StrEnum):
    """Certificate roles (audit-log.md §2)."""

    ADMIN = "admin"
    TRADING_SYSTEM = "trading_system"
    SUPERVISOR = "supervisor"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrustedCa(_Frozen):
    """A CA whose client certificates the service accepts (细则 第27条: several CAs)."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    file: Path


class TlsSettings(_Frozen):
    """The server's certificate and the CAs it trusts for client certificates."""

    server_cert: Path
    server_key: Path
    client_cas: Annotated[list[TrustedCa], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [ca.name for ca in self.client_cas]
        if len(set(names)) != len(names):
            msg = "client_cas: CA names must be unique"
            raise ValueError(msg)
        return self


class ClientRule(_Frozen):
    """Maps one client certificate to a principal and a role.

    A direct rule names the trusted CA that issued the certificate (``ca``) and either
    its subject common name or its SHA-256 fingerprint. A proxied rule names a trusted
    proxy (``proxy``) and the fingerprint of the end client's certificate, which that
    proxy verified and forwards (ADR-0016, TLCP/SM2 gateways).
    """

    principal: Annotated[str, Field(pattern=PRINCIPAL_PATTERN)]
    role: Role
    ca: Annotated[str | None, Field(pattern=NAME_PATTERN)] = None
    proxy: Annotated[str | None, Field(pattern=NAME_PATTERN)] = None
    subject_cn: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    fingerprint_sha256: Annotated[str | None, Field(pattern=HEX64_PATTERN)] = None

    @model_validator(mode="after")
    def _one_match(self) -> Self:
        if (self.ca is None) == (self.proxy is None):
            msg = "a client rule names exactly one of ca or proxy"
            raise ValueError(msg)
        if (self.subject_cn is None) == (self.fingerprint_sha256 is None):
            msg = "a client rule matches exactly one of subject_cn or fingerprint_sha256"
            raise ValueError(msg)
        if self.proxy is not None and self.fingerprint_sha256 is None:
            msg = "a proxied client rule matches by fingerprint_sha256"
            raise ValueError(msg)
        return self


class TrustedProxy(_Frozen):
    """A gateway (e.g. TLCP-terminating, for SM2 clients) trusted to forward identities.

    Its own certificate is matched like a direct client rule; a call from it must carry
    the end client's certificate fingerprint in the metadata key ``header``.
    """

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    ca: Annotated[str, Field(pattern=NAME_PATTERN)]
    subject_cn: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    fingerprint_sha256: Annotated[str | None, Field(pattern=HEX64_PATTERN)] = None
    header: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,64}$")] = "x-client-cert-sha256"

    @model_validator(mode="after")
    def _one_match(self) -> Self:
        if (self.subject_cn is None) == (self.fingerprint_sha256 is None):
            msg = "a trusted proxy matches exactly one of subject_cn or fingerprint_sha256"
            raise ValueError(msg)
        return self


class AuthSettings(_Frozen):
    """Who may call: certificate rules and trusted proxies."""

    clients: list[ClientRule] = []
    trusted_proxies: list[TrustedProxy] = []


class InsecurePort(_Frozen):
    """A plaintext port for business RPCs: development only, loopback only.

    Every call on it acts as ``principal`` with ``role``; present only when configured.
    """

    listen: str
    principal: Annotated[str, Field(pattern=PRINCIPAL_PATTERN)]
    role: Role


class EditionSource(_Frozen):
    """An edition table file to load at start."""

    id: Annotated[str, Field(pattern=r"^[0-9a-z](?:[0-9a-z-]{0,30}[0-9a-z])?$")]
    path: Path
    title: Annotated[str, Field(max_length=200)] = ""


class ClassificationSettings(_Frozen):
    """The editions of the discipline standard and which one draws use."""

    editions: Annotated[list[EditionSource], Field(min_length=1)]
    current_edition: str = "2018"

    @model_validator(mode="after")
    def _current_is_loaded(self) -> Self:
        ids = [edition.id for edition in self.editions]
        if len(set(ids)) != len(ids):
            msg = "editions: edition ids must be unique"
            raise ValueError(msg)
        if self.current_edition not in ids:
            msg = f"current_edition {self.current_edition!r} is not among editions {ids}"
            raise ValueError(msg)
        return self


class AuditSettings(_Frozen):
    """The audit log: its origin (the name supervisors pin) and its signing key."""

    origin: Annotated[str, Field(pattern=r"^[\x21-\x2a\x2c-\x7e]{1,255}$")]
    signing_key: Path
    previous_signing_keys: list[Path] = []
    replica_id: Annotated[str, Field(pattern=PRINCIPAL_PATTERN)] = "replica-1"
    self_check_entries: Annotated[int, Field(ge=1, le=100_000)] = 64
    # A replica whose clock is further than this from PostgreSQL's refuses writes
    # (UNAVAILABLE, CLOCK_SKEW): entry times never jump forward because of one bad clock.
    max_clock_skew_ms: Annotated[int, Field(ge=100, le=600_000)] = 5000


class WitnessTarget(_Frozen):
    """One witness the service submits its checkpoints to (audit-log-v1 witness section)."""

    vkey: Annotated[str, Field(min_length=1)]  # the witness's cosignature/v1 key (type 0x04)
    target: str  # host:port of its WitnessService
    ca: Path  # the CA that issued the witness's server certificate
    cert: Path  # the client certificate the service presents to it
    key: Path


class WitnessSettings(_Frozen):
    """``[witness]``: where checkpoints are sent for cosigning, and how often."""

    witnesses: list[WitnessTarget] = []
    interval_seconds: Annotated[float, Field(ge=0.1, le=86_400)] = 10.0
    timeout_seconds: Annotated[float, Field(ge=0.1, le=300)] = 5.0


class LibrarySettings(_Frozen):
    """The expert library: the key file that protects personal data at rest."""

    data_keys: Path


class DrawSettings(_Frozen):
    """Draws: the tender-reference key, the supervisors' escrow keys, the policy file."""

    # 32 random bytes as hex, shared with the supervisors: it blinds tender and project
    # references (tender_ref, project_ref), so only they can link a draw to a tender.
    tender_key: Path
    # The supervisors' X25519 public keys (64 hex characters each, one per file): the
    # operator secret of every draw is escrowed to each of them.
    escrow_keys: Annotated[list[Path], Field(min_length=1)]
    # The draw policy (docs/policy.md); the defaults when unset.
    policy: Path | None = None
    # The fairness analytics' thresholds: a TOML file with a [fairness] table
    # (docs/fairness-analytics.md); unset: the documented defaults.
    fairness_policy: Path | None = None


class GrpcSettings(_Frozen):
    """Server limits and shutdown behaviour."""

    max_workers: Annotated[int, Field(ge=1, le=256)] = 8
    # What one client certificate's calls in progress may weigh (None: half the workers,
    # at least 1; a call weighs 1, a list call 1 more per 100 items asked for); beyond it
    # a call is refused at once with RESOURCE_EXHAUSTED, so one client cannot starve the
    # others. A client with nothing in progress is always admitted.
    max_calls_per_client: Annotated[int | None, Field(ge=1, le=256)] = None
    # Calls open at once on one client connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS;
    # None: twice max_calls_per_client). gRPC clients queue the calls beyond it on their
    # side, so a client's backlog never waits in the server in front of other clients'
    # calls of the same method (docs/adr/0021-failure-semantics-and-limits.md).
    max_streams_per_connection: Annotated[int | None, Field(ge=1, le=1024)] = None
    # While a unary write (a draw, any change) is in progress on the server, at most this
    # many unary reads run at once; others wait in line (0: reads are never held back).
    # Writes are what clients wait on; reads alone are not held back.
    reads_during_writes: Annotated[int, Field(ge=0, le=256)] = 1
    max_message_bytes: Annotated[int, Field(ge=64 * 1024, le=64 * 1024 * 1024)] = 4 * 1024 * 1024
    grace_seconds: Annotated[float, Field(ge=0, le=300)] = 10.0
    drain_seconds: Annotated[float, Field(ge=0, le=30)] = 0.5


class LogSettings(_Frozen):
    """Application log output (the audit log is something else)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class MetricsSettings(_Frozen):
    """Prometheus metrics on a plaintext HTTP port of their own; OpenTelemetry tracing.

    Off unless ``listen`` is set; the labels reveal no request content (docs/metrics.md).
    """

    listen: str | None = None  # host:port of /metrics, e.g. "127.0.0.1:9464"
    # Add the OpenTelemetry gRPC server interceptor (needs the ``otel`` extra).
    opentelemetry: bool = False


class Settings(BaseSettings):
    """Everything the service needs to start; frozen and passed down explicitly."""

    model_config = SettingsConfigDict(
        env_prefix="EXPERT_DRAW_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    listen: str = "127.0.0.1:50051"
    health_listen: str | None = "127.0.0.1:50052"
    insecure: InsecurePort | None = None
    database_url: str = "sqlite:///var/expert-draw.db"
    tls: TlsSettings
    auth: AuthSettings = AuthSettings()
    classification: ClassificationSettings
    audit: AuditSettings
    library: LibrarySettings
    draws: DrawSettings | None = None
    grpc: GrpcSettings = GrpcSettings()
    log: LogSettings = LogSettings()
    metrics: MetricsSettings = MetricsSettings()
    witness: WitnessSettings = WitnessSettings()
    config_dir: Path = Path()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Let environment variables win over the file's values (passed as init)."""
        del settings_cls, dotenv_settings, file_secret_settings
        return env_settings, init_settings

    @model_validator(mode="after")
    def _check_addresses(self) -> Self:
        _host_port(self.listen, "listen")
        if self.metrics.listen is not None:
            _host_port(self.metrics.listen, "metrics.listen")
        if self.health_listen is not None and not _is_loopback(self.health_listen):
            msg = "health_listen must be a loopback address (plaintext, for local probes)"
            raise ValueError(msg)
        if self.insecure is not None and not _is_loopback(self.insecure.listen):
            msg = "insecure.listen must be a loopback address"
            raise ValueError(msg)
        return self

    def path(self, value: Path) -> Path:
        """Resolve a configured path against the config file's folder."""
        return value if value.is_absolute() else (self.config_dir / value)

    def check_files(self) -> None:
        """Check that every configured file exists and is readable.

        Raises:
            ConfigurationError: naming the setting and the path.
        """
        files = [("tls.server_cert", self.tls.server_cert), ("tls.server_key", self.tls.server_key)]
        files += [("audit.signing_key", self.audit.signing_key)]
        files += [("library.data_keys", self.library.data_keys)]
        if self.draws is not None:
            files += [("draws.tender_key", self.draws.tender_key)]
            files += [(f"draws.escrow_keys[{i}]", p) for i, p in enumerate(self.draws.escrow_keys)]
            if self.draws.policy is not None:
                files += [("draws.policy", self.draws.policy)]
            if self.draws.fairness_policy is not None:
                files += [("draws.fairness_policy", self.draws.fairness_policy)]
        files += [
            (f"tls.client_cas[{i}].file", ca.file) for i, ca in enumerate(self.tls.client_cas)
        ]
        for i, w in enumerate(self.witness.witnesses):
            files += [(f"witness.witnesses[{i}].{n}", p) for n, p in
                      (("ca", w.ca), ("cert", w.cert), ("key", w.key))]  # fmt: skip
        files += [
            (f"classification.editions[{i}].path ({e.id})", e.path)
            for i, e in enumerate(self.classification.editions)
        ]
        for setting, value in files:
            path = self.path(value)
            try:
                with path.open("rb") as handle:
                    handle.read(1)
            except OSError as exc:
                msg = f"setting {setting}: cannot read {path}: {exc.strerror or exc}"
                raise ConfigurationError(msg) from None


def _host_port(address: str, setting: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:  # noqa: PLR2004
        msg = f"{setting}: expected host:port, got {address!r}"
        raise ValueError(msg)
    return host.strip("[]"), int(port)


def _is_loopback(address: str) -> bool:
    host, _ = _host_port(address, "address")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(config_file: Path | None, **overrides: Any) -> Settings:  # noqa: ANN401
    """Load settings from a TOML file (optional) and the environment.

    Raises:
        ConfigurationError: the file is unreadable or invalid, or a value is invalid;
            the message names each offending setting.
    """
    data: dict[str, Any] = {}
    if config_file is not None:
        try:
            data = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except OSError as exc:
            msg = f"cannot read config file {config_file}: {exc.strerror or exc}"
            raise ConfigurationError(msg) from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            msg = f"config file {config_file} is not valid TOML: {exc}"
            raise ConfigurationError(msg) from None
        data.setdefault("config_dir", str(config_file.parent.resolve()))
    data.update(overrides)
    try:
        return Settings(**data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        msg = f"invalid settings: {problems}"
        raise ConfigurationError(msg) from None
