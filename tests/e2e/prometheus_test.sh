#!/usr/bin/env bash
# A real Prometheus scrapes skiff's /metrics over TLS with the bearer token, and PromQL answers.
source "$(dirname "$0")/lib.sh"
if ! command -v prometheus >/dev/null; then echo "prometheus not installed: scripts/install-deps.sh installs it"; exit 1; fi
start_skiff
HOSTPORT=${SERVER#https://}
PPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$WORK/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
- job_name: skiff
  scheme: https
  tls_config: {ca_file: $CA}
  authorization: {credentials_file: $WORK/data/token}
  static_configs: [{targets: ["$HOSTPORT"]}]
YAML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PPORT" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PROM=$!
trap 'kill $PROM 2>/dev/null; wait $PROM 2>/dev/null; cleanup' EXIT
query() { curl -s --get --data-urlencode "query=$1" "http://127.0.0.1:$PPORT/api/v1/query"; }
"$SKIFF" apply -f "$(dirname "$0")/../../examples/hello/namespace.yaml" >/dev/null
up() { query 'up{job="skiff"}' | grep -q '"value":\[[0-9.]*,"1"\]'; }
ok=0; for _ in $(seq 1 150); do up && { ok=1; break; }; sleep 0.2; done
check "prometheus scrapes skiff (up == 1)" test $ok = 1
out=$(query 'sum(apiserver_request_total{job="skiff",verb="create",resource="namespaces"})')
check "PromQL over API request counts" contains "$out" '"status":"success"'
check "the create is counted" contains "$out" '"value":\[[0-9.]*,"[1-9]'
out=$(query 'histogram_quantile(0.99, sum(rate(skiff_store_commit_duration_seconds_bucket[1m])) by (le))')
check "store commit latency histogram" contains "$out" '"resultType":"vector"'
out=$(query 'process_resident_memory_bytes{job="skiff"}')
check "process metrics" contains "$out" '"value"'
out=$(curl -s --cacert "$CA" "$SERVER/metrics" -w '%{http_code}')
check "metrics need the token" contains "$out" "401"
finish
