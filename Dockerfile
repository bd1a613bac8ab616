# syntax=docker/dockerfile:1

# Build: the toolchain pinned in rust-toolchain.toml, dependencies from Cargo.lock.
FROM rust:1.95.0-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rust-toolchain.toml ./
COPY src ./src
# A workspace member (the benchmark harness) and the bench target Cargo.toml declares:
# cargo refuses a manifest naming targets whose files are missing.
COPY bench/hookbench ./bench/hookbench
COPY benches ./benches
RUN cargo build --release --locked --bin hookgate \
 && strip target/release/hookgate

# Run: a slim image with the binary, the default config and an unprivileged user.
# TLS roots are compiled into the binary (webpki-roots), so no ca-certificates needed.
FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 hookgate \
 && useradd --system --uid 10001 --gid hookgate --no-create-home --shell /usr/sbin/nologin hookgate \
 && mkdir -p /etc/hookgate /var/lib/hookgate \
 && chown hookgate:hookgate /var/lib/hookgate
COPY --from=build /src/target/release/hookgate /usr/local/bin/hookgate
# Mount your own config over this file (or set HOOKGATE_CONFIG to another path).
COPY config/hookgate.yaml /etc/hookgate/hookgate.yaml
ENV HOOKGATE_CONFIG=/etc/hookgate/hookgate.yaml \
    HOOKGATE_LOG_FORMAT=json
USER hookgate:hookgate
WORKDIR /var/lib/hookgate
EXPOSE 8080
# SIGTERM (docker stop) drains in-flight requests within shutdown_grace.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/hookgate"]
CMD ["serve"]
