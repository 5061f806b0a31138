#!/usr/bin/env bash
# Builds a MinIO server binary once (for cairn's S3 datastore tests) and
# prints its path on stdout. Idempotent: an existing binary is reused.
#
# The build runs outside the repository (cd /tmp) with GOFLAGS=-mod=mod so
# it never touches cairn's go.mod/go.sum. The first build takes 2-3 minutes.
#
# Usage: CAIRN_MINIO=$(bash .ci/minio.sh) go test ./core/datastore/...
set -euo pipefail

MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
GOBIN_DIR="${MINIO_GOBIN:-$(go env GOPATH)/bin}"
BIN="$GOBIN_DIR/minio"

if [ -x "$BIN" ]; then
	echo "$BIN"
	exit 0
fi

mkdir -p "$GOBIN_DIR"
(
	cd /tmp
	GOBIN="$GOBIN_DIR" GOFLAGS=-mod=mod GO111MODULE=on \
		go install "github.com/minio/minio@${MINIO_VERSION}" 1>&2
)
if [ ! -x "$BIN" ]; then
	echo "minio.sh: build finished but $BIN is missing" >&2
	exit 1
fi
echo "$BIN"
