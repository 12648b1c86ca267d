# syntax=docker/dockerfile:1.7
# One image per component, each with only what it runs (docs/decisions/0042-images-and-ci.md):
#   docker buildx build --target auth .      (also: trade, sync, marketdata, analytics, notifications, gateway, web)
# .github/workflows/images.yml builds every target for linux/amd64 and linux/arm64, with an SBOM and a
# cosign signature, and pushes ghcr.io/trademesh/trademesh-<target>.
#
# The service images hold a virtualenv with the trademesh-services wheel and its dependencies (no source tree, no
# PYTHONPATH); numpy only in analytics. ENTRYPOINT ["python", "-m"]: the command is the module, the same
# one `make up` runs (CMD is the service; the chart passes it, and the jobs theirs, as args). The gateway
# image is Envoy plus the Python standard library for its preStop drain hook, without trademesh's code.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG ENVOY_IMAGE=envoyproxy/envoy:v1.40.0
ARG NODE_IMAGE=node:22-bookworm-slim
ARG WEB_IMAGE=nginxinc/nginx-unprivileged:1.27-alpine

# -- wheels: the repository's distributions and every third-party dependency, for the target platform ----
FROM ${PYTHON_IMAGE} AS wheels
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY kernel ./kernel
COPY clients/python-api ./clients/python-api
COPY services ./services
# Our distributions are named by path, so the resolver takes them from here, never from an index; the
# development distribution (the repository root: devstack, test tools) is not built.
RUN pip wheel --wheel-dir /wheels ./kernel ./clients/python-api "./services[analytics]"

# -- what every Python image shares: the non-root user and an empty virtualenv ---------------------------
FROM ${PYTHON_IMAGE} AS python-base
ENV PATH=/opt/trademesh/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --gid 10001 trademesh \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin trademesh \
 && python -m venv --without-pip /opt/trademesh

# -- auth, trade, sync, market data: the wheel without optional dependencies ---------------------------
FROM python-base AS service
# Installed from the wheels stage only (--no-index): nothing is fetched here. Byte-compiled now, because
# the root filesystem is read-only at run time.
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    /usr/local/bin/pip --python /opt/trademesh/bin/python install --no-index --find-links /wheels trademesh-services \
 && python -m compileall -q /opt/trademesh \
 && python -c "import trademesh.services.auth.server, trademesh.services.trade.server, trademesh.services.sync.server, trademesh.services.marketdata.server"
USER 10001:10001
EXPOSE 50051
ENTRYPOINT ["python", "-m"]

FROM service AS auth
EXPOSE 8081
CMD ["trademesh.services.auth"]

FROM service AS trade
CMD ["trademesh.services.trade"]

FROM service AS sync
CMD ["trademesh.services.sync"]

FROM service AS marketdata
CMD ["trademesh.services.marketdata"]

FROM service AS notifications
CMD ["trademesh.services.notifications"]

# -- analytics: the wheel with numpy (the columnar round-trip matcher) -----------------------------------
FROM python-base AS analytics
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    /usr/local/bin/pip --python /opt/trademesh/bin/python install --no-index --find-links /wheels "trademesh-services[analytics]" \
 && python -m compileall -q /opt/trademesh \
 && python -c "import trademesh.services.analytics.server, trademesh.services.analytics.recompute"
USER 10001:10001
EXPOSE 50051
ENTRYPOINT ["python", "-m"]
CMD ["trademesh.services.analytics"]

# -- gateway: the official Envoy binary (multi-arch) on the same slim base -------------------------------
FROM ${ENVOY_IMAGE} AS envoy

FROM ${PYTHON_IMAGE} AS gateway
COPY --from=envoy /usr/local/bin/envoy /usr/local/bin/envoy
RUN groupadd --gid 10001 trademesh \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin trademesh \
 && envoy --version
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["envoy"]
CMD ["--config-path", "/etc/envoy/envoy.yaml"]

# -- the browser client: static build --------------------------------------------------------------------
FROM ${NODE_IMAGE} AS web-build
WORKDIR /build/clients/typescript
COPY clients/typescript ./
RUN npm ci --no-audit --no-fund
WORKDIR /build/clients/web
COPY clients/web ./
RUN npm ci --no-audit --no-fund && npm run build

FROM ${WEB_IMAGE} AS web
COPY --from=web-build /build/clients/web/dist /usr/share/nginx/html
EXPOSE 8080
