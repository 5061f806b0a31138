#!/usr/bin/env bash
# Backup and restore throughput on the shared benchmark dataset.
#   bench/run.sh [small|medium]   (default small; data is cached in $TMPDIR)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-small}
data=${TMPDIR:-/tmp}/cairn-bench-$profile
if [ ! -d "$data" ]; then
  bash ../shared/bench/make-dataset.sh "$data.tmp" "$profile" && mv "$data.tmp" "$data"
fi
CAIRN_BENCH_DATA=$data go test -run '^$' -bench 'BenchmarkBackup|BenchmarkBackupEncrypted|BenchmarkRestore|BenchmarkPipeline' -benchtime 3x ./core/backup
