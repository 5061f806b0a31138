#!/usr/bin/env bash
# Side-by-side cairn vs restic vs kopia on the shared benchmark dataset, all
# encrypted, all to a local repository; plus cairn through `cairn serve` on
# loopback TLS against the same backup to a path repository. Prints medians,
# ratios and the issue-15 targets (met/missed) for cairn at its defaults and
# for cairn with --change-detection-mode metadata.
#
# Not a test: the machine is shared and noisy, so every round runs each tool
# once in turn (cairn, cairn metadata, restic, kopia, cairn net) and medians
# are reported; read the ratios, not the seconds.
#
#   bench/compare.sh [ROUNDS] [PROFILE]   (default 2 rounds, medium; PROFILE small for a quick run)
#   WORK=/path         scratch dir (default $TMPDIR/cairn-compare; /dev/shm is fine if ~6 GiB fit)
#   RESTIC=/path       restic binary (default: built from the Go module proxy, v0.18.1)
#   KOPIA=/path        kopia binary (default: built from the Go module proxy, v0.21.1)
#   CAIRN_OPTS=…       extra options for every cairn backup (default none: cairn's defaults)
#   NET=0              skip the cairn serve round
#   bench/compare.sh report RESULTS.tsv [PROFILE]   prints the table of an earlier run again
set -euo pipefail
cd "$(dirname "$0")/.."
REPORT=
if [ "${1:-}" = report ]; then REPORT=$2; shift 2; set -- 0 "$@"; fi   # bench/compare.sh report RESULTS.tsv [PROFILE]
ROUNDS=${1:-2}
PROFILE=${2:-medium}
WORK=${WORK:-${TMPDIR:-/tmp}/cairn-compare}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
need=()
command -v python3 >/dev/null || need+=(python3)
command -v bc >/dev/null || need+=(bc)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# gobuild NAME PKG VERSION: builds a tool once from the Go module proxy, in a
# throwaway module that requires it (the tools' own go.mod decide the rest).
GOBIN_DIR=$(go env GOPATH)/bin
gobuild() {
  local name=$1 mod=$2 pkg=$3 ver=$4 dir
  echo "building $name $ver from the Go module proxy…" >&2
  dir=$(mktemp -d)
  (cd "$dir" && go mod init throwaway >/dev/null 2>&1 && go get "$mod@$ver" >/dev/null 2>&1 &&
    go build -o "$GOBIN_DIR/$name-$ver" "$pkg") || { rm -rf "$dir"; echo "building $name failed" >&2; return 1; }
  rm -rf "$dir"
}
RESTIC_VER=v0.18.1 KOPIA_VER=v0.21.1
if [ -z "${RESTIC:-}" ]; then
  RESTIC=$GOBIN_DIR/restic-$RESTIC_VER
  [ -x "$RESTIC" ] || gobuild restic github.com/restic/restic github.com/restic/restic/cmd/restic $RESTIC_VER
fi
if [ -z "${KOPIA:-}" ]; then
  KOPIA=$GOBIN_DIR/kopia-$KOPIA_VER
  [ -x "$KOPIA" ] || gobuild kopia github.com/kopia/kopia github.com/kopia/kopia $KOPIA_VER
fi
[ -n "$REPORT" ] || { echo "building cairn…" >&2; go build -o "$WORK/cairn" .; }
C=$WORK/cairn
BASE=$WORK/base-$PROFILE
if [ ! -d "$BASE" ]; then
  echo "making the $PROFILE dataset…" >&2
  bash ../shared/bench/make-dataset.sh "$BASE.tmp" "$PROFILE" >/dev/null && mv "$BASE.tmp" "$BASE"
fi
CAIRN_OPTS=${CAIRN_OPTS:-}
SRC=$WORK/src   # same path every run, so change detection sees the previous snapshot
RES=${REPORT:-$WORK/results.tsv}
[ -n "$REPORT" ] || : >"$RES"
export RESTIC_PASSWORD=compare-pw PBS_ENCRYPTION_PASSWORD=compare-pw KOPIA_PASSWORD=compare-pw
export KOPIA_CHECK_FOR_UPDATES=false

# timed TOOL STEP CMD…: appends "tool step wall user+sys maxrss_kb" to the results
timed() {
  local tool=$1 step=$2; shift 2
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/time.out" "$@" >"$WORK/out.log" 2>"$WORK/err.out" || { cat "$WORK/err.out" >&2; return 1; }
  read -r wall user sys rss <"$WORK/time.out"
  echo -e "$tool\t$step\t$wall\t$(echo "$user + $sys" | bc)\t$rss" >>"$RES"
}

# filebytes DIR: bytes in regular files (du -b would count directory entries,
# of a datastore's chunk directories among others, as data)
filebytes() { find "$1" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}'; }

fresh_src() { rm -rf "$SRC"; cp -a "$BASE" "$SRC"; sync; }
mutate_src() { bash ../shared/bench/make-dataset.sh "$SRC" mutate >/dev/null; sync; }

# run_cairn NAME [OPTIONS…]: full, unchanged, mutated, restore into a new path repository
run_cairn() {
  local name=$1; shift
  local repo=$WORK/$name-repo out=$WORK/$name-restore key=$WORK/cairn.key
  rm -rf "$repo" "$out"; fresh_src
  [ -f "$key" ] || "$C" key create "$key" --kdf none >/dev/null 2>&1
  # the repository is created by the first backup, inside the timing, as a user sees it
  local b=("$C" backup data.pxar:"$SRC" --repository "$repo" --keyfile "$key" --backup-id bench $CAIRN_OPTS "$@")
  timed "$name" full "${b[@]}"
  timed "$name" unchanged "${b[@]}"
  mutate_src
  timed "$name" mutated "${b[@]}"
  timed "$name" restore "$C" restore host/bench data.pxar "$out" --repository "$repo" --keyfile "$key"
  echo -e "$name\tsize\t$(filebytes "$repo")\t0\t0" >>"$RES"
  rm -rf "$repo" "$out"
}

run_restic() {
  local repo=$WORK/restic-repo out=$WORK/restic-restore
  rm -rf "$repo" "$out"; fresh_src
  "$RESTIC" init --repo "$repo" >/dev/null; sync
  timed restic full "$RESTIC" backup --repo "$repo" "$SRC"
  timed restic unchanged "$RESTIC" backup --repo "$repo" "$SRC"
  mutate_src
  timed restic mutated "$RESTIC" backup --repo "$repo" "$SRC"
  timed restic restore "$RESTIC" restore latest --repo "$repo" --target "$out"
  echo -e "restic\tsize\t$(filebytes "$repo")\t0\t0" >>"$RES"
  rm -rf "$repo" "$out"
}

run_kopia() {
  local repo=$WORK/kopia-repo out=$WORK/kopia-restore cfg=$WORK/kopia/repository.config
  rm -rf "$repo" "$out" "$WORK/kopia"; fresh_src
  local k=("$KOPIA" --config-file "$cfg" --log-dir "$WORK/kopia/logs")
  "${k[@]}" repository create filesystem --path "$repo" --cache-directory "$WORK/kopia/cache" >/dev/null 2>&1; sync
  timed kopia full "${k[@]}" snapshot create "$SRC"
  timed kopia unchanged "${k[@]}" snapshot create "$SRC"
  mutate_src
  timed kopia mutated "${k[@]}" snapshot create "$SRC"
  local id
  id=$("${k[@]}" snapshot list "$SRC" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])')
  timed kopia restore "${k[@]}" snapshot restore "$id" "$out"
  echo -e "kopia\tsize\t$(filebytes "$repo")\t0\t0" >>"$RES"
  rm -rf "$repo" "$out" "$WORK/kopia"
}

# run_net: the same cairn backups (defaults) through `cairn serve` on loopback
# TLS, and to a path repository right after, for the ratio. The server and its
# datastore (upstream's full layout) are set up before the timing.
SRV_PID=
stop_serve() { [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null; SRV_PID=; }
trap stop_serve EXIT
run_net() {
  local cfg=$WORK/net-cfg store=$WORK/net-store key=$WORK/cairn.key port fp i
  stop_serve; rm -rf "$cfg" "$store"
  local m=("$C" manager --config-dir "$cfg")
  "${m[@]}" datastore create store1 "$store" >/dev/null 2>&1
  "${m[@]}" user create bob@pbs --password bob-pw-1 >/dev/null 2>&1
  "${m[@]}" acl update /datastore/store1 DatastoreBackup --auth-id bob@pbs >/dev/null 2>&1
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$C" serve --config-dir "$cfg" --listen "127.0.0.1:$port" >"$WORK/serve.log" 2>&1 & SRV_PID=$!
  for i in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  fp=$("${m[@]}" cert info 2>/dev/null | grep -Eio '([0-9a-f]{2}:){31}[0-9a-f]{2}' | head -1)
  fresh_src
  PBS_PASSWORD=bob-pw-1 PBS_FINGERPRINT=$fp \
    timed net full "$C" backup data.pxar:"$SRC" --repository "bob@pbs@127.0.0.1:$port:store1" --keyfile "$key" --backup-id bench $CAIRN_OPTS
  # the server's CPU (user+sys since it started, the setup included), which the client's time leaves out
  local srvcpu; srvcpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/hz}' "/proc/$SRV_PID/stat")
  echo -e "netsrv\tfull\t0\t$srvcpu\t0" >>"$RES"
  stop_serve; rm -rf "$cfg" "$store" "$WORK/local-repo"
  fresh_src
  timed local full "$C" backup data.pxar:"$SRC" --repository "$WORK/local-repo" --keyfile "$key" --backup-id bench $CAIRN_OPTS
  rm -rf "$WORK/local-repo"
}

for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS: cairn (defaults)" >&2; run_cairn cairn
  echo "round $r/$ROUNDS: cairn --change-detection-mode metadata" >&2; run_cairn meta --change-detection-mode metadata
  echo "round $r/$ROUNDS: restic" >&2; run_restic
  echo "round $r/$ROUNDS: kopia" >&2; run_kopia
  [ "${NET:-1}" = 0 ] || { echo "round $r/$ROUNDS: cairn serve vs path" >&2; run_net; }
done
[ -n "$REPORT" ] || cp "$RES" "$WORK/results-$(date +%Y%m%d-%H%M%S).tsv"
DATA_BYTES=$(du -sb "$BASE" | cut -f1)
VERSIONS="restic $("$RESTIC" version | awk '{print $2}'), kopia $("$KOPIA" --version | awk '{print $1}')"
python3 - "$RES" "$DATA_BYTES" "$VERSIONS" "$CAIRN_OPTS" <<'PY'
import sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    tool, step, wall, cpu, rss = line.rstrip("\n").split("\t")
    rows[(tool, step)].append((float(wall), float(cpu), int(rss)))
data = int(sys.argv[2])
def med(tool, step, i=0):
    xs = [x[i] for x in rows.get((tool, step), [])]
    return statistics.median(xs) if xs else float("nan")
def peak(tool):
    xs = [x[2] for s in ("full", "unchanged", "mutated", "restore") for x in rows.get((tool, s), [])]
    return max(xs) / 1024 if xs else float("nan")
tools = [("cairn", "cairn default"), ("meta", "cairn metadata"), ("restic", "restic"), ("kopia", "kopia")]
print(f"dataset: {data/2**20:.0f} MiB; runs per figure: {len(rows[('cairn','full')])}; {sys.argv[3]}"
      + (f"; cairn options: {sys.argv[4]}" if sys.argv[4] else ""))
W = 16
print(f"{'':<26}" + "".join(f"{n:>{W}}" for _, n in tools))
for step in ("full", "unchanged", "mutated", "restore"):
    print(f"{step + ' wall s':<26}" + "".join(f"{med(t, step):>{W}.2f}" for t, _ in tools))
    if step in ("full", "restore"):
        print(f"{'  ' + step + ' MB/s':<26}" + "".join(f"{data/med(t, step)/1e6:>{W}.0f}" for t, _ in tools))
    print(f"{'  ' + step + ' cpu s':<26}" + "".join(f"{med(t, step, 1):>{W}.2f}" for t, _ in tools))
    print(f"{'  ' + step + ' RSS MiB':<26}" + "".join(f"{med(t, step, 2)/1024:>{W}.0f}" for t, _ in tools))
print(f"{'repository MiB':<26}" + "".join(f"{med(t, 'size')/2**20:>{W}.0f}" for t, _ in tools))
print(f"{'peak RSS MiB (any step)':<26}" + "".join(f"{peak(t):>{W}.0f}" for t, _ in tools))
print()
R, K = "restic", "kopia"
# each target as a ratio of wall times (what it is stated in) and, less
# sensitive to a busy machine, of CPU times (user+sys); sizes and RSS have one
wall = lambda t, s: med(t, s)
cpu = lambda t, s: med(t, s, 1)
targets = [
    ("full tput >= 1.25x kopia", lambda c, m: m(K, "full") / m(c, "full"), lambda v: v >= 1.25),
    ("full tput >= 2.5x restic", lambda c, m: m(R, "full") / m(c, "full"), lambda v: v >= 2.5),
    ("unchanged <= 0.5x kopia", lambda c, m: m(c, "unchanged") / m(K, "unchanged"), lambda v: v <= 0.5),
    ("mutated <= 0.6x restic", lambda c, m: m(c, "mutated") / m(R, "mutated"), lambda v: v <= 0.6),
    ("mutated < kopia", lambda c, m: m(c, "mutated") / m(K, "mutated"), lambda v: v < 1.0),
    ("restore tput >= 1.5x restic", lambda c, m: m(R, "restore") / m(c, "restore"), lambda v: v >= 1.5),
    ("repository <= 1.1x restic", lambda c, m: med(c, "size") / med(R, "size"), lambda v: v <= 1.1),
    ("peak RSS <= restic", lambda c, m: peak(c) / peak(R), lambda v: v <= 1.0),
]
print(f"{'target (ratio: wall, cpu)':<30}{'cairn default':>24}{'cairn metadata':>24}")
for name, f, ok in targets:
    cells = []
    for c in ("cairn", "meta"):
        v, vc = f(c, wall), f(c, cpu)
        cell = f"{v:.2f} {'met' if ok(v) else 'MISSED'}"
        if vc != v:
            cell = f"{v:.2f} {'met' if ok(v) else 'MISSED'} (cpu {vc:.2f})"
        cells.append(cell)
    print(f"{name:<30}" + "".join(f"{x:>24}" for x in cells))
if rows.get(("net", "full")):
    n, l = med("net", "full"), med("local", "full")
    v = l / n
    print(f"{'net tput >= 0.95x path':<30}{f'{v:.2f} ' + ('met' if v >= 0.95 else 'MISSED'):>24}"
          f"   (cairn serve loopback TLS {n:.2f} s, cpu {med('net', 'full', 1):.2f} s, {data/n/1e6:.0f} MB/s;"
          f" path {l:.2f} s, cpu {med('local', 'full', 1):.2f} s, {data/l/1e6:.0f} MB/s)")
    if rows.get(("netsrv", "full")):
        print(f"{'':<30}   client + server cpu over loopback: {med('net', 'full', 1) + med('netsrv', 'full', 1):.2f} s"
              f" (server {med('netsrv', 'full', 1):.2f} s) against {med('local', 'full', 1):.2f} s to the path")
PY
