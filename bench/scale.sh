#!/usr/bin/env bash
# How cost grows with the number of files and chunks (issue 15, item 6).
#
#   bench/scale.sh [FILE-COUNTS] [CHUNK-COUNTS]   (defaults: "100000 300000 1000000" for both)
#   WORK=/path   scratch dir (default $TMPDIR/cairn-scale; 1M files of 0-2 KiB take
#                ~5 GiB on tmpfs, the chunk store ~4.5 GiB; each is removed after use)
#   MODES="legacy metadata"   the change-detection modes measured
#   PER_SNAPSHOT=10000         chunks per synthetic snapshot (10,000 x 4 MiB = a 40 GiB backup)
#
# Files: one tree of 1000-file directories (0..2047 random bytes each, seeded),
# grown in place to each count (so every count backs up the same path), then
# for each mode: a full backup into a new path repository and an unchanged
# re-backup, timed with /usr/bin/time (wall, CPU, peak RSS).
# Chunks: a datastore of N small synthetic chunks referenced by N/PER_SNAPSHOT snapshots,
# plus N/10 unreferenced ones two days old (core/datastore TestMakeScaleStore),
# then `cairn verify` and `cairn garbage-collect`, timed the same way.
# Prints TSV rows: what count wall_s cpu_s rss_MiB, then RSS bytes per file.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNTS=${1:-100000 300000 1000000}
CHUNKS=${2:-100000 300000 1000000}
MODES=${MODES:-legacy metadata}
PER_SNAPSHOT=${PER_SNAPSHOT:-10000}
WORK=${WORK:-${TMPDIR:-/tmp}/cairn-scale}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
go build -o "$WORK/cairn" .
C=$WORK/cairn
TREE=$WORK/tree
RES=$WORK/scale.tsv
: >"$RES"
export PBS_ENCRYPTION_PASSWORD=scale-pw
[ -f "$WORK/key" ] || "$C" key create "$WORK/key" --kdf none >/dev/null 2>&1

# grow TO: adds directories until the tree holds TO files (1000 per directory)
grow() {
  python3 - "$TREE" "$1" <<'PY'
import os, random, sys
root, want = sys.argv[1], int(sys.argv[2])
os.makedirs(root, exist_ok=True)
have = len(os.listdir(root))
for d in range(have, want // 1000):
    rng = random.Random(d)
    p = os.path.join(root, f"d{d:04d}")
    os.mkdir(p)
    for f in range(1000):
        with open(os.path.join(p, f"f{f:04d}"), "wb") as fh:
            fh.write(rng.randbytes(rng.randrange(2048)))
        os.utime(os.path.join(p, f"f{f:04d}"), (1700000000 + f, 1700000000 + f))
PY
}

# timed WHAT COUNT CMD…
timed() {
  local what=$1 n=$2; shift 2
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/time.out" "$@" >"$WORK/out.log" 2>"$WORK/err.out" || { tail -5 "$WORK/err.out" >&2; return 1; }
  local wall user sys rss
  read -r wall user sys rss <"$WORK/time.out"
  printf '%s\t%s\t%s\t%s\t%s\n' "$what" "$n" "$wall" "$(echo "$user + $sys" | bc)" "$((rss / 1024))" | tee -a "$RES"
}

printf 'what\tcount\twall_s\tcpu_s\trss_MiB\n'
for n in $COUNTS; do
  echo "growing the tree to $n files…" >&2
  grow "$n"; sync
  for mode in $MODES; do
    repo=$WORK/repo-$mode
    rm -rf "$repo"
    b=("$C" backup data.pxar:"$TREE" --repository "$repo" --keyfile "$WORK/key" --backup-id scale --change-detection-mode "$mode")
    timed "backup-full-$mode" "$n" "${b[@]}"
    timed "backup-unchanged-$mode" "$n" "${b[@]}"
    rm -rf "$repo"
  done
done
rm -rf "$TREE"

for n in $CHUNKS; do
  [ "$n" -gt 0 ] || continue
  store=$WORK/store
  rm -rf "$store"
  echo "making a datastore of $n synthetic chunks…" >&2
  CAIRN_SCALE_STORE=$store CAIRN_SCALE_CHUNKS=$n CAIRN_SCALE_PER_SNAPSHOT=$PER_SNAPSHOT go test -count=1 -timeout 60m -run '^TestMakeScaleStore$' ./core/datastore >/dev/null
  sync
  timed verify "$n" "$C" verify --repository "$store"
  timed garbage-collect "$n" "$C" garbage-collect --repository "$store"
  timed garbage-collect-again "$n" "$C" garbage-collect --repository "$store"
  rm -rf "$store"
done

python3 - "$RES" <<'PY'
import sys, collections
rows = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    what, n, wall, cpu, rss = line.split("\t")
    rows[what][int(n)] = (float(wall), float(cpu), int(rss))
print()
for what, by in rows.items():
    ns = sorted(by)
    if len(ns) < 2:
        continue
    a, b = ns[0], ns[-1]
    per = (by[b][2] - by[a][2]) * 2**20 / (b - a)
    tpf = (by[b][0] - by[a][0]) / (b - a) * 1e6
    unit = "file" if what.startswith("backup") else "chunk"
    print(f"{what}: {a}..{b}: RSS +{per:.0f} bytes per {unit}, wall +{tpf:.1f} us per {unit}")
PY
