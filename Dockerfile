# Image of the onboarding service. One image, three roles, chosen by the command:
#   onboarding api      (default: FastAPI under uvicorn, port 8000)
#   onboarding worker   (Temporal worker)
#   onboarding migrate  (applies the SQL migrations, then exits)
#
# Build: docker build -t onboarding .
# Needs BuildKit (the default builder since Docker 23) for the cache mounts below.
#
# The lock pins pgserver (the embedded dev stack's carry-over from PostgreSQL 16), which has
# wheels for linux/amd64 only and no sdist: build this image for linux/amd64
# (docker-compose.yml does so); on an arm64 host it runs under emulation.

FROM python:3.11-slim

# uv: use the image's own interpreter, never download one; put the venv at a fixed
# path; copy rather than hard-link from the cache mount (it lives on another
# filesystem); compile bytecode at build time since the app user cannot write it later.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1

RUN pip install uv==0.13.8

# Unprivileged runtime user (switched to at the end). The code and the venv stay owned
# by root, so the running service cannot modify them.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app \
        --shell /usr/sbin/nologin app

WORKDIR /app

# Dependencies first, from the lock alone: this layer is rebuilt only when
# pyproject.toml or uv.lock change, not on every source edit.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project

# Then the project itself. README.md is needed because pyproject declares it as the
# readme, and hatchling refuses to build without it. tests/ and bench/ stay out.
COPY README.md ./
COPY core ./core
COPY domain ./domain
COPY store ./store
COPY activities ./activities
COPY workflows ./workflows
COPY worker ./worker
COPY api ./api
COPY email_templates ./email_templates
COPY cli ./cli
COPY devstack ./devstack
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev

USER app

# Inside a container the API has to listen on all interfaces (settings default to
# 127.0.0.1, which is right for `make dev` only).
ENV PATH="/app/.venv/bin:${PATH}" \
    VIRTUAL_ENV=/app/.venv \
    ONBOARDING_API_HOST=0.0.0.0 \
    ONBOARDING_API_PORT=8000

EXPOSE 8000

CMD ["onboarding", "api"]
