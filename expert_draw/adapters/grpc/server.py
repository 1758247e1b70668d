"""Server factories: the mTLS business server, the dev plaintext port, the health port.

The optional plaintext business port is for development only; the plaintext health port
(loopback only) serves probes and container health checks.

``build_server(settings, deps) -> (server, port)``; tests bind ``127.0.0.1:0`` and call
over a real channel.
"""

from __future__ import annotations

from concurrent import futures
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from expert_draw.adapters.grpc.auth import Authenticator, Identity
from expert_draw.adapters.grpc.classification_servicer import ClassificationServicer
from expert_draw.adapters.grpc.interceptor import (
    CallInterceptor,
    certificate_identifier,
    fixed_identifier,
)
from expert_draw.adapters.grpc.limits import ClientLimiter, WritesFirst
from expert_draw.api.v1 import audit_service_pb2 as audit_pb
from expert_draw.api.v1 import audit_service_pb2_grpc as audit_grpc
from expert_draw.api.v1 import classification_service_pb2 as classification_pb
from expert_draw.api.v1 import classification_service_pb2_grpc as classification_grpc
from expert_draw.api.v1 import draw_service_pb2 as draw_pb
from expert_draw.api.v1 import draw_service_pb2_grpc as draw_grpc
from expert_draw.api.v1 import expert_service_pb2 as expert_pb
from expert_draw.api.v1 import expert_service_pb2_grpc as expert_grpc
from expert_draw.api.v1 import stats_service_pb2 as stats_pb
from expert_draw.api.v1 import stats_service_pb2_grpc as stats_grpc
from expert_draw.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from expert_draw.adapters.grpc.audit_servicer import AuditServicer
    from expert_draw.adapters.grpc.draw_servicer import DrawServicer
    from expert_draw.adapters.grpc.expert_servicer import ExpertServicer
    from expert_draw.adapters.grpc.stats_servicer import StatsServicer
    from expert_draw.app.classification import ClassificationCatalog
    from expert_draw.config import Settings

BUSINESS_SERVICES = (
    classification_pb.DESCRIPTOR.services_by_name["ClassificationService"].full_name,
    audit_pb.DESCRIPTOR.services_by_name["AuditService"].full_name,
    expert_pb.DESCRIPTOR.services_by_name["ExpertService"].full_name,
    draw_pb.DESCRIPTOR.services_by_name["DrawService"].full_name,
    stats_pb.DESCRIPTOR.services_by_name["StatsService"].full_name,
)
SERVICE_NAMES = (*BUSINESS_SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME)


@dataclass(frozen=True, slots=True)
class ServiceDeps:
    """What the servicers need, built once at start by the wiring (``cli.server``)."""

    catalog: ClassificationCatalog
    audit: AuditServicer
    experts: ExpertServicer
    authenticator: Authenticator
    health: health.HealthServicer
    draws: DrawServicer | None = None  # None without a [draws] configuration
    stats: StatsServicer | None = None  # None without a [draws] configuration
    # Outside the call interceptor, outermost first (metrics: they see the final status).
    interceptors: tuple[grpc.ServerInterceptor, ...] = ()


def new_health_servicer() -> health.HealthServicer:
    """Return a health servicer reporting NOT_SERVING until the service is ready."""
    servicer = health.HealthServicer(experimental_non_blocking=True)
    for name in ("", *BUSINESS_SERVICES):
        servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    return servicer


def mark_serving(servicer: health.HealthServicer) -> None:
    """Report every business service and the server as SERVING."""
    for name in ("", *BUSINESS_SERVICES):
        servicer.set(name, health_pb2.HealthCheckResponse.SERVING)


def _options(settings: Settings) -> list[tuple[str, int]]:
    size = settings.grpc.max_message_bytes
    return [
        ("grpc.max_receive_message_length", size),
        ("grpc.max_send_message_length", size),
        ("grpc.max_concurrent_streams", streams_per_connection(settings)),
        ("grpc.so_reuseport", 0),
    ]


def calls_per_client(settings: Settings) -> int:
    """``[grpc] max_calls_per_client``, by default half the workers (at least 1)."""
    configured = settings.grpc.max_calls_per_client
    return configured if configured is not None else max(1, settings.grpc.max_workers // 2)


def streams_per_connection(settings: Settings) -> int:
    """``[grpc] max_streams_per_connection``, by default twice the calls per client.

    gRPC Python asks its core for one new call of each method at a time, and asks again
    only when its polling thread has taken that call in (``grpc/_server.py``): a method's
    calls are taken one per turn of that thread, in arrival order, whoever sent them. A
    client with 32 calls in flight made every other client's call of the same method wait
    behind its 32 (bench/load.py, the abusive phase). With this bound, sent to each client
    in HTTP/2 SETTINGS, the calls beyond it wait in the client. Twice the
    per-client limit, not the limit itself: the server releases a finished call's stream
    a little after the client sees it end, and a client at its limit that sent its next
    call in that gap had it refused (RST_STREAM REFUSED_STREAM: UNAVAILABLE).
    """
    configured = settings.grpc.max_streams_per_connection
    return configured if configured is not None else 2 * calls_per_client(settings)


def _bind(server: grpc.Server, address: str, setting: str, add: Callable[[str], int]) -> int:
    del server
    try:
        port = add(address)
    except RuntimeError:
        port = 0
    if port == 0:
        msg = f"setting {setting}: cannot listen on {address} (in use or not a local address)"
        raise ConfigurationError(msg)
    return port


def _new_server(
    settings: Settings,
    deps: ServiceDeps,
    identify: Callable[[grpc.ServicerContext, dict[str, str]], Identity],
) -> grpc.Server:
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.grpc.max_workers, thread_name_prefix="rpc"),
        interceptors=[
            *deps.interceptors,
            ClientLimiter(calls_per_client(settings)),
            CallInterceptor(identify),
            # Inside the call interceptor: a call refused for its role never counts.
            *([WritesFirst(reads)] if (reads := settings.grpc.reads_during_writes) else []),
        ],
        options=_options(settings),
    )
    classification_grpc.add_ClassificationServiceServicer_to_server(
        ClassificationServicer(deps.catalog), server
    )
    audit_grpc.add_AuditServiceServicer_to_server(deps.audit, server)
    expert_grpc.add_ExpertServiceServicer_to_server(deps.experts, server)
    if deps.draws is not None:
        draw_grpc.add_DrawServiceServicer_to_server(deps.draws, server)
    if deps.stats is not None:
        stats_grpc.add_StatsServiceServicer_to_server(deps.stats, server)
    health_pb2_grpc.add_HealthServicer_to_server(deps.health, server)
    reflection.enable_server_reflection(SERVICE_NAMES, server)
    return server


def server_credentials(settings: Settings) -> grpc.ServerCredentials:
    """Return mTLS credentials: our certificate, every trusted client CA, client auth.

    Raises:
        ConfigurationError: a certificate or key file is unreadable.
    """
    try:
        key = settings.path(settings.tls.server_key).read_bytes()
        cert = settings.path(settings.tls.server_cert).read_bytes()
        roots = b"".join(
            settings.path(ca.file).read_bytes().rstrip(b"\n") + b"\n"
            for ca in settings.tls.client_cas
        )
    except OSError as exc:
        msg = f"tls: cannot read {exc.filename}: {exc.strerror}"
        raise ConfigurationError(msg) from None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=roots, require_client_auth=True
    )


def build_server(settings: Settings, deps: ServiceDeps) -> tuple[grpc.Server, int]:
    """Build the mutual-TLS business server bound to ``settings.listen``.

    Raises:
        ConfigurationError: the certificates are unreadable or the address unusable.
    """
    server = _new_server(settings, deps, certificate_identifier(deps.authenticator))
    credentials = server_credentials(settings)
    port = _bind(
        server,
        settings.listen,
        "listen",
        lambda address: server.add_secure_port(address, credentials),
    )
    return server, port


def build_insecure_server(settings: Settings, deps: ServiceDeps) -> tuple[grpc.Server, int]:
    """Build the plaintext business server (development only, loopback only).

    Every call acts as the configured ``insecure.principal`` and ``insecure.role``.

    Raises:
        ConfigurationError: ``insecure`` is not configured or the address is unusable.
    """
    insecure = settings.insecure
    if insecure is None:
        msg = "setting insecure: not configured"
        raise ConfigurationError(msg)
    identity = Identity(insecure.principal, insecure.role, via="insecure-port")
    server = _new_server(settings, deps, fixed_identifier(identity))
    port = _bind(server, insecure.listen, "insecure.listen", server.add_insecure_port)
    return server, port


def build_health_server(address: str, servicer: health.HealthServicer) -> tuple[grpc.Server, int]:
    """Build the plaintext loopback server that serves the health service only.

    Raises:
        ConfigurationError: the address is unusable.
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="health"),
        options=[("grpc.so_reuseport", 0)],
    )
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = _bind(server, address, "health_listen", server.add_insecure_port)
    return server, port
