# Shared by the bench/run-*.sh scripts (source it after `set -euo pipefail`): a work folder $W
# removed on exit together with every process whose PID is in PIDS, checks that the fixed ports
# are free and the tools installed, and helpers for wrk's output.
W=$(mktemp -d -t "skiff-bench-${BENCH_NAME:-run}.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT

# need_free_ports PORT...: stop when one is taken (the peers listen on fixed ports).
need_free_ports() {
  local port
  for port in "$@"; do
    if ss -ltn "( sport = :$port )" | grep -q LISTEN; then echo "port $port is in use; stop what holds it" >&2; exit 1; fi
  done
}

# need_commands "how to install" COMMAND...
need_commands() {
  local hint=$1 c
  shift
  for c in "$@"; do command -v "$c" >/dev/null || { echo "needs $c: $hint" >&2; exit 1; }; done
}

# to_ms TOKEN: a wrk latency ("512.00us", "1.20ms", "2.01s") in milliseconds.
to_ms() { awk -v v="$1" 'BEGIN{ n=v; u=v; sub(/[a-z]+$/,"",n); sub(/^[0-9.]+/,"",u); f=(u=="us")?0.001:(u=="ms")?1:(u=="s")?1000:1; printf "%.3f", n*f }'; }
# CPU time (user + system, in clock ticks) the processes in $1 (PIDs, space-separated) have used so far.
cputicks() { local t=0 p; for p in $1; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo $t; }
TCK=$(getconf CLK_TCK)
# median: of the numbers on stdin, one per line.
median() { sort -g | awk '{a[NR]=$1} END{ if(NR%2) print a[(NR+1)/2]; else printf "%.3f\n",(a[NR/2]+a[NR/2+1])/2 }'; }
