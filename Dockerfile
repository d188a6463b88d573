# One image for every process of the service; the command picks the role (docs/image.md).
#
# The base is a build argument: python:3.11-slim by default; where no image registry is
# reachable, a Python 3.11 base built from Debian's packages (`python -m devstack.image build`).
# Both stages use it, so the virtualenv's interpreter is the runtime's own.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ARG UV_VERSION=0.13.8
# The CA bundle of the machine that builds (mounted over the base's where a proxy re-signs
# TLS); uv reads it through SSL_CERT_FILE.
ENV PYTHONDONTWRITEBYTECODE=1 UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install --no-cache-dir --quiet uv==${UV_VERSION}
WORKDIR /app
# Dependencies first, in their own layer: a change to the code alone reuses it.
COPY pyproject.toml uv.lock ./
RUN /opt/uv/bin/uv sync --frozen --no-dev --no-install-project --no-cache
# Only what the processes import or read (.dockerignore keeps the rest out of the context).
COPY activities activities
COPY api api
COPY clients clients
COPY config config
COPY consumers consumers
COPY gateways gateways
COPY messages messages
COPY models models
COPY outbox outbox
COPY persistence persistence
COPY provider provider
COPY telemetry telemetry
COPY workers workers
COPY workflows workflows
COPY schemas/events schemas/events
COPY alembic.ini alembic.ini
# The deployment's own tools (bootstrap, re-publish, dead-letter re-drive, the simulated
# provider's outage switch); .dockerignore leaves out the ones for development.
COPY tools tools
RUN python3 -m compileall -q /app

FROM ${BASE_IMAGE} AS runtime
# ORDERS_ENVIRONMENT is empty on purpose: the settings refuse to start until a deployment
# names its environment, so the image never falls back to dev's public secrets.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH \
    ORDERS_ENVIRONMENT=""
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
# A numeric user, so Kubernetes' runAsNonRoot can check it without /etc/passwd. The root
# filesystem can be read-only: /tmp and the provider's ledger folder are the writable paths
# (tmpfs or emptyDir), the folder's ownership is for an engine that copies it into a volume.
RUN install -d -o 10001 -g 10001 /var/lib/payment-provider
USER 10001:10001
EXPOSE 8000
CMD ["python", "-m", "api"]
