"""``expert-draw health``: ask the plaintext health port whether the service is SERVING.

It is the image's HEALTHCHECK and works for any local probe: a plain (no TLS, no client
certificate) ``grpc.health.v1.Health/Check`` call to ``health_listen``, which the service
binds on loopback only. Exit 0 when the answer is SERVING, 1 otherwise (not serving yet,
shutting down, unknown service, nothing listening, deadline exceeded).
"""

from __future__ import annotations

from typing import Annotated, cast

import typer

EXIT_SERVING = 0
EXIT_UNHEALTHY = 1


def health(
    target: Annotated[
        str,
        typer.Option(
            "--target",
            envvar="EXPERT_DRAW_HEALTH_LISTEN",
            help="The health port host:port (plaintext, loopback); default the service's.",
        ),
    ] = "127.0.0.1:50052",
    service: Annotated[
        str,
        typer.Option(
            "--service",
            help=(
                "Service to ask about, e.g. expert_draw.api.v1.DrawService; "
                "empty (the default) means the whole server."
            ),
        ),
    ] = "",
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Deadline of the check, in seconds.")
    ] = 3.0,
) -> None:
    """Check the service's health over its plaintext health port (exit 0 SERVING, else 1)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    what = f"service {service!r}" if service else "server"
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as exc:
            call = cast("grpc.Call", exc)  # every error a stub raises is also a Call
            code = call.code()
            if code == grpc.StatusCode.NOT_FOUND:
                message = f"{what} is unknown to the health service at {target}"
            elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
                message = f"no answer from {target} within {timeout:g} s"
            else:
                message = f"health check at {target} failed: {code.name}: {call.details()}"
            typer.echo(f"expert-draw: unhealthy: {message}", err=True)
            raise typer.Exit(EXIT_UNHEALTHY) from None
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        typer.echo(f"expert-draw: unhealthy: {what} at {target} is {status}", err=True)
        raise typer.Exit(EXIT_UNHEALTHY)
    typer.echo(f"{what} at {target}: {status}")
