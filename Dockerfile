# syntax=docker/dockerfile:1
# seer: one binary with subcommands (seer ingest | engine | gateway | up ...).
# Unverified until someone builds it: no Docker engine runs where this was written. CI lints it
# with hadolint. Build: docker build -t seer:0.1.0 .

# the rust image carries gcc, make and OpenSSL's headers, which librdkafka's vendored build needs
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release -p seer --locked \
    && cp target/release/seer /usr/local/bin/seer

FROM debian:bookworm-slim
# libssl3: librdkafka's TLS (Kafka over SSL / SASL_SSL). libvulkan1: the Vulkan loader wgpu
# opens. mesa-vulkan-drivers: the software adapter (lavapipe), only for SEER_ADAPTER=software (CPU
# nodes run the native CPU backend, which needs no driver). On GPU nodes the
# NVIDIA container toolkit mounts the driver and its Vulkan ICD when NVIDIA_DRIVER_CAPABILITIES
# includes "graphics" (compute,utility alone gives CUDA only).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libvulkan1 mesa-vulkan-drivers libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin seer
# (DL3008, versions unpinned: bookworm's security updates replace pinned versions, which would
# break the build; the base image tag pins the release)
COPY --from=builder /usr/local/bin/seer /usr/local/bin/seer
ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics \
    NVIDIA_VISIBLE_DEVICES=all \
    XDG_RUNTIME_DIR=/tmp \
    HOME=/tmp \
    MESA_SHADER_CACHE_DIR=/tmp/mesa-shader-cache
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/seer"]
CMD ["--help"]
