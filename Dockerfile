# mxwatch container image: one static binary on distroless, non-root.
#
#   docker build -t mxwatch:local .            # or: docker compose build
#   docker run --rm mxwatch:local version
#
# The subcommand is the container's command (ENTRYPOINT is mxwatch):
# migrate, sink, capture -i IFACE (needs
# root and NET_RAW/NET_ADMIN; see docker-compose.yml), analyze FILE...

# Build stage: the Go version of go.mod. TARGETOS/TARGETARCH are set by
# BuildKit (docker buildx build --platform ...); empty means the native one.
FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY . .
ARG VERSION=dev
ARG TARGETOS=linux
ARG TARGETARCH
# Static binary: no cgo, no paths of the build machine, no symbol table.
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
RUN GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/usr/local/bin/mxwatch ./cmd/mxwatch \
 && mkdir -p /out/var/lib/mxwatch/spool

# Runtime stage: CA certificates, tzdata and a nonroot user (65532), no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/usr/local/bin/mxwatch /usr/local/bin/mxwatch
# The spool directory belongs to the nonroot user, so a named volume
# mounted there starts out writable by it.
COPY --from=build --chown=65532:65532 /out/var/lib/mxwatch /var/lib/mxwatch
USER 65532:65532
WORKDIR /var/lib/mxwatch
ENTRYPOINT ["/usr/local/bin/mxwatch"]
CMD ["--help"]
