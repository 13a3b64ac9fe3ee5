# syntax=docker/dockerfile:1
# das-evidence collector image.
#
#   docker build -t das-evidence:0.1.0 .
#   docker run --rm --read-only --tmpfs /tmp -v /etc/evidence:/etc/evidence:ro das-evidence:0.1.0
#
# Two stages: the builder makes a wheel of this project and a virtualenv with
# exactly the pinned dependencies of requirements.lock; the runtime stage gets
# that virtualenv only (no compiler, no build tools, no source tree). It runs as
# a numeric non-root user and writes nothing outside /tmp, so it works with a
# read-only root file system (mount /tmp as an emptyDir or tmpfs). No secrets or
# configuration are baked in: evidence.toml and keys are mounted at run time
# (docs/OPERATIONS.md). Pin the base image by digest in production:
#   --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:<digest>

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
# Dependencies first (their layer is reused while requirements.lock is unchanged),
# exactly as locked: --no-deps installs nothing that is not in the lock file.
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --no-deps --only-binary=:all: -r requirements.lock
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/venv/bin/pip install --no-deps /wheels/*.whl \
    && /opt/venv/bin/pip check \
    && /opt/venv/bin/pip uninstall --yes pip setuptools

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="das-evidence" \
      org.opencontainers.image.description="Audit-evidence collector for Snowflake and dbt, with a signed append-only archive" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 evidence \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
       --shell /usr/sbin/nologin evidence
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    EVIDENCE_CONFIG=/etc/evidence/evidence.toml
WORKDIR /tmp
USER 10001:10001
ENTRYPOINT ["evidence"]
CMD ["run"]
