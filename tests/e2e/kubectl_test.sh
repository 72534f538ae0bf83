#!/usr/bin/env bash
# The real kubectl (1.32) against skiff with the generated kubeconfig, no extra flags.
source "$(dirname "$0")/lib.sh"
if ! command -v kubectl >/dev/null; then echo "kubectl not installed: skipping"; echo "0 passed, 0 failed"; exit 0; fi
EXAMPLES=$(dirname "$0")/../../examples
start_skiff
K() { kubectl --request-timeout=20s "$@"; }

out=$(K get ns 2>&1)
check "kubectl get ns" contains "$out" "kube-system"
out=$(K api-resources 2>&1)
check "discovery lists deployments" contains "$out" "deployments.*apps/v1.*true.*Deployment"
out=$(K apply -f "$EXAMPLES/hello/namespace.yaml" -f "$EXAMPLES/hello/app.yaml" 2>&1)
check "kubectl apply creates" contains "$out" "deployment.apps/web created"
out=$(K apply -f "$EXAMPLES/hello/app.yaml" 2>&1)
check "kubectl re-apply unchanged" contains "$out" "deployment.apps/web unchanged"
sed 's/replicas: 2/replicas: 4/' "$EXAMPLES/hello/app.yaml" >"$WORK/app.yaml"
out=$(K apply -f "$WORK/app.yaml" 2>&1)
check "kubectl apply configures" contains "$out" "deployment.apps/web configured"
out=$(K get deploy web -n hello -o jsonpath='{.spec.replicas}/{.metadata.generation}' 2>&1)
check "strategic merge patch applied" contains "$out" "4/2"
out=$(K get deploy -n hello 2>&1)
check "kubectl table" contains "$out" "web    [0-9]/4"
out=$(K get deploy web -n hello -o yaml 2>&1)
check "kubectl -o yaml" contains "$out" "kubectl.kubernetes.io/last-applied-configuration"
out=$(K get all -n hello 2>&1)
check "kubectl get all (categories)" contains "$out" "service/web"
out=$(K label cm web-config -n hello tier=front 2>&1)
check "kubectl label (merge patch)" contains "$out" "labeled"
out=$(K get cm -n hello -l tier=front -o name 2>&1)
check "label selector" contains "$out" "configmap/web-config"
# A protobuf body of a kind skiff does not decode is refused with a clear 415 (generators: below).
printf 'k8s\0\x0a\x0f\x0a\x02v1\x12\x09Endpoints' >"$WORK/endpoints.pb"
out=$(api POST /api/v1/namespaces/hello/endpoints -H 'Content-Type: application/vnd.kubernetes.protobuf' --data-binary @"$WORK/endpoints.pb")
check "protobuf body of an undecoded kind refused clearly" contains "$out" "skiff does not decode Endpoints (v1) from protobuf.*415"
out=$(K create configmap made -n hello --from-literal=a=b --dry-run=client -o yaml | K create -f - 2>&1)
check "kubectl create -f" contains "$out" "configmap/made created"
out=$(K create secret generic pw -n hello --from-literal=password=hunter2 --dry-run=client -o json | K apply -f - 2>&1)
check "kubectl apply secret" contains "$out" "secret/pw created"
out=$(K get secret pw -n hello -o jsonpath='{.data.password}' 2>&1)
check "secret stored base64" contains "$out" "aHVudGVyMg=="

# Strict server-side validation: kubectl sends fieldValidation=Strict.
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: strict, namespace: hello}\nbogus: 1\n' >"$WORK/strict.yaml"
out=$(K apply -f "$WORK/strict.yaml" 2>&1 || true)
check "unknown field rejected" contains "$out" 'unknown field "bogus"'
out=$(K apply -f "$WORK/strict.yaml" --validate=false 2>&1)
check "validate=false drops it" contains "$out" "configmap/strict created"

# Watch: kubectl get -w prints a change made while watching.
K get cm -n hello -w >"$WORK/watch.out" 2>&1 &
WATCH=$!
sleep 1
K create configmap seen-by-watch -n hello --dry-run=client -o yaml | K create -f - >/dev/null 2>&1
for _ in $(seq 1 50); do grep -q seen-by-watch "$WORK/watch.out" && break; sleep 0.1; done
kill $WATCH 2>/dev/null; wait $WATCH 2>/dev/null || true
check "kubectl get -w" contains "$(cat "$WORK/watch.out")" "seen-by-watch"

out=$(K delete -f "$WORK/app.yaml" 2>&1)
check "kubectl delete -f" contains "$out" 'deployment.apps "web" deleted'
out=$(K delete cm made -n hello 2>&1)
check "kubectl delete by name" contains "$out" 'configmap "made" deleted'
out=$(K get cm made -n hello 2>&1 || true)
check "kubectl NotFound message" contains "$out" 'configmaps "made" not found'
out=$(K delete ns hello --timeout=30s 2>&1)
check "kubectl delete namespace waits and completes" contains "$out" 'namespace "hello" deleted'
out=$(K get ns 2>&1)
check "namespace gone" lacks "$out" "hello"
for i in 1 2 3 4 5; do K create configmap page-$i --dry-run=client -o yaml | K create -f - >/dev/null; done
out=$(K get cm --chunk-size=2 -o name -v=6 2>&1)
check "kubectl pagination: all pages" test "$(grep -c 'configmap/page-' <<<"$out")" -eq 5
check "kubectl pagination: used continue" contains "$out" "continue="
# kubectl's generators send protobuf bodies; autoscale posts autoscaling/v1 (stored as v2).
K create namespace gen >/dev/null
out=$(K create deployment gen-web -n gen --image=nginx --replicas=0 --port=80 2>&1)
check "kubectl create deployment (protobuf)" contains "$out" "deployment.apps/gen-web created"
check "replicas 0 survives protobuf" test "$(K get deploy gen-web -n gen -o jsonpath='{.spec.replicas}/{.spec.template.spec.containers[0].ports[0].containerPort}')" = "0/80"
out=$(K create configmap gen-cm -n gen --from-literal=a=b 2>&1; K create secret generic gen-s -n gen --from-literal=pw=hunter2 2>&1;
      K create service clusterip gen-svc -n gen --tcp=80:8080 2>&1; K create job gen-job -n gen --image=busybox -- echo hi 2>&1;
      K create cronjob gen-cj -n gen --image=busybox '--schedule=*/5 * * * *' 2>&1; K create serviceaccount gen-sa -n gen 2>&1)
for made in configmap/gen-cm secret/gen-s service/gen-svc job.batch/gen-job cronjob.batch/gen-cj serviceaccount/gen-sa; do
  check "kubectl create ${made%%/*} (protobuf)" contains "$out" "$made created"
done
check "secret data decoded" test "$(K get secret gen-s -n gen -o jsonpath='{.data.pw}' | base64 -d)" = hunter2
check "service targetPort" test "$(K get svc gen-svc -n gen -o jsonpath='{.spec.ports[0].targetPort}')" = 8080
check "job command" test "$(K get job gen-job -n gen -o jsonpath='{.spec.template.spec.containers[0].command[1]}')" = hi
out=$(K autoscale deployment gen-web -n gen --min=1 --max=4 --cpu-percent=60 2>&1)
check "kubectl autoscale" contains "$out" "horizontalpodautoscaler.autoscaling/gen-web autoscaled"
out=$(K get hpa gen-web -n gen 2>&1)
check "kubectl get hpa after autoscale" contains "$out" "Deployment/gen-web.*/60%.*1 *4"
out=$(K get --raw /apis/autoscaling/v1/namespaces/gen/horizontalpodautoscalers/gen-web)
check "served as autoscaling/v1 too" contains "$out" '"targetCPUUtilizationPercentage":60'
# events.k8s.io/v1 and core/v1 Events are the same objects under two sets of field names.
api POST /apis/events.k8s.io/v1/namespaces/gen/events -H 'Content-Type: application/json' -d '{"apiVersion":"events.k8s.io/v1","kind":"Event",
  "metadata":{"name":"e1"},"eventTime":"2026-01-01T00:00:00.000000Z","reportingController":"tester","reportingInstance":"t1","action":"Test",
  "reason":"Checked","note":"hello from events.k8s.io","type":"Normal","regarding":{"kind":"Namespace","name":"gen"}}' >/dev/null
check "an events.k8s.io/v1 Event reads as core/v1" test "$(K get events.v1. e1 -n gen -o jsonpath='{.message}/{.involvedObject.name}' 2>&1)" = "hello from events.k8s.io/gen"
out=$(api GET /apis/events.k8s.io/v1/namespaces/gen/events)
check "… and core Events list through events.k8s.io/v1" contains "$out" '"note":"hello from events.k8s.io"'
sa_default() { K get serviceaccount default -n gen -o name >/dev/null 2>&1; }
check "a namespace gets its default ServiceAccount" wait_for "default sa" 10 sa_default
K delete serviceaccount default -n gen >/dev/null 2>&1 || true
check "… again when it is deleted" wait_for "default sa back" 10 sa_default
qos() { K create deployment "$1" -n gen --image=busybox --dry-run=client -o json | python3 -c "
import json,sys; d=json.load(sys.stdin); d['spec']['template']['spec']['containers'][0]['resources']=json.loads(sys.argv[1]); print(json.dumps(d))" "$2" |
  K apply -f - >/dev/null 2>&1 || true; }
qos q-guaranteed '{"limits":{"cpu":"100m","memory":"64Mi"}}'
qos q-burstable '{"requests":{"cpu":"100m"}}'
check "qosClass Guaranteed (limits only, requests default to them)" wait_for "guaranteed" 10 bash -c "[ \"\$(kubectl get pods -n gen -l app=q-guaranteed -o jsonpath='{.items[0].status.qosClass}')\" = Guaranteed ]"
check "qosClass Burstable" wait_for "burstable" 10 bash -c "[ \"\$(kubectl get pods -n gen -l app=q-burstable -o jsonpath='{.items[0].status.qosClass}')\" = Burstable ]"
K delete ns gen --wait=false >/dev/null
# OpenAPI schemas of the built-in kinds: kubectl explain, down to nested fields, in v3 and v2.
out=$(K explain pods 2>&1 || true)
check "kubectl explain pods lists the Pod's fields" contains "$out" "spec.*<PodSpec>"
out=$(K explain deployment.spec.strategy.rollingUpdate 2>&1 || true)
check "kubectl explain follows nested fields of apps/v1 kinds" contains "$out" "maxSurge"
out=$(K explain pods.spec.containers 2>&1 || true)
check "… with merge keys as Kubernetes publishes them" contains "$(K get --raw /openapi/v3/api/v1)" '"x-kubernetes-patch-merge-key":"name"'
# The whole document: cutting it with head would SIGPIPE kubectl once it passes a pipe buffer (64 KiB).
out=$(K get --raw /openapi/v2 2>&1)
check "OpenAPI v2 (JSON) carries the definitions" contains "$out" '"swagger":"2.0"'
# client-go's metadata client: PartialObjectMetadata(List) where asked, for get, list and watch.
meta() { curl -s --cacert "$CA" -H "Authorization: Bearer $TOKEN" -H "Accept: application/json;as=$1;g=meta.k8s.io;v=v1, application/json" "$SERVER$2"; }
K create configmap partial --from-literal=big=value-not-in-metadata >/dev/null
out=$(meta PartialObjectMetadataList /api/v1/namespaces/default/configmaps)
check "a list asked as PartialObjectMetadataList is one" contains "$out" '"kind":"PartialObjectMetadataList".*"name":"partial"'
check "… without the objects' data" lacks "$out" "value-not-in-metadata"
out=$(meta PartialObjectMetadata /api/v1/namespaces/default/configmaps/partial)
check "a get asked as PartialObjectMetadata is one" contains "$out" '"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"partial"'
out=$(meta PartialObjectMetadata "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1")
check "watch events carry PartialObjectMetadata" contains "$out" '"type":"ADDED","object":{"kind":"PartialObjectMetadata"'
out=$(K get pods --token=wrong 2>&1 || true)
check "wrong token refused" contains "$out" "Unauthorized\|provide credentials"
finish
