#!/usr/bin/env bash
# The official Python client (Debian's python3-kubernetes) against skiff: version, typed CRUD,
# pagination, errors as ApiException, watches (it sends watch=True) with resume, the dynamic
# client walking discovery, custom objects with schema errors, and server-side apply.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3  # Debian's, where python3-kubernetes lives
if ! "$PY" -c 'import kubernetes' 2>/dev/null; then echo "python3-kubernetes not installed: skipping"; echo "0 passed, 0 failed"; exit 0; fi
start_skiff --no-agent
kubectl apply -f "$(dirname "$0")/../fixtures/crd/crontab.yaml" >/dev/null
kubectl wait --for=condition=Established crd/crontabs.stable.example.com --timeout=10s >/dev/null
cat >"$WORK/client.py" <<'PY'
import json, sys, threading, time
from kubernetes import client, config, dynamic, watch
from kubernetes.client.rest import ApiException
config.load_kube_config(config_file=sys.argv[1])
api = client.ApiClient()
core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
def say(name, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + str(detail)))

v = client.VersionApi(api).get_code()
say("version", v.major == "1" and v.git_version.startswith("v1.32"), v)

cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py"), data={"a": "1"})
created = core.create_namespaced_config_map("default", cm)
say("create", created.metadata.resource_version is not None)
say("read", core.read_namespaced_config_map("py", "default").data == {"a": "1"})
core.patch_namespaced_config_map("py", "default", {"data": {"b": "2"}})
say("patch", core.read_namespaced_config_map("py", "default").data == {"a": "1", "b": "2"})
for i in range(5):
    core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"page-{i}", labels={"set": "pages"})))
first = core.list_namespaced_config_map("default", label_selector="set=pages", limit=2)
rest = core.list_namespaced_config_map("default", label_selector="set=pages", limit=10, _continue=first.metadata._continue)
say("pagination", len(first.items) == 2 and first.metadata._continue and len(rest.items) == 3, (len(first.items), len(rest.items)))

try:
    core.read_namespaced_config_map("missing", "default")
    say("404 as ApiException", False, "no exception")
except ApiException as e:
    say("404 as ApiException", e.status == 404, e.status)
try:
    core.create_namespaced_pod("default", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad"}, "spec": {"containers": [{"name": "c"}]}})
    say("422 for an invalid object", False, "no exception")
except ApiException as e:
    say("422 for an invalid object", e.status == 422 and "image" in e.body, e.body)

dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "pyweb"},
       "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "pyweb"}},
                "template": {"metadata": {"labels": {"app": "pyweb"}}, "spec": {"containers": [{"name": "w", "image": "busybox"}]}}}}
say("typed apps/v1", apps.create_namespaced_deployment("default", dep).spec.replicas == 1)

# A watch: the client sends watch=True; events arrive as the objects change.
seen = []
rv = core.list_namespaced_config_map("default").metadata.resource_version
def watcher():
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=5):
        if ev["object"].metadata.name == "watched":
            seen.append(ev["type"])
        if ev["type"] == "DELETED" and ev["object"].metadata.name == "watched":
            w.stop()
t = threading.Thread(target=watcher); t.start()
time.sleep(0.5)
core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="watched")))
core.patch_namespaced_config_map("watched", "default", {"data": {"x": "y"}})
core.delete_namespaced_config_map("watched", "default")
t.join(10)
say("watch ADDED/MODIFIED/DELETED", seen == ["ADDED", "MODIFIED", "DELETED"], seen)
# Resume: a watch from the earlier resourceVersion replays what happened since.
replayed = [ev["type"] for ev in watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1)
            if ev["object"].metadata.name == "watched"]
say("watch resumes from a resourceVersion", replayed == ["ADDED", "MODIFIED", "DELETED"], replayed)

dyn = dynamic.DynamicClient(api)
cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
say("dynamic client via discovery", dyn.get(cms, name="py", namespace="default").data.a == "1")
crontabs = dyn.resources.get(api_version="stable.example.com/v1", kind="CronTab")
say("dynamic client finds a custom kind", crontabs.namespaced and crontabs.name == "crontabs")

co = client.CustomObjectsApi(api)
co.create_namespaced_custom_object("stable.example.com", "v1", "default", "crontabs",
    {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "nightly"}, "spec": {"cronSpec": "0 3 * * *"}})
got = co.get_namespaced_custom_object("stable.example.com", "v1", "default", "crontabs", "nightly")
say("custom objects: create and get (defaults applied)", got["spec"]["replicas"] == 1, got)
try:
    co.create_namespaced_custom_object("stable.example.com", "v1", "default", "crontabs",
        {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "bad"}, "spec": {"cronSpec": "0 3 * * *", "replicas": 50}})
    say("custom object schema error is a 422", False, "no exception")
except ApiException as e:
    say("custom object schema error is a 422", e.status == 422 and "spec.replicas" in e.body, e.body)

# This client version has no apply helper on CustomObjectsApi: the request it would send.
def apply(force):
    q = [("fieldManager", "py-apply")] + ([("force", "true")] if force else [])
    return api.call_api("/apis/stable.example.com/v1/namespaces/default/crontabs/nightly", "PATCH", query_params=q,
        header_params={"Content-Type": "application/apply-patch+yaml", "Accept": "application/json"},
        body=json.dumps({"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "nightly"}, "spec": {"cronSpec": "0 4 * * *"}}),
        response_type="object", auth_settings=["BearerToken"], _return_http_data_only=True)
try:
    apply(False)
    say("apply conflicts with the creator (named by its User-Agent)", False, "no conflict")
except ApiException as e:
    say("apply conflicts with the creator (named by its User-Agent)", e.status == 409 and 'conflict with \\"OpenAPI-Generator\\"' in e.body, e.body)
applied = apply(True)
say("server-side apply from the client, forced", applied["spec"]["cronSpec"] == "0 4 * * *" and
    any(m["manager"] == "py-apply" and m["operation"] == "Apply" for m in applied["metadata"]["managedFields"]), applied)
PY
"$PY" "$WORK/client.py" "$WORK/data/kubeconfig" >"$WORK/py.out" 2>&1 || true
while read -r verdict name; do
  case "$verdict" in
    PASS) PASSED=$((PASSED + 1)) ;;
    FAIL) FAILED=$((FAILED + 1)); echo "FAIL: $name" >&2 ;;
  esac
done <"$WORK/py.out"
# The conventions behind it, on the wire.
check "/version/ answers like /version" contains "$(api GET /version/)" '"gitVersion":"v1.32'
check "watch=maybe is refused" contains "$(api GET '/api/v1/namespaces/default/configmaps?watch=maybe')" "^400$"
check "resourceVersionMatch needs a resourceVersion" contains "$(api GET '/api/v1/configmaps?resourceVersionMatch=NotOlderThan')" \
  "resourceVersionMatch is forbidden unless resourceVersion is provided"
check "Exact at an old revision is 410 (no snapshots kept)" contains "$(api GET '/api/v1/configmaps?resourceVersion=1&resourceVersionMatch=Exact')" "^410$"
check "NotOlderThan an old revision serves the latest" contains "$(api GET '/api/v1/configmaps?resourceVersion=1&resourceVersionMatch=NotOlderThan')" "^200$"
check "the client ran to its end" grep -q "server-side apply from the client, forced" "$WORK/py.out"
[ "$FAILED" -eq 0 ] || sed 's/^/    /' "$WORK/py.out" >&2
finish
