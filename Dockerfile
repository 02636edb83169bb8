# zbus node image. Build: docker build -t zbus:0.2.0 .   Run a mesh: docker compose up (compose.yaml)
# Configuration: ZBUS_<SECTION>__<KEY> variables (docs/API_REFERENCE.md), or a TOML file named by
# ZBUS_CONFIG. docs/DEPLOYMENT_GUIDE.md ("Containers") says what each setting below is for.

FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
# zbus and its dependencies as wheels, so the image installs without a compiler or network
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/zbus --shell /usr/sbin/nologin zbus \
    && mkdir -p /var/lib/zbus/journal \
    && chown -R 10001:10001 /var/lib/zbus
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/*.whl && rm -rf /wheels
COPY deploy/docker/entrypoint.sh /usr/local/bin/zbus-entrypoint

# static scope on all interfaces with fixed ports (containers get no multicast); peers come from
# ZBUS_DISCOVERY__PEERS or ZBUS_DISCOVERY__PEERS_FILE; journal in the volume; JSON logs;
# /health, /metrics and the dashboard on 8081
ENV ZBUS_DISCOVERY__SCOPE=static \
    ZBUS_TRANSPORT__HOST=0.0.0.0 \
    ZBUS_TRANSPORT__ROUTER_PORT=7001 \
    ZBUS_TRANSPORT__PUB_PORT=7002 \
    ZBUS_PERSISTENCE__ENABLED=true \
    ZBUS_PERSISTENCE__PATH=/var/lib/zbus/journal \
    ZBUS_MONITORING__HTTP__ENABLED=true \
    ZBUS_MONITORING__HTTP__HOST=0.0.0.0 \
    ZBUS_MONITORING__HTTP__PORT=8081 \
    ZBUS_LOGGING__FORMAT=json \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/zbus"]
EXPOSE 7001 7002 8081
USER 10001:10001
WORKDIR /var/lib/zbus
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 CMD ["zbus", "health", "--timeout", "3"]
ENTRYPOINT ["zbus-entrypoint"]
CMD ["node", "start"]
