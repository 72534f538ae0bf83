#!/usr/bin/env bash
# RBAC as Kubernetes users meet it: people get kubeconfigs with client certificates
# (`skiff kubeconfig create`), roles and bindings decide what they and service accounts may do,
# nobody grants what they do not hold, `kubectl auth can-i` / `whoami` / `--as` work, and the
# default roles are there (and come back after a restart when deleted).
source "$(dirname "$0")/lib.sh"
start_skiff
kubectl create namespace shop >/dev/null
kubectl create namespace bank >/dev/null

# People, by client certificate.
"$SKIFF" kubeconfig create viewer --group team-a >"$WORK/viewer.kubeconfig"
"$SKIFF" kubeconfig create editor >"$WORK/editor.kubeconfig"
"$SKIFF" kubeconfig create prom --group system:monitoring --expires 1h >"$WORK/prom.kubeconfig"
V=(--kubeconfig "$WORK/viewer.kubeconfig")
E=(--kubeconfig "$WORK/editor.kubeconfig")
out=$(kubectl "${V[@]}" auth whoami 2>&1 || true)
check "a created kubeconfig is its user, with its groups" contains "$out" "viewer"
check "… and its group" contains "$out" "team-a"
out=$(kubectl "${V[@]}" get pods -n shop 2>&1 || true)
check "a user with no binding may do nothing" contains "$out" 'User "viewer" cannot list resource "pods"'

kubectl create rolebinding viewer-view -n shop --clusterrole=view --group=team-a >/dev/null
kubectl create rolebinding editor-edit -n shop --clusterrole=edit --user=editor >/dev/null
kubectl create secret generic pw -n shop --from-literal=password=s3cret >/dev/null
kubectl run web -n shop --image=busybox --restart=Never -- sleep 3600 >/dev/null
check "view (bound to the user's group) lists pods" kubectl "${V[@]}" get pods -n shop
out=$(kubectl "${V[@]}" get secrets -n shop 2>&1 || true)
check "view cannot read Secrets" contains "$out" 'cannot list resource "secrets" in API group "" in the namespace "shop"'
out=$(kubectl "${V[@]}" create secret generic x -n shop --from-literal=a=b 2>&1 || true)
check "view cannot create Secrets" contains "$out" 'cannot create resource "secrets"'
out=$(kubectl "${V[@]}" get pods -n bank 2>&1 || true)
check "a RoleBinding reaches only its namespace" contains "$out" 'cannot list resource "pods" in API group "" in the namespace "bank"'
out=$(kubectl "${V[@]}" exec -n shop web -- true 2>&1 || true)
check "view cannot exec into pods" contains "$out" 'cannot create resource "pods/exec"'
out=$(kubectl "${V[@]}" get --raw /metrics 2>&1 || true)
check "view cannot read /metrics" contains "$out" 'Forbidden'
check "system:monitoring reads /metrics" kubectl --kubeconfig "$WORK/prom.kubeconfig" get --raw /metrics
out=$(kubectl "${V[@]}" get pods -n shop --as editor 2>&1 || true)
check "impersonation needs the impersonate verb" contains "$out" 'cannot impersonate resource "users"'

# can-i, as a person and for another.
check "can-i: view may list pods" test "$(kubectl "${V[@]}" auth can-i list pods -n shop)" = yes
check "can-i: view may not get secrets" test "$(kubectl "${V[@]}" auth can-i get secrets -n shop || true)" = no
list=$(kubectl auth can-i --list -n shop --as viewer --as-group team-a)
check "can-i --list shows view's rules" contains "$list" 'deployments.apps .*\[get list watch\]'
check "… and not Secrets" lacks "$list" '^secrets '
check "can-i --as reads another user's grants" test "$(kubectl auth can-i create deployments -n shop --as editor)" = yes

# Edit: workloads yes, RBAC no; nobody grants what they do not hold.
check "edit creates deployments" kubectl "${E[@]}" create deployment api -n shop --image=busybox
out=$(kubectl "${E[@]}" create role reader -n shop --verb=get --resource=pods 2>&1 || true)
check "edit cannot create Roles" contains "$out" 'cannot create resource "roles"'
kubectl create rolebinding editor-admin -n shop --clusterrole=admin --user=editor >/dev/null
out=$(kubectl "${E[@]}" create rolebinding take-all -n shop --clusterrole=cluster-admin --user=editor 2>&1 || true)
check "an admin of a namespace cannot bind cluster-admin" contains "$out" 'is attempting to grant RBAC permissions not currently held'
out=$(kubectl "${E[@]}" create role nodes -n shop --verb=get --resource=nodes 2>&1 || true)
check "… nor write a Role with rules it does not hold" contains "$out" '{APIGroups:\[""\], Resources:\["nodes"\], Verbs:\["get"\]}'
check "… but may grant what it holds" kubectl "${E[@]}" create role reader -n shop --verb=get,list --resource=pods
check "… and bind it" kubectl "${E[@]}" create rolebinding reader -n shop --role=reader --serviceaccount=shop:default

# A service account gets exactly what its bindings say (the token of `kubectl create token`).
SA=$(kubectl create token default -n shop)
sa() { curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" -H "Authorization: Bearer $SA" "$SERVER$1"; }
check "a service account lists pods as its Role allows" test "$(sa /api/v1/namespaces/shop/pods)" = 200
check "… but not Secrets" test "$(sa /api/v1/namespaces/shop/secrets)" = 403
check "… nor another namespace" test "$(sa /api/v1/namespaces/bank/pods)" = 403
check "… nor watch (the Role says get, list)" test "$(sa '/api/v1/namespaces/shop/pods?watch=true&timeoutSeconds=1')" = 403
kubectl delete rolebinding reader -n shop >/dev/null
check "removing the binding takes the right away at once" test "$(sa /api/v1/namespaces/shop/pods)" = 403

# Aggregation: a ClusterRole labelled aggregate-to-view joins view.
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: widgets-view
  labels: {rbac.authorization.k8s.io/aggregate-to-view: "true"}
rules:
- {apiGroups: [example.com], resources: [widgets], verbs: [get, list, watch]}
YAML
check "an aggregated role picks up rules labelled for it" wait_for "view aggregates widgets" 10 \
  sh -c "kubectl get clusterrole view -o jsonpath='{.rules[*].resources}' | grep -q widgets"
check "… and admin, through edit" wait_for "admin aggregates widgets" 10 \
  sh -c "kubectl get clusterrole admin -o jsonpath='{.rules[*].resources}' | grep -q widgets"

# Bad input: clear messages with field paths.
out=$(printf 'apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: bad, namespace: shop}\nrules:\n- {apiGroups: [""], resources: [pods]}\n' | kubectl apply -f - 2>&1 || true)
check "a rule without verbs is refused with its field" contains "$out" 'rules\[0\].verbs'
out=$(printf 'apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: bad, namespace: shop}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Nope, name: x}\nsubjects: [{kind: User, name: u, apiGroup: rbac.authorization.k8s.io}]\n' | kubectl apply -f - 2>&1 || true)
check "a binding to an unknown kind of role is refused" contains "$out" 'roleRef.kind'
out=$(kubectl patch rolebinding viewer-view -n shop --type=merge -p '{"roleRef":{"name":"edit"}}' 2>&1 || true)
check "roleRef cannot change" contains "$out" 'cannot change roleRef'

# The default roles: there, and put back after a restart when deleted.
for r in cluster-admin admin edit view system:discovery system:basic-user system:public-info-viewer; do
  check "default ClusterRole $r exists" kubectl get clusterrole "$r"
done
kubectl delete clusterrolebinding system:basic-user >/dev/null
stop_skiff
start_skiff
check "a deleted default binding is back after a restart" kubectl get clusterrolebinding system:basic-user
check "… and people's bindings survived" test "$(kubectl auth can-i list pods -n shop --as viewer --as-group team-a)" = yes
finish
