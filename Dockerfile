# The Plexus images, one target each, from one build stage of static
# binaries. Build from the repository root ("make images" builds both):
#   docker build --target plexus-operator --build-arg VERSION=v0.1.0 -t ghcr.io/plexus-mesh/plexus-operator:v0.1.0 .
#   docker build --target plexus-proxy    --build-arg VERSION=v0.1.0 -t ghcr.io/plexus-mesh/plexus-proxy:v0.1.0 .
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
ARG COMMIT=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
    -ldflags "-s -w -X github.com/plexus-mesh/plexus/internal/version.version=$VERSION -X github.com/plexus-mesh/plexus/internal/version.commit=$COMMIT" \
    -o /out/ ./cmd/plexus-operator ./cmd/plexus-proxy

# The operator: the static binary on distroless, as its non-root user.
FROM gcr.io/distroless/static-debian12:nonroot AS plexus-operator
COPY --from=build /out/plexus-operator /plexus-operator
# By number, so that runAsNonRoot can check it.
USER 65532:65532
ENTRYPOINT ["/plexus-operator"]

# The proxy: the sidecar, the east-west gateway and the init container
# (plexus-proxy init). Debian slim rather than distroless only because
# "plexus-proxy init" runs iptables-restore, which distroless images do not
# carry. The sidecar and gateway run as UID 1337; the injector runs only
# the init container as root, with NET_ADMIN and NET_RAW.
FROM debian:12-slim AS plexus-proxy
RUN apt-get update \
    && apt-get install -y --no-install-recommends iptables \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 1337 plexus-proxy \
    && useradd --uid 1337 --gid 1337 --no-create-home --shell /usr/sbin/nologin plexus-proxy
COPY --from=build /out/plexus-proxy /usr/local/bin/plexus-proxy
USER 1337:1337
ENTRYPOINT ["/usr/local/bin/plexus-proxy"]
