# syntax=docker/dockerfile:1

# Build: the toolchain pinned in rust-toolchain.toml, dependencies from Cargo.lock.
# The registry and the target directory are cache mounts, so a rebuild after a
# source change compiles hookgate alone, not its ~300 dependencies again.
FROM rust:1.95.0-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rust-toolchain.toml ./
COPY src ./src
# A workspace member (the benchmark harness) and the bench target Cargo.toml declares:
# cargo refuses a manifest naming targets whose files are missing.
COPY bench/hookbench ./bench/hookbench
COPY benches ./benches
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin hookgate \
 && strip target/release/hookgate \
 && cp target/release/hookgate /usr/local/bin/hookgate

# Run: a slim image with the binary, the default config and an unprivileged user.
# TLS roots are compiled into the binary (webpki-roots), so no ca-certificates needed.
FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 hookgate \
 && useradd --system --uid 10001 --gid hookgate --no-create-home --shell /usr/sbin/nologin hookgate \
 && mkdir -p /etc/hookgate /var/lib/hookgate \
 && chown hookgate:hookgate /var/lib/hookgate
COPY --from=build /usr/local/bin/hookgate /usr/local/bin/hookgate
# Mount your own config over this file (or set HOOKGATE_CONFIG to another path).
COPY config/hookgate.yaml /etc/hookgate/hookgate.yaml
# The default config reads its addresses and data directory from these. The admin
# listener (/healthz, /readyz, /metrics, /reload) binds every address so that the
# platform's probes and Prometheus reach it; publish its port only to them. A config
# of your own should read `admin.listen` from HOOKGATE_ADMIN_LISTEN the same way.
ENV HOOKGATE_CONFIG=/etc/hookgate/hookgate.yaml \
    HOOKGATE_LOG_FORMAT=json \
    HOOKGATE_LISTEN=0.0.0.0:8080 \
    HOOKGATE_ADMIN_LISTEN=0.0.0.0:9090 \
    HOOKGATE_DATA=/var/lib/hookgate
USER hookgate:hookgate
WORKDIR /var/lib/hookgate
# The embedded store: acknowledged webhooks live here until delivered, so it must
# outlive the container.
VOLUME ["/var/lib/hookgate"]
EXPOSE 8080 9090
# Alive while the admin listener answers; no curl in the image.
HEALTHCHECK --interval=10s --timeout=6s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/hookgate", "health"]
# SIGTERM (docker stop) drains in-flight requests within shutdown_grace (30 s by
# default): give the stop a longer timeout, e.g. `docker stop -t 40`, or
# `stop_grace_period: 40s` in Compose and `terminationGracePeriodSeconds: 40` in
# Kubernetes, or in-flight requests are cut.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/hookgate"]
CMD ["serve"]
