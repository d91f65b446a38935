#!/usr/bin/env bash
# release.sh [OUT]: static nanoedge binaries for Linux (ARCHES, default
# "amd64 arm64") into OUT (default dist/), with SHA256SUMS. The build is
# reproducible: the same commit gives the same bytes on any machine and
# path (no paths, build ids or VCS state in the binary; the version comes
# from VERSION).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist}
version=$(tr -d '[:space:]' < VERSION)
mkdir -p "$out"
rm -f "$out"/nanoedge-* "$out"/SHA256SUMS
for arch in ${ARCHES:-amd64 arm64}; do
  CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go build -trimpath -buildvcs=false \
    -ldflags="-s -w -buildid= -X github.com/nanoedge/nanoedge/server.release=v$version" \
    -o "$out/nanoedge-$version-linux-$arch" ./cmd/nanoedge
done
(cd "$out" && sha256sum nanoedge-* > SHA256SUMS && cat SHA256SUMS)
