# Multi-stage build: a static rummage binary on a small base, run as a non-root
# user. The same image serves every role (serve, cdc, indexer, ...).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/rummage ./cmd/rummage

FROM alpine:3.20
# wget is used by the compose health checks.
RUN adduser -D -H -u 10001 rummage && mkdir -p /data && chown rummage /data
COPY --from=build /out/rummage /usr/local/bin/rummage
USER rummage
WORKDIR /data
EXPOSE 8080
ENTRYPOINT ["rummage"]
# A demo: reads need no key (--public-reads); keys in /data/keys.json (rummage keys create).
CMD ["serve", "--addr", ":8080", "--index-dir", "/data/index", "--keys-file", "/data/keys.json", "--public-reads"]
