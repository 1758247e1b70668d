# syntax=docker/dockerfile:1
# expert-draw service image: multi-stage, slim, non-root. Build: docker build -t expert-draw .
# (The CI machines have no Docker engine: `make lint` runs hadolint on this file, and
# tests/integration/test_image_entrypoint.py runs its ENTRYPOINT, CMD and HEALTHCHECK
# outside a container.) Operator guide: docs/operations.md; compose example:
# docs/deploy/compose.yaml.
#
# Volumes (mount them; the settings file names the files inside):
#   /etc/expert-draw      settings (expert-draw.toml), TLS certificates and keys, the log
#                         signing key, the data keys, the tender key, escrow public keys
#   /var/lib/expert-draw  data: the SQLite database (unused with PostgreSQL)
#   /srv/editions         the discipline-standard edition tables (CSV)
# Before the first start and after every upgrade, migrate the schema with the same image:
#   docker run --rm <volumes> expert-draw db upgrade

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY classification ./classification
COPY audit_log ./audit_log
COPY expert_draw ./expert_draw
COPY cli ./cli
# Wheels of the package and of its runtime dependencies only (no [dev] extras).
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 expert-draw \
    && useradd --system --uid 10001 --gid expert-draw --home-dir /var/lib/expert-draw \
        --create-home --shell /usr/sbin/nologin expert-draw \
    && mkdir -p /etc/expert-draw /srv/editions
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --disable-pip-version-check /wheels/*.whl
USER 10001:10001
WORKDIR /var/lib/expert-draw
# Configuration is by environment (EXPERT_DRAW_*, nested with __), over the settings file
# named by EXPERT_DRAW_CONFIG; these are the values the image relies on.
ENV GRPC_VERBOSITY=ERROR \
    PYTHONUNBUFFERED=1 \
    EXPERT_DRAW_CONFIG=/etc/expert-draw/expert-draw.toml \
    EXPERT_DRAW_DATABASE_URL=sqlite:////var/lib/expert-draw/expert-draw.db \
    EXPERT_DRAW_LISTEN=0.0.0.0:50051 \
    EXPERT_DRAW_HEALTH_LISTEN=127.0.0.1:50052 \
    EXPERT_DRAW_LOG__FORMAT=json
VOLUME ["/var/lib/expert-draw", "/etc/expert-draw", "/srv/editions"]
# 50051: mTLS gRPC. 9464: Prometheus metrics, served only when EXPERT_DRAW_METRICS__LISTEN
# is set (e.g. 0.0.0.0:9464). The otel extra is not installed: build from a derived image.
EXPOSE 50051 9464
# Plaintext grpc.health.v1 Check on the loopback health port (EXPERT_DRAW_HEALTH_LISTEN):
# no client certificate needed; exit 0 only when the server reports SERVING.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["expert-draw", "health", "--timeout", "5"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["expert-draw"]
CMD ["serve", "--config", "/etc/expert-draw/expert-draw.toml"]
