#!/usr/bin/env bash
# Times a cold set-up as a new user meets it: `go tool task quickstart` with empty module and build caches (fresh
# GOMODCACHE and GOCACHE in a temp dir; the module proxy must be reachable), up to the first confirmed deployment,
# phase by phase. The environment and the binary go to the temp dir too (not quickstart-env/ or bin/), on a base
# port of their own. Its servers are stopped by their pids and the temp dir is removed at the end.
#
#   bash scripts/bench-setup.sh [--max SECONDS] [--base-port PORT] [--keep]
#
# --max fails the run when the first confirmed deployment takes longer (CI: --max 120).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
max=0 port=27110 keep=
while [ $# -gt 0 ]; do
  case $1 in
  --max) max=$2; shift 2 ;;
  --base-port) port=$2; shift 2 ;;
  --keep) keep=1; shift ;;
  *) echo "usage: $0 [--max SECONDS] [--base-port PORT] [--keep]" >&2; exit 2 ;;
  esac
done
for p in $port $((port + 1)); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "port $p is taken: pick another with --base-port" >&2; exit 2; fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/zato-bench-setup.XXXXXX")
export GOMODCACHE=$work/gomodcache GOCACHE=$work/gocache
bin=$work/bin/zato qs=$work/quickstart-env log=$work/log phases=$work/phases
cleanup() {
  # Stop the servers this run started, by the pids in their pidfiles (a pidfile is "PID START": the first field).
  for pf in "$qs"/*/pidfile; do
    [ -f "$pf" ] || continue
    read -r pid _ < "$pf" 2>/dev/null || continue
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for pf in "$qs"/*/pidfile; do
    [ -f "$pf" ] || continue
    read -r pid _ < "$pf" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [ -n "$keep" ]; then echo "kept $work"; return; fi
  chmod -R u+w "$work" 2>/dev/null || true # the module cache is read-only
  rm -rf "$work"
}
trap cleanup EXIT

echo "bench:setup: cold set-up in $work (GOMODCACHE, GOCACHE, binary and environment), base port $port"
echo "bench:setup: $(nproc 2>/dev/null || echo ?) cores, load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo ?), $(go version)"
cd "$root"
t0=$EPOCHREALTIME
since() { echo "$EPOCHREALTIME $t0" | awk '{printf "%.1f", $1 - $2}'; }
mark() { echo "$1 $(since)" >>"$phases"; }
: >"$phases"
mark start
set +e
TASK_PROGRESS=${TASK_PROGRESS:-15s} go tool task quickstart BIN="$bin" QS_DIR="$qs" BASE_PORT="$port" 2>&1 |
  while IFS= read -r line; do
    case $line in
    "task: [build] "* | "== Building"*) grep -q '^runner ' "$phases" || mark runner ;;
    "task: [quickstart] "*) mark built ;;
    "== Creating"*) mark create ;;
    "== Starting"*) mark created ;;
    "== Deploying"*) mark started ;;
    "== Invoking"*) mark deployed ;;
    esac
    printf '%6ss  %s\n' "$(since)" "$line"
  done
rc=${PIPESTATUS[0]}
set -e
mark done
# CPU time of everything the task ran (compilers, go, zato; not the detached servers): what the load of other work
# on the machine cannot change, unlike the wall-clock figures.
times >"$work/times" # in this shell: a subshell's times has no children
cpu=$(tail -1 "$work/times" | awk '{ s = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); s += a[1] * 60 + a[2] } printf "%.0f", s }')
at() { awk -v k="$1" '$1 == k { print $2; exit }' "$phases"; }
span() { local a b; a=$(at "$1"); b=$(at "$2"); [ -n "$a" ] && [ -n "$b" ] && awk -v a="$a" -v b="$b" 'BEGIN { printf "%6.1f s", b - a }' || echo "     - "; }
mods=$(find "$GOMODCACHE/cache/download" -name '*.zip' 2>/dev/null | wc -l)
echo
echo "bench:setup: phases of \`go tool task quickstart\` from empty caches"
printf '  %-58s %s\n' "go tool task: download and build the task runner" "$(span start runner)"
printf '  %-58s %s\n' "build: download the modules zato needs, build bin/zato" "$(span runner built)"
printf '  %-58s %s\n' "create the environment" "$(span create created)"
printf '  %-58s %s\n' "start both servers (until each is live)" "$(span created started)"
printf '  %-58s %s\n' "deploy examples/ (both confirmations)" "$(span started deployed)"
printf '  %-58s %s\n' "first confirmed deployment, from the start" "$(span start deployed)"
printf '  %-58s %s\n' "whole task (with invoke and status)" "$(span start done)"
echo "  modules downloaded: $mods; module cache $(du -sh "$GOMODCACHE" | cut -f1), build cache $(du -sh "$GOCACHE" | cut -f1)"
echo "  CPU time used: ${cpu} s (on $(nproc 2>/dev/null || echo ?) cores that is at least $(awk -v c="$cpu" -v n="$(nproc 2>/dev/null || echo 1)" 'BEGIN { printf "%.0f", c / n }') s of wall-clock time)"
echo "  load average at the end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo ?)"
if [ "$rc" != 0 ]; then echo "bench:setup: go tool task quickstart failed (exit $rc)" >&2; exit "$rc"; fi
first=$(at deployed)
if [ "$max" != 0 ] && awk -v f="$first" -v m="$max" 'BEGIN { exit !(f > m) }'; then
  echo "bench:setup: the first confirmed deployment took ${first} s, over the ${max} s target" >&2
  exit 1
fi
