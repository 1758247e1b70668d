# syntax=docker/dockerfile:1
# expert-draw service image: multi-stage, slim, non-root. Build: docker build -t expert-draw .
# (The CI machines have no Docker engine; the image is linted, and built by operators.)

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY classification ./classification
COPY audit_log ./audit_log
COPY expert_draw ./expert_draw
COPY cli ./cli
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --home-dir /var/lib/expert-draw --create-home expert-draw
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER expert-draw
WORKDIR /var/lib/expert-draw
ENV GRPC_VERBOSITY=ERROR \
    EXPERT_DRAW_LOG__FORMAT=json \
    EXPERT_DRAW_LISTEN=0.0.0.0:50051 \
    EXPERT_DRAW_HEALTH_LISTEN=127.0.0.1:50052
VOLUME ["/var/lib/expert-draw", "/etc/expert-draw", "/srv/editions"]
EXPOSE 50051
ENTRYPOINT ["expert-draw"]
CMD ["serve", "--config", "/etc/expert-draw/expert-draw.toml"]
