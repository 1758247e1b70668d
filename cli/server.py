"""``expert-draw serve``: wiring of the service, start-up checks, graceful shutdown."""

from __future__ import annotations

import gc
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import structlog
import typer

from cli.logs import configure_logging
from expert_draw.config import Settings, load_settings
from expert_draw.errors import Error

if TYPE_CHECKING:
    from collections.abc import Sequence

    import grpc
    from grpc_health.v1 import health
    from sqlalchemy.engine import Engine

    from expert_draw.adapters.audit import AuditLog
    from expert_draw.adapters.draws import Draws
    from expert_draw.adapters.experts import ExpertLibrary
    from expert_draw.adapters.grpc.stats_servicer import StatsServicer
    from expert_draw.adapters.metrics import MetricsServer, ServiceMetrics
    from expert_draw.adapters.protection import FieldCipher
    from expert_draw.adapters.witnessing import Cosigner
    from expert_draw.app.classification import LoadedEdition

_log = structlog.get_logger("expert_draw.server")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class RunningService:
    """The started servers and what they share; :meth:`stop` shuts down gracefully."""

    settings: Settings
    engine: Engine
    audit: AuditLog
    health: health.HealthServicer
    server: grpc.Server
    port: int
    health_port: int | None = None
    insecure_port: int | None = None
    extra_servers: list[grpc.Server] = field(default_factory=list)
    draws: Draws | None = None
    sweeping: threading.Event = field(default_factory=threading.Event)
    metrics: ServiceMetrics | None = None  # None unless [metrics] listen is set
    metrics_server: MetricsServer | None = None
    cosigner: Cosigner | None = None  # None unless [witness] lists witnesses

    @property
    def metrics_port(self) -> int | None:
        """The bound port of /metrics (None when metrics are off)."""
        return None if self.metrics_server is None else self.metrics_server.port

    def sweep_every(self, seconds: float) -> None:
        """Expire overdue draws every ``seconds`` on a daemon thread, until stopped."""
        draws = self.draws
        if draws is None:
            return

        def run() -> None:
            while not self.sweeping.wait(seconds):
                try:
                    expired = draws.sweep()
                except Exception:  # noqa: BLE001 - the sweeper retries on the next tick
                    _log.exception("sweep.failed")
                    continue
                if expired:
                    _log.info("draws.expired", count=len(expired))

        threading.Thread(target=run, name="draw-sweeper", daemon=True).start()

    def cosign_every(self, seconds: float) -> None:
        """Submit checkpoints to the witnesses every ``seconds``, until stopped."""
        cosigner = self.cosigner
        if cosigner is None:
            return

        def run() -> None:
            while not self.sweeping.wait(seconds):
                try:
                    cosigner.run_once()
                except Exception:  # noqa: BLE001 - the next round retries
                    _log.exception("witness.round_failed")
            cosigner.close()

        threading.Thread(target=run, name="witness-submitter", daemon=True).start()

    def stop(self, grace: float | None = None) -> None:
        """Report NOT_SERVING, let probes notice, then let in-flight calls finish."""
        grace = self.settings.grpc.grace_seconds if grace is None else grace
        self.sweeping.set()
        self.health.enter_graceful_shutdown()
        time.sleep(self.settings.grpc.drain_seconds)
        done = [s.stop(grace) for s in (self.server, *self.extra_servers)]
        for event in done:
            event.wait()
        if self.metrics_server is not None:  # after the drain, whose calls it counts
            self.metrics_server.stop()
        self.engine.dispose()
        _log.info("stopped")


SWEEP_SECONDS = 10.0  # how often overdue draws are expired (draw.expire NO_NONCE)
CHECKPOINT_SECONDS = 1.0  # how often SQLite's WAL is checkpointed, off the request path
GC_GEN0_THRESHOLD = 20_000  # allocations between young collections (default 700)


def _settle(running: RunningService, engine: Engine) -> None:
    """Serve, with the background jobs and a collector that does not stall requests.

    Everything loaded at start (edition tables, modules) stays: it is kept out of the
    collector's full passes, and young objects are collected less often. Full passes
    over a large heap stalled requests (p99 of a draw at 1M experts: 130 ms, against
    85 ms without the stalls).
    """
    from expert_draw.adapters.db.engine import checkpoint_in_background
    from expert_draw.adapters.grpc.server import mark_serving

    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 100)
    mark_serving(running.health)
    running.sweep_every(SWEEP_SECONDS)
    running.cosign_every(running.settings.witness.interval_seconds)
    checkpoint_in_background(engine, running.sweeping, CHECKPOINT_SECONDS)


def _cosigner(
    settings: Settings, audit: AuditLog, metrics: ServiceMetrics | None
) -> Cosigner | None:
    """The witness submitter, when ``[witness]`` lists witnesses."""
    if not settings.witness.witnesses:
        return None
    from expert_draw.adapters.witnessing import Cosigner, WitnessClient

    clients = [WitnessClient.open(settings, w) for w in settings.witness.witnesses]
    counted = metrics
    on_fork = (lambda: None) if counted is None else (
        lambda: counted.check_failed("witness_consistency"))  # fmt: skip
    return Cosigner(audit, clients, settings.witness.timeout_seconds, on_fork)


def start_service(settings: Settings) -> RunningService:
    """Check the configuration, load the editions and start every server.

    Raises:
        Error: a configuration problem or an out-of-date schema, with a clear message.
    """
    # The server's dependencies load here, so that offline commands never import them.
    from expert_draw.adapters.audit import AuditLog, AuditReader
    from expert_draw.adapters.db import migrate
    from expert_draw.adapters.db.editions import SqlEditionRegistry
    from expert_draw.adapters.db.engine import make_engine
    from expert_draw.adapters.editions import read_configured_editions
    from expert_draw.adapters.experts import ExpertLibrary
    from expert_draw.adapters.grpc.audit_servicer import AuditServicer
    from expert_draw.adapters.grpc.auth import Authenticator
    from expert_draw.adapters.grpc.draw_servicer import DrawServicer
    from expert_draw.adapters.grpc.expert_servicer import ExpertServicer
    from expert_draw.adapters.grpc.server import (
        ServiceDeps,
        build_health_server,
        build_insecure_server,
        build_server,
        new_health_servicer,
    )
    from expert_draw.adapters.metrics import MetricsServer
    from expert_draw.adapters.protection import FieldCipher, load_data_keys
    from expert_draw.app.classification import ClassificationCatalog, register_editions

    settings.check_files()
    metrics, interceptors = _instrumentation(settings)
    engine = make_engine(
        settings.database_url, base_dir=settings.config_dir,
        connections=settings.grpc.max_workers + 4,
    )  # fmt: skip
    try:
        migrate.require_head(engine)
        audit = AuditLog.from_settings(settings, engine, _now_ms)
        audit.initialize()
        problems = _check_audit(settings, audit, metrics)
        editions = register_editions(
            SqlEditionRegistry(engine, _now_ms, audit),
            read_configured_editions(settings),
            settings.classification.current_edition,
        )
        for edition in editions:
            _log.info(
                "edition.loaded",
                edition=edition.edition_id,
                table_sha256=edition.result.digest,
                disciplines=len(edition.edition),
                defects=len(edition.result.defects),
                current=edition.current,
            )
        health_servicer = new_health_servicer()
        catalog = ClassificationCatalog(editions)
        cipher = FieldCipher(load_data_keys(settings.path(settings.library.data_keys)))
        library = ExpertLibrary(engine, audit, cipher, catalog, clock_ms=_now_ms)
        draws = _draws(settings, library, cipher, editions, writable=not problems)
        draw_servicer = (
            None if draws is None else DrawServicer(draws, audit.who, lambda: draws.edition, cipher)
        )
        stats_servicer = None if draws is None else _stats(settings, audit, cipher)
        deps = ServiceDeps(
            catalog,
            AuditServicer(AuditReader(audit), audit.vkey, audit.store.origin),
            ExpertServicer(library, audit.who),
            Authenticator(settings),
            health_servicer,
            draw_servicer,
            stats_servicer,
            interceptors,
        )
        server, port = build_server(settings, deps)
        running = RunningService(
            settings, engine, audit, health_servicer, server, port, draws=draws,
            metrics=metrics, cosigner=_cosigner(settings, audit, metrics),
        )  # fmt: skip
        if settings.insecure is not None:
            insecure, running.insecure_port = build_insecure_server(settings, deps)
            running.extra_servers.append(insecure)
            _log.warning(
                "insecure.port", listen=settings.insecure.listen, role=settings.insecure.role
            )
        if settings.health_listen is not None:
            health_server, running.health_port = build_health_server(
                settings.health_listen, health_servicer
            )
            running.extra_servers.append(health_server)
        if metrics is not None and settings.metrics.listen is not None:
            # Last: nothing after it can fail and leave its thread serving.
            running.metrics_server = MetricsServer(settings.metrics.listen, metrics.registry)
    except BaseException:
        engine.dispose()
        raise
    for each in (server, *running.extra_servers):
        each.start()
    _settle(running, engine)
    _log.info(
        "serving",
        port=port,
        health_port=running.health_port,
        metrics_port=running.metrics_port,
        database=engine.dialect.name,
        audit_origin=audit.store.origin,
        writes_refused=bool(problems),
    )
    return running


def _check_audit(settings: Settings, audit: AuditLog, metrics: ServiceMetrics | None) -> list[str]:
    """Count the log's appends from now on, run its self-check, count a failed one."""
    if metrics is not None:
        audit.observe(metrics.observe_append)
    problems = audit.self_check(settings.audit.self_check_entries)
    if problems and metrics is not None:
        metrics.check_failed("audit_self_check")
    return problems


def _instrumentation(
    settings: Settings,
) -> tuple[ServiceMetrics | None, tuple[grpc.ServerInterceptor, ...]]:
    """The metrics (when [metrics] listen is set) and the interceptors outside the call's.

    Raises:
        ConfigurationError: ``metrics.opentelemetry`` without the ``otel`` extra.
    """
    from expert_draw import __version__
    from expert_draw.adapters.metrics import ServiceMetrics, opentelemetry_interceptor

    metrics = None if settings.metrics.listen is None else ServiceMetrics(__version__)
    interceptors: list[grpc.ServerInterceptor] = []
    if metrics is not None:  # outermost: it records the status the client receives
        interceptors.append(metrics.interceptor())
    if settings.metrics.opentelemetry:
        interceptors.append(opentelemetry_interceptor())
    return metrics, tuple(interceptors)


def _stats(settings: Settings, audit: AuditLog, cipher: FieldCipher) -> StatsServicer:
    """Fairness analytics (with the configured thresholds) and replay openings."""
    from expert_draw.adapters.fairness_report import render_html
    from expert_draw.adapters.grpc.stats_servicer import StatsServicer
    from expert_draw.adapters.openings import ReplayOpenings
    from expert_draw.adapters.stats import FairnessRuns, read_fairness_policy

    assert settings.draws is not None  # noqa: S101 - only called with [draws]
    path = settings.draws.fairness_policy
    policy = read_fairness_policy(None if path is None else settings.path(path))
    runs = FairnessRuns(audit.engine, audit, cipher, policy, render_html)
    openings = ReplayOpenings(audit.engine, audit, cipher)
    return StatsServicer(runs, audit.who, _now_ms, openings)


def _draws(
    settings: Settings,
    library: ExpertLibrary,
    cipher: FieldCipher,
    editions: Sequence[LoadedEdition],
    *,
    writable: bool,
) -> Draws | None:
    """The draws, when [draws] is configured; their keys and policy put in force."""
    from expert_draw.adapters.draw_setup import load_draw_config, put_in_force
    from expert_draw.adapters.draws import Draws

    if settings.draws is None:
        return None
    current = next(e for e in editions if e.current)
    config = load_draw_config(
        settings, settings.draws, edition=current.edition_id,
        edition_digest=current.result.digest,
    )  # fmt: skip
    engine, audit = library.engine, library.audit_log
    if writable:
        put_in_force(engine, audit, policy=config.policy, escrow_keys=list(config.escrow_keys))
    return Draws(engine, audit, library, cipher, lambda: config)


def serve(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            envvar="EXPERT_DRAW_CONFIG",
            help="Service settings (TOML); EXPERT_DRAW_* environment variables override it.",
        ),
    ] = None,
) -> None:
    """Run the gRPC service until SIGTERM or SIGINT, then shut down gracefully."""
    configure_logging()
    try:
        settings = load_settings(config)
        configure_logging(settings.log.level, settings.log.format)
        running = start_service(settings)
    except Error as exc:
        _log.error("startup.failed", reason=exc.reason, error=exc.message)
        typer.echo(f"expert-draw: cannot start: {exc.message}", err=True)
        raise typer.Exit(4) from None
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        _log.info("signal", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    stop.wait()
    running.stop()
