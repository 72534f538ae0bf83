#!/usr/bin/env bash
# Secrets encrypted at rest: by default with a key made on first start (DATA/encryption.key, apart
# from the store), or as kube-apiserver's --encryption-provider-config file says; nothing in the
# SQLite files holds a Secret's value; a lost key stops the start with the key named and loses
# nothing; keys rotate with `skiff secrets rotate`.
source "$(dirname "$0")/lib.sh"
start_skiff
kubectl create secret generic pw --from-literal=password=hunter2-at-rest >/dev/null
b64=$(printf 'hunter2-at-rest' | base64)
db() { cat "$WORK/data"/store.db* 2>/dev/null | strings; }
check "the key is the owner's only" test "$(stat -c %a "$WORK/data/encryption.key")" = 600
check "the database holds no Secret value in clear" sh -c "! (cat $WORK/data/store.db* | strings | grep -q -e hunter2-at-rest -e $b64)"
check "… but the encrypted record" contains "$(db)" 'k8s:enc:aesgcm:v1:key1:'
check "kubectl reads the Secret" test "$(kubectl get secret pw -o jsonpath='{.data.password}' | base64 -d)" = hunter2-at-rest
check "ConfigMaps are not encrypted by default" kubectl create configmap plain --from-literal=a=visible-value
stop_skiff

# A lost key: the start stops, naming the key; with the key back everything reads.
mv "$WORK/data/encryption.key" "$WORK/saved.key"
set +e
out=$(timeout 20 "$SKIFF" up --data-dir "$WORK/data" --listen 127.0.0.1:0 --runtime process --mesh-port "$(free_port)" 2>&1)
rc=$?
set -e
check "a lost key stops the start" test "$rc" -ne 0 -a "$rc" -ne 124
check "… naming the key it needs" contains "$out" 'encrypted with aesgcm key "key1"'
check "… without making a new key" test ! -e "$WORK/data/encryption.key"
mv "$WORK/saved.key" "$WORK/data/encryption.key"
start_skiff
check "with the key back the Secret reads" test "$(kubectl get secret pw -o jsonpath='{.data.password}' | base64 -d)" = hunter2-at-rest
stop_skiff

# Kubernetes' EncryptionConfiguration: a new aescbc key first, the default one still readable.
old=$(cat "$WORK/data/encryption.key")
new=$(head -c 32 /dev/urandom | base64)
cat >"$WORK/enc.yaml" <<YAML
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets, configmaps]
  providers:
  - aescbc: {keys: [{name: fresh, secret: $new}]}
  - aesgcm: {keys: [{name: key1, secret: $old}]}
  - identity: {}
YAML
start_skiff --encryption-provider-config "$WORK/enc.yaml"
check "old Secrets read under the new configuration" test "$(kubectl get secret pw -o jsonpath='{.data.password}' | base64 -d)" = hunter2-at-rest
out=$("$SKIFF" secrets rotate 2>&1)
check "skiff secrets rotate rewrites them" contains "$out" 're-encrypted [1-9][0-9]* objects'
check "… with the new key" contains "$(db)" 'k8s:enc:aescbc:v1:fresh:'
kubectl create configmap later --from-literal=a=written-after-the-change >/dev/null
check "ConfigMaps written now are encrypted too" sh -c "! (cat $WORK/data/store.db* | strings | grep -q written-after-the-change)"
check "… and read" test "$(kubectl get configmap later -o jsonpath='{.data.a}')" = written-after-the-change
stop_skiff
cat >"$WORK/only-new.yaml" <<YAML
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets, configmaps]
  providers:
  - aescbc: {keys: [{name: fresh, secret: $new}]}
YAML
start_skiff --encryption-provider-config "$WORK/only-new.yaml"
check "after rotation the old key can go" test "$(kubectl get secret pw -o jsonpath='{.data.password}' | base64 -d)" = hunter2-at-rest
stop_skiff

# A configuration with a wrong key length is refused with its field.
sed "s|secret: $new|secret: c2hvcnQ=|" "$WORK/only-new.yaml" >"$WORK/bad.yaml"
set +e
out=$(timeout 20 "$SKIFF" up --data-dir "$WORK/data" --listen 127.0.0.1:0 --runtime process --encryption-provider-config "$WORK/bad.yaml" 2>&1)
set -e
check "a short key is refused with its field path" contains "$out" 'resources\[0\].providers\[0\].aescbc.keys\[0\].secret: secret is not of the expected length, got 5, expected 32'
finish
