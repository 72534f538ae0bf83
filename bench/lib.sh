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

source "$(dirname "${BASH_SOURCE[0]}")/stats.sh"  # to_ms, cputicks, median

# measure_wrk RUN NAME "PIDS" URL [wrk options...]: one wrk run against URL, pinned to CPU 1
# (-t1 -c$CONNS -d$DUR --latency). Appends its requests per second, p50 and p99 (ms) and the CPU
# time the processes PIDS used per request (µs; "-" when none is given or none was used) to
# $W/NAME.rps, .p50, .p99 and .cpu, and prints the run's line.
measure_wrk() {
  local run=$1 name=$2 procs=$3 url=$4 out t0 t1 rps p50 p99 cpu
  shift 4
  t0=$(cputicks "$procs")
  out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "$@" "$url")
  t1=$(cputicks "$procs")
  rps=$(awk '/^Requests\/sec:/{print $2}' <<<"$out")
  p50=$(to_ms "$(awk '$1=="50%"{print $2}' <<<"$out")")
  p99=$(to_ms "$(awk '$1=="99%"{print $2}' <<<"$out")")
  cpu=$(awk -v a="$t0" -v b="$t1" -v tk="$TCK" -v r="$rps" -v d="$DUR" 'BEGIN{ if (b==a) print "-"; else printf "%.2f", 1e6*(b-a)/tk/(r*d) }')
  echo "$rps" >>"$W/$name.rps"; echo "$p50" >>"$W/$name.p50"; echo "$p99" >>"$W/$name.p99"; echo "$cpu" >>"$W/$name.cpu"
  printf "run %d %-18s rps=%-10s p50=%-6s p99=%-6s cpu_us_per_req=%s %s\n" "$run" "$name" "$rps" "$p50" "$p99" "$cpu" \
    "$(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ' | tr '\n' ' ')"
}
