# syntax=docker/dockerfile:1
# One image for every service binary; the Kubernetes manifests pick one with `command`
# (deploy/k8s). deploy/k8s/check-image.py checks that the binaries named here are exactly the
# workspace's service binaries (cargo metadata), so this file cannot drift silently.
#
#   docker build -t registry.example.invalid/order-payment-pipeline:0.1.0 .

# Builder: the official Rust image on Debian 12 (bookworm), pinned (workspace rust-version 1.88).
FROM docker.io/library/rust:1.95.0-bookworm AS builder
# rdkafka (features tokio, ssl; rdkafka-sys builds librdkafka from source): a C toolchain and
# make (in the image), cmake, pkg-config, OpenSSL headers (ssl: SASL_SSL/SCRAM), zlib headers
# (rdkafka-sys' default `libz`). postgres-openssl links the same OpenSSL.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake pkg-config libssl-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --workspace --bins \
 && mkdir -p /out /runtime-lib \
 && for bin in order-producer payment-processor dlq-handler cdc-relay payment-gateway-sim; do \
        cp "target/release/$bin" /out/; \
    done \
 && cp -P /usr/lib/"$(gcc -print-multiarch)"/libz.so.1* /runtime-lib/

# Runtime: distroless cc (glibc, libgcc, libssl3/libcrypto3, CA certificates), non-root, no
# shell. `ldd target/debug/cdc-relay` lists libssl.so.3, libcrypto.so.3, libz.so.1, libgcc_s,
# libm, libc. zlib is copied from the builder (same Debian 12 package) because reports differ on
# whether the distroless cc image ships it; copying the identical file is harmless if it does.
# It goes to /usr/lib, on the dynamic linker's default path for every architecture.
# No HEALTHCHECK: Kubernetes ignores it; the Deployments probe /healthz and /readyz.
# checkov:skip=CKV_DOCKER_2:Kubernetes does not run Docker HEALTHCHECKs; every Deployment has liveness, readiness and startup probes on /healthz and /readyz
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /runtime-lib/ /usr/lib/
COPY --from=builder /out/order-producer /out/payment-processor /out/dlq-handler /out/cdc-relay /out/payment-gateway-sim /usr/local/bin/
USER 65532:65532
# No default binary on purpose: every Deployment sets `command: ["/usr/local/bin/<service>"]`.
ENTRYPOINT []
