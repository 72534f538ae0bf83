# Helpers for end-to-end tests: start the real skiff binary in a temp dir on a free port, and
# clean up (processes by PID, temp dirs) even when a test fails.
set -euo pipefail
SKIFF=$(readlink -f "$1")
WORK=$(mktemp -d -t skiff-e2e.XXXXXX)
SKIFF_PID=
cleanup() {
  if [ -n "$SKIFF_PID" ] && kill -0 "$SKIFF_PID" 2>/dev/null; then kill "$SKIFF_PID"; wait "$SKIFF_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
PASSED=0
FAILED=0

# start_skiff [extra args...]: starts `skiff up` on a free loopback port with data in $WORK/data.
# The process runtime unless the test names one (most suites run host commands as containers).
start_skiff() {
  rm -f "$WORK/data/kubeconfig"
  local runtime=(--runtime process)
  [[ " $* " == *" --runtime "* ]] && runtime=()
  # Suites run side by side: each skiff gets its own port for the mesh's mTLS listener.
  local mesh=(--mesh-port "$(free_port)")
  [[ " $* " == *" --mesh-port "* ]] && mesh=()
  local listen=(--listen 127.0.0.1:0)
  [[ " $* " == *" --listen "* ]] && listen=()
  "$SKIFF" up --data-dir "$WORK/data" "${listen[@]}" "${runtime[@]}" "${mesh[@]}" "$@" >"$WORK/up.log" 2>&1 &
  SKIFF_PID=$!
  for _ in $(seq 1 200); do
    [ -s "$WORK/data/kubeconfig" ] && grep -q "skiff is up" "$WORK/up.log" && break
    kill -0 "$SKIFF_PID" 2>/dev/null || { cat "$WORK/up.log" >&2; echo "skiff exited at start" >&2; exit 1; }
    sleep 0.05
  done
  export KUBECONFIG="$WORK/data/kubeconfig"
  SERVER=$(awk '/server:/{print $2}' "$KUBECONFIG")
  TOKEN=$(cat "$WORK/data/token")
  CA="$WORK/data/tls/ca.crt"
}

stop_skiff() {  # stop_skiff [signal]
  kill -"${1:-TERM}" "$SKIFF_PID"
  wait "$SKIFF_PID" 2>/dev/null || true
  SKIFF_PID=
}

# api METHOD PATH [curl args...]: an authenticated request; prints the body, then the code on its own line.
api() {
  local method=$1 path=$2
  shift 2
  curl -sS --cacert "$CA" -H "Authorization: Bearer $TOKEN" -X "$method" -w '\n%{http_code}' "$@" "$SERVER$path"
}

# free_port: a TCP port nobody listens on now (for listeners a test asks skiff to open).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

check() {  # check "description" command...
  local what=$1
  shift
  if "$@" >"$WORK/check.out" 2>&1; then
    PASSED=$((PASSED + 1))
  else
    FAILED=$((FAILED + 1))
    echo "FAIL: $what" >&2
    sed 's/^/    /' "$WORK/check.out" >&2
  fi
}

# wait_for "description" SECONDS command...: polls the command every 100 ms until it succeeds.
wait_for() {
  local what=$1 secs=$2
  shift 2
  for _ in $(seq 1 $((secs * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out: $what"
  return 1
}

contains() { grep -q -- "$2" <<<"$1" || { echo "expected to find: $2"; echo "in: $1"; return 1; }; }
lacks() { ! grep -q -- "$2" <<<"$1" || { echo "expected not to find: $2"; echo "in: $1"; return 1; }; }

finish() {
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}
