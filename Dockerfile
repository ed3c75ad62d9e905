# The operator's images, for those who build with Docker. `make images` builds
# the same images without a Docker daemon; tests/images checks that this file
# gives them the same user, entrypoint, environment, labels and root files.
#
#   docker build --target installer --build-arg VERSION=v1.2.3 \
#     --build-arg REVISION=$(git rev-parse HEAD) --build-arg CREATED=$(git log -1 --format=%cI) \
#     -t ghcr.io/fluxops/flux-operator-installer:v1.2.3 .
#
# Targets: installer, reporter, exporter, web. Add --platform linux/arm64 (or
# buildx with both platforms) for arm64; the binaries are cross-compiled.

ARG GO_IMAGE=golang:1.27

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
ARG TARGETOS=linux
ARG TARGETARCH
ARG VERSION=dev
ENV GOTOOLCHAIN=go1.27.3 CGO_ENABLED=0
WORKDIR /src
COPY . .
# passwd, group and the CA roots, as build-images writes them into its layer.
RUN cd tools/image && GOWORK=off go run . rootfs -out /rootfs
RUN for b in $(cat hack/binaries); do \
      (cd "${b%%/*}" && GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
        -ldflags "-s -w -X github.com/fluxops/flux-operator/internal/bootstrap.version=${VERSION}" \
        -o "/out/${b##*/}" "./cmd/${b##*/}") || exit 1; \
    done

FROM scratch AS base
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
COPY --from=build /rootfs/ /
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /
USER 65532:65532
LABEL org.opencontainers.image.source="https://github.com/fluxops/flux-operator" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0"

FROM base AS installer
COPY --from=build /out/flux-operator-installer /flux-operator-installer
LABEL org.opencontainers.image.title="flux-operator-installer" \
      org.opencontainers.image.description="Installs, upgrades and removes Flux from a FluxInstance."
ENTRYPOINT ["/flux-operator-installer"]

FROM base AS reporter
COPY --from=build /out/flux-operator-reporter /flux-operator-reporter
LABEL org.opencontainers.image.title="flux-operator-reporter" \
      org.opencontainers.image.description="Reports on the Flux installation in the FluxReport."
ENTRYPOINT ["/flux-operator-reporter"]

FROM base AS exporter
COPY --from=build /out/flux-operator-exporter /flux-operator-exporter
LABEL org.opencontainers.image.title="flux-operator-exporter" \
      org.opencontainers.image.description="Exports Prometheus metrics of the Flux installation."
ENTRYPOINT ["/flux-operator-exporter"]

FROM base AS web
COPY --from=build /out/flux-operator-web /flux-operator-web
LABEL org.opencontainers.image.title="flux-operator-web" \
      org.opencontainers.image.description="Serves the Flux status web UI."
ENTRYPOINT ["/flux-operator-web"]
