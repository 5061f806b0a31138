#!/usr/bin/env bash
# Side-by-side cairn vs restic on the shared medium dataset, both encrypted,
# both to a local repository. Prints a table of medians and cairn/restic
# ratios. Not a test: the machine is shared and noisy, so runs alternate
# (cairn restic cairn restic …) and medians are reported.
#   bench/compare.sh [ROUNDS]      (default 2; WORK=/path overrides the scratch dir)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
WORK=${WORK:-${TMPDIR:-/tmp}/cairn-compare}
mkdir -p "$WORK"
need=()
command -v restic >/dev/null || need+=(restic)
command -v python3 >/dev/null || need+=(python3)
command -v bc >/dev/null || need+=(bc)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
echo "building cairn…" >&2
go build -o "$WORK/cairn" .
C=$WORK/cairn
BASE=$WORK/base
if [ ! -d "$BASE" ]; then
  echo "making the medium dataset…" >&2
  bash ../shared/bench/make-dataset.sh "$BASE.tmp" medium >/dev/null && mv "$BASE.tmp" "$BASE"
fi
# cairn's options: metadata change detection (what restic's parent snapshot
# does) and 1 MiB average chunks, restic's chunk size; without --chunk-size
# cairn uses upstream's 4 MiB default, which dedups small changes less well.
CAIRN_OPTS=${CAIRN_OPTS:---change-detection-mode metadata --chunk-size 1024}
SRC=$WORK/src   # same path every run, so change detection sees the previous snapshot
RES=$WORK/results.tsv
: >"$RES"
export RESTIC_PASSWORD=compare-pw PBS_ENCRYPTION_PASSWORD=compare-pw

# timed TOOL STEP CMD…: appends "tool step wall user+sys maxrss_kb" to the results
timed() {
  local tool=$1 step=$2; shift 2
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/time.out" "$@" >/dev/null 2>"$WORK/err.out" || { cat "$WORK/err.out" >&2; return 1; }
  read -r wall user sys rss <"$WORK/time.out"
  echo -e "$tool\t$step\t$wall\t$(echo "$user + $sys" | bc)\t$rss" >>"$RES"
}

# filebytes DIR: bytes in regular files (du -b would count directory entries,
# of a datastore's chunk directories among others, as data)
filebytes() { find "$1" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}'; }

run_cairn() {
  local repo=$WORK/cairn-repo out=$WORK/cairn-restore
  rm -rf "$repo" "$out" "$SRC" "$WORK/cairn.key"; cp -a "$BASE" "$SRC"; sync
  "$C" key create "$WORK/cairn.key" --kdf none >/dev/null 2>&1
  # the datastore is created before timing (chunk directories come on demand)
  "$C" namespace create warmup --repository "$repo" >/dev/null 2>&1; sync
  timed cairn full "$C" backup data.pxar:"$SRC" --repository "$repo" --keyfile "$WORK/cairn.key" --backup-id bench $CAIRN_OPTS
  timed cairn unchanged "$C" backup data.pxar:"$SRC" --repository "$repo" --keyfile "$WORK/cairn.key" --backup-id bench $CAIRN_OPTS
  bash ../shared/bench/make-dataset.sh "$SRC" mutate >/dev/null; sync
  timed cairn mutated "$C" backup data.pxar:"$SRC" --repository "$repo" --keyfile "$WORK/cairn.key" --backup-id bench $CAIRN_OPTS
  timed cairn restore "$C" restore host/bench data.pxar "$out" --repository "$repo" --keyfile "$WORK/cairn.key"
  echo -e "cairn\tsize\t$(filebytes "$repo")\t0\t0" >>"$RES"
}

run_restic() {
  local repo=$WORK/restic-repo out=$WORK/restic-restore
  rm -rf "$repo" "$out" "$SRC"; cp -a "$BASE" "$SRC"; sync
  restic init --repo "$repo" >/dev/null; sync
  timed restic full restic backup --repo "$repo" "$SRC"
  timed restic unchanged restic backup --repo "$repo" "$SRC"
  bash ../shared/bench/make-dataset.sh "$SRC" mutate >/dev/null; sync
  timed restic mutated restic backup --repo "$repo" "$SRC"
  timed restic restore restic restore latest --repo "$repo" --target "$out"
  echo -e "restic\tsize\t$(filebytes "$repo")\t0\t0" >>"$RES"
}

for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS: cairn" >&2; run_cairn
  echo "round $r/$ROUNDS: restic" >&2; run_restic
done
DATA_BYTES=$(du -sb "$BASE" | cut -f1)
python3 - "$RES" "$DATA_BYTES" "$CAIRN_OPTS" <<'PY'
import sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    tool, step, wall, cpu, rss = line.split("\t")
    rows[(tool, step)].append((float(wall), float(cpu), int(rss)))
data = int(sys.argv[2])
med = lambda xs: statistics.median(xs)
print(f"dataset: {data/2**20:.0f} MiB, runs per figure: {len(rows[('cairn','full')])}, cairn options: {sys.argv[3]}")
print(f"{'measure':<28}{'cairn':>14}{'restic':>14}{'cairn/restic':>14}{'target':>10}")
def line(name, c, r, target, fmt="{:.2f}"):
    ratio = c / r if r else float('nan')
    print(f"{name:<28}{fmt.format(c):>14}{fmt.format(r):>14}{ratio:>14.2f}{target:>10}")
for step, target in (("full", "tput>=2.0"), ("unchanged", "<=0.5"), ("mutated", "<=0.7"), ("restore", "tput>=1.5")):
    c = med([x[0] for x in rows[("cairn", step)]]); r = med([x[0] for x in rows[("restic", step)]])
    line(f"{step} wall s", c, r, target)
    if step in ("full", "restore"):
        print(f"{'  ' + step + ' MB/s':<28}{data/c/1e6:>14.1f}{data/r/1e6:>14.1f}{(data/c)/(data/r):>14.2f}")
    cc = med([x[1] for x in rows[("cairn", step)]]); rc = med([x[1] for x in rows[("restic", step)]])
    line(f"  {step} cpu s", cc, rc, "")
rss_c = max(x[2] for s in ("full","unchanged","mutated") for x in rows[("cairn", s)])
rss_r = max(x[2] for s in ("full","unchanged","mutated") for x in rows[("restic", s)])
line("peak RSS backup MiB", rss_c/1024, rss_r/1024, "<=1.0", "{:.0f}")
sc = med([x[0] for x in rows[("cairn","size")]]); sr = med([x[0] for x in rows[("restic","size")]])
line("repository MiB", sc/2**20, sr/2**20, "<=1.05", "{:.0f}")
PY
