# syntax=docker/dockerfile:1
# MusicEZ Auth: a uv-built virtual environment from uv.lock, run as a non-root user on a slim base.

ARG PYTHON_IMAGE=python:3.11-slim

# -- build: resolve exactly uv.lock into /app/.venv ---------------------------------------
FROM ${PYTHON_IMAGE} AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project
# Then the project itself, installed as a wheel (no editable link back to /src).
COPY README.md ./
COPY src ./src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

# -- runtime: the venv and nothing else --------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 musicez \
    && useradd --system --uid 10001 --gid musicez --home-dir /app --no-create-home --shell /usr/sbin/nologin musicez \
    && mkdir -p /app/data \
    && chown musicez:musicez /app/data
COPY --from=build /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MUSICEZ_ENV=production \
    MUSICEZ_HOST=0.0.0.0 \
    MUSICEZ_PORT=8000 \
    MUSICEZ_DATA_DIR=/app/data
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# Liveness only: readiness (database and Redis) is /health/ready, for the orchestrator or proxy.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('MUSICEZ_PORT', '8000'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/health/live', timeout=2).status == 200 else 1)"]
# granian finishes in-flight requests on SIGTERM (up to 20 s), then the app closes its pools.
STOPSIGNAL SIGTERM
CMD ["musicez", "serve", "--host", "0.0.0.0"]
