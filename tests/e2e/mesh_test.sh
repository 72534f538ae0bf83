#!/usr/bin/env bash
# The node proxy's mesh port as `skiff up` opens it: mTLS only, the node's SPIFFE identity from the
# platform CA, callers without a certificate from that CA refused. (Traffic between two nodes over
# it is tested in tests/unit/proxy/mesh_test.cpp, with two proxies in two network namespaces.)
source "$(dirname "$0")/lib.sh"
MESH=$(free_port)
start_skiff --mesh-port "$MESH" --node-name mesh-node
listening() { (echo >/dev/tcp/127.0.0.1/"$MESH") 2>/dev/null; }
check "the mesh port listens on the node's address" wait_for "mesh port" 20 listening

out=$(openssl s_client -connect 127.0.0.1:"$MESH" -CAfile "$CA" -verify_return_error -showcerts </dev/null 2>&1 || true)
check "it speaks TLS 1.3" contains "$out" "TLSv1.3"
check "its certificate chains to the platform CA" contains "$out" "Verify return code: 0"
cert=$(echo "$out" | awk '/BEGIN CERTIFICATE/{p=1} p{print} /END CERTIFICATE/{exit}')
san=$(echo "$cert" | openssl x509 -noout -ext subjectAltName 2>&1)
check "the node's identity is a SPIFFE id" contains "$san" "URI:spiffe://cluster.local/node/mesh-node"

# Without a client certificate the handshake is refused (TLS 1.3 reports it on the first read).
out=$(printf 'CONNECT 127.0.0.1:1 HTTP/1.1\r\n\r\n' | openssl s_client -connect 127.0.0.1:"$MESH" -CAfile "$CA" -quiet 2>&1 || true)
check "a caller without a certificate is refused" contains "$out" "alert certificate required\|certificate required"

# A certificate from another CA is refused too.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/rogue.key" -out "$WORK/rogue.crt" -days 1 \
  -subj "/O=rogue" -addext "subjectAltName=URI:spiffe://cluster.local/ns/default/sa/default" >/dev/null 2>&1
out=$(printf 'CONNECT 127.0.0.1:1 HTTP/1.1\r\n\r\n' | openssl s_client -connect 127.0.0.1:"$MESH" -CAfile "$CA" -cert "$WORK/rogue.crt" -key "$WORK/rogue.key" -quiet 2>&1 || true)
check "a certificate from another CA is refused" contains "$out" "alert unknown ca\|unknown ca"
metrics=$(curl -s --cacert "$CA" -H "Authorization: Bearer $TOKEN" "$SERVER/metrics")
check "refusals are counted" contains "$metrics" 'skiff_mesh_connections_total{direction="inbound",result="handshake_failed"} [1-9]'

finish
