#!/usr/bin/env bash
# Backup and restore throughput on the shared benchmark dataset, and the
# TUI's find on a 1,000,000-path catalog.
#   bench/run.sh [small|medium]   (default small; data is cached in $TMPDIR)
#   bench/run.sh find             (the find benchmark only)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-small}
if [ "$profile" != find ]; then
  data=${TMPDIR:-/tmp}/cairn-bench-$profile
  if [ ! -d "$data" ]; then
    bash ../shared/bench/make-dataset.sh "$data.tmp" "$profile" && mv "$data.tmp" "$data"
  fi
  CAIRN_BENCH_DATA=$data go test -run '^$' -bench 'BenchmarkBackup|BenchmarkBackupEncrypted|BenchmarkRestore|BenchmarkPipeline' -benchtime 3x ./core/backup
fi
# Find in the catalog tree over a synthetic catalog shaped like /usr
# (views/find_bench_test.go): open-ms (the index ready and drawn), the
# p50/p95/max cost of a keystroke as the model's Update + search + View
# (ms/key, queries of 1 to 12 characters typed one key at a time), and the
# live heap with the catalog and its index (heap-MB). Targets: p95 under
# 16 ms, open under 1 s, heap under 300 MB.
go test -run '^$' -bench 'BenchmarkFind1M' -benchtime 3x ./views
