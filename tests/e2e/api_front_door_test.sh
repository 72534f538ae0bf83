#!/usr/bin/env bash
# The API server's front door under abuse, driven against the real binary on loopback (counts
# and times bounded; the figures at full size come from bench/run-api-front-door.sh):
# idle and dribbling floods while an authenticated client is served, unauthenticated large
# bodies that are never read, invented methods that do not grow /metrics, unread watches that
# are cut off within their budget, HEAD on keep-alive, and Kubernetes' answers for bad watches.
source "$(dirname "$0")/lib.sh"
TOOL="$(dirname "$0")/tools/api_abuse.py"
start_skiff --no-agent
ARGS=(--server "$SERVER" --token "$TOKEN" --ca "$CA" --pid "$SKIFF_PID")
jget() { python3 -c "import json,sys; d=json.load(sys.stdin); print(d$1)"; }

idle=$(python3 "$TOOL" idle "${ARGS[@]}" --count 3000 --gets 200 --seconds 30)
echo "idle: $idle"
check "3,000 silent connections are held and an authenticated client is served meanwhile" \
  test "$(jget "['held']" <<<"$idle")" -eq 3000 -a "$(jget "['get_failures']" <<<"$idle")" -eq 0 -a "$(jget "['gets']" <<<"$idle")" -eq 200
check "a silent connection costs under 4 KiB" test "$(jget "['bytes_per_connection']" <<<"$idle")" -lt 4096

dribble=$(python3 "$TOOL" dribble "${ARGS[@]}" --count 500 --gets 400 --seconds 14)
echo "dribble: $dribble"
check "dribbling heads are closed at their deadline" test "$(jget "['closed_by_server']" <<<"$dribble")" -gt 0
check "authenticated requests answer while 500 connections dribble" test "$(jget "['get_failures']" <<<"$dribble")" -eq 0

bodies=$(python3 "$TOOL" big-bodies "${ARGS[@]}" --count 100)
echo "bodies: $bodies"
check "unauthenticated 3 MiB uploads are refused from their head (401)" test "$(jget "['statuses']" <<<"$bodies")" = "[401]"
check "and their bodies are never read into memory" \
  test $(( $(jget "['rss_peak_kib']" <<<"$bodies") - $(jget "['rss_before_kib']" <<<"$bodies") )) -lt 51200

methods=$(python3 "$TOOL" methods "${ARGS[@]}" --count 2000)
echo "methods: $methods"
check "2,000 invented methods do not grow /metrics" \
  test $(( $(jget "['metrics_bytes_after']" <<<"$methods") - $(jget "['metrics_bytes_before']" <<<"$methods") )) -lt 8192

api POST /api/v1/namespaces -H 'Content-Type: application/json' -d '{"metadata":{"name":"watched"}}' >/dev/null
watch=$(python3 "$TOOL" watchers "${ARGS[@]}" --namespace watched --count 30 --updates 1500 --size 20000 --seconds 60)
echo "unread watches: $watch"
check "unread watches are cut off with 410 once past their budget" \
  test "$(jget "['cut_off_410']" <<<"$watch")" -eq "$(jget "['checked_cut_off']" <<<"$watch")" -a "$(jget "['checked_cut_off']" <<<"$watch")" -gt 0
# 30 watchers each queuing 30 MB of their own copies would be ~900 MB; shared frames and
# budgets keep it to the store's history plus one budget's worth.
check "30 unread watches of 30 MB of updates stay within 200 MB" \
  test $(( $(jget "['rss_peak_kib']" <<<"$watch") - $(jget "['rss_before_kib']" <<<"$watch") )) -lt 204800

head_then_get() {
  python3 - "$SERVER" "$TOKEN" "$CA" <<'PY'
import socket, ssl, sys
server, token, ca = sys.argv[1:]
host, port = server.split("//")[1].rsplit(":", 1)
ctx = ssl.create_default_context(cafile=ca); ctx.check_hostname = False
s = ctx.wrap_socket(socket.create_connection((host, int(port))), server_hostname=host)
req = lambda m, p: f"{m} {p} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
s.sendall(req("HEAD", "/version") + req("GET", "/api/v1/namespaces"))
s.settimeout(5)
data = b""
while data.count(b"HTTP/1.1 200") < 2 or not data.rstrip().endswith(b"}"):
    d = s.recv(65536)
    if not d: break
    data += d
first, second = data.split(b"HTTP/1.1 200", 2)[1:3]
assert first.endswith(b"\r\n\r\n"), first  # the HEAD answer ends at its head
assert b'"kind":"NamespaceList"' in second, second[:200]
PY
}
check "HEAD answers carry no body, so keep-alive clients stay in step" head_then_get

out=$(api GET "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=999999999")
check "a watch from a future resourceVersion is refused (504 ResourceVersionTooLarge)" \
  bash -c "contains() { grep -q -- \"\$2\" <<<\"\$1\"; }; contains '$out' ResourceVersionTooLarge && contains '$out' 504"
out=$(api GET "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=-1")
check "a negative timeoutSeconds is 400" contains "$out" "400"
out=$(api GET "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=99999999999999999999")
check "a timeoutSeconds past 2^63 is 400" contains "$out" "400"
out=$(api POST /api/v1/namespaces/default/configmaps -H 'Content-Type: text/plain' -d '{"metadata":{"name":"tp"}}')
check "a text/plain body is 415" contains "$out" "415"
out=$(timeout 5 curl -sS --cacert "$CA" -H "Authorization: Bearer $TOKEN" "$SERVER/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1" -o /dev/null -w '%{http_code}' || true)
check "timeoutSeconds=1 ends the watch" test "$out" = "200"
check "failed logins are logged" grep -q "refused POST" "$WORK/up.log"
check "kubectl still works" kubectl get configmaps -n watched
finish
