#include "auth/authorizer.h"

#include <boost/json.hpp>

#include <algorithm>
#include <set>

#include "api/object.h"
#include "auth/bootstrap_token.h"

namespace skiff::auth {
namespace json = boost::json;
namespace {

bool isReadVerb(const std::string& v) { return v == "get" || v == "list" || v == "watch"; }

bool isDiscovery(const RequestInfo& r) {
  if (r.isResource || r.verb != "get") return false;
  const std::string& p = r.path;
  return p == "/api" || p == "/api/" || p == "/apis" || p == "/apis/" || p.starts_with("/api/") || p.starts_with("/apis/") ||
         p.starts_with("/openapi") || p.starts_with("/version");
}

Decision allow() { return {true, ""}; }
Decision deny(const UserInfo& user, const RequestInfo& r, const std::string& why) {
  return {false, forbiddenMessage(user.name, r) + (why.empty() ? "" : ": " + why)};
}

// Kinds every node reads cluster-wide: what its agent, DNS server and proxy watch.
bool nodeReadsEverywhere(const RequestInfo& r) {
  static const std::set<std::pair<std::string, std::string>> kinds = {
      {"", "nodes"}, {"", "pods"}, {"", "services"}, {"", "endpoints"}, {"", "namespaces"},
      {"discovery.k8s.io", "endpointslices"}, {"security.istio.io", "authorizationpolicies"},
      {"networking.k8s.io", "ingresses"}, {"networking.k8s.io", "ingressclasses"}};
  if (!r.subresource.empty() && !(r.resource == "nodes" && r.subresource == "status") && !(r.resource == "pods" && r.subresource == "status"))
    return false;
  return kinds.count({r.apiGroup, r.resource}) > 0 || r.apiGroup == "gateway.networking.k8s.io";
}

void addName(std::vector<std::string>& to, const json::value* v) {
  if (v && v->is_string() && !v->as_string().empty()) to.emplace_back(v->as_string());
}
}  // namespace

PodReferences podReferencesOf(const json::value& pod) {
  PodReferences p;
  p.ns = api::stringAt(pod, "metadata.namespace");
  p.name = api::stringAt(pod, "metadata.name");
  p.nodeName = api::stringAt(pod, "spec.nodeName");
  p.serviceAccount = api::stringAt(pod, "spec.serviceAccountName");
  if (p.serviceAccount.empty()) p.serviceAccount = "default";
  const json::object* spec = pod.is_object() && pod.as_object().if_contains("spec") ? pod.as_object().at("spec").if_object() : nullptr;
  if (!spec) return p;
  if (const json::value* ips = spec->if_contains("imagePullSecrets"); ips && ips->is_array())
    for (const auto& s : ips->as_array()) addName(p.secrets, s.is_object() ? s.as_object().if_contains("name") : nullptr);
  if (const json::value* vols = spec->if_contains("volumes"); vols && vols->is_array())
    for (const auto& v : vols->as_array()) {
      addName(p.secrets, api::valueAt(v, "secret.secretName"));
      addName(p.configMaps, api::valueAt(v, "configMap.name"));
      addName(p.claims, api::valueAt(v, "persistentVolumeClaim.claimName"));
      if (const json::value* sources = api::valueAt(v, "projected.sources"); sources && sources->is_array())
        for (const auto& s : sources->as_array()) {
          addName(p.secrets, api::valueAt(s, "secret.name"));
          addName(p.configMaps, api::valueAt(s, "configMap.name"));
        }
    }
  for (const char* list : {"initContainers", "containers", "ephemeralContainers"}) {
    const json::value* cs = spec->if_contains(list);
    if (!cs || !cs->is_array()) continue;
    for (const auto& c : cs->as_array()) {
      if (const json::value* from = api::valueAt(c, "envFrom"); from && from->is_array())
        for (const auto& f : from->as_array()) {
          addName(p.secrets, api::valueAt(f, "secretRef.name"));
          addName(p.configMaps, api::valueAt(f, "configMapRef.name"));
        }
      if (const json::value* env = api::valueAt(c, "env"); env && env->is_array())
        for (const auto& e : env->as_array()) {
          addName(p.secrets, api::valueAt(e, "valueFrom.secretKeyRef.name"));
          addName(p.configMaps, api::valueAt(e, "valueFrom.configMapKeyRef.name"));
        }
    }
  }
  return p;
}

Decision Authorizer::authorize(const UserInfo& user, const RequestInfo& r) const {
  Decision d = special(user, r);
  if (d.allowed || !view_.rbac || !view_.rbac->allows(user, r)) return d;
  return allow();
}

Decision Authorizer::special(const UserInfo& user, const RequestInfo& r) const {
  if (user.inGroup(kMasters)) return allow();
  if (user.name == kAnonymous || user.inGroup(kUnauthenticated)) {
    if (r.isResource && r.verb == "get" && r.apiGroup.empty() && r.resource == "configmaps" && r.ns == kClusterInfoNamespace &&
        r.name == kClusterInfoName)
      return allow();
    return deny(user, r, "anonymous requests may only read kube-public/cluster-info; send a bearer token or a client certificate");
  }
  if (isDiscovery(r)) return allow();
  if (std::string n = user.nodeName(); !n.empty()) return node(user, n, r);
  if (user.inGroup(kBootstrappers)) {
    if (r.isResource && r.apiGroup == "certificates.k8s.io" && r.resource == "certificatesigningrequests" && r.subresource.empty() &&
        (r.verb == "create" || isReadVerb(r.verb)))
      return allow();
    return deny(user, r, "a bootstrap token may only request a node certificate (certificatesigningrequests)");
  }
  return deny(user, r, "");
}

bool Authorizer::usedByPodOn(const std::string& nodeName, const RequestInfo& r) const {
  if (!view_.podsOnNode || r.name.empty()) return false;
  for (const auto& p : view_.podsOnNode(nodeName)) {
    if (p.ns != r.ns) continue;
    const std::vector<std::string>* names = r.resource == "secrets" ? &p.secrets : r.resource == "configmaps" ? &p.configMaps
                                            : r.resource == "persistentvolumeclaims" ? &p.claims : nullptr;
    if (names && std::find(names->begin(), names->end(), r.name) != names->end()) return true;
    if (r.resource == "serviceaccounts" && p.serviceAccount == r.name) return true;
    if (r.resource == "pods" && p.name == r.name) return true;
  }
  return false;
}

Decision Authorizer::node(const UserInfo& user, const std::string& n, const RequestInfo& r) const {
  if (!r.isResource) return deny(user, r, "nodes may read discovery only");
  const std::string& v = r.verb;
  if (isReadVerb(v) && nodeReadsEverywhere(r)) return allow();
  const std::string& res = r.resource;
  if (r.apiGroup.empty() && res == "nodes") {
    // Its own Node only (a create names itself in the body: checked there).
    if (v == "create" && r.subresource.empty()) return allow();
    if ((v == "update" || v == "patch" || v == "delete") && r.name == n && (r.subresource.empty() || r.subresource == "status")) return allow();
    return deny(user, r, "a node may only change its own Node object");
  }
  if (r.apiGroup == "coordination.k8s.io" && res == "leases" && r.ns == "kube-node-lease") {
    if (v == "create" || ((isReadVerb(v) || v == "update" || v == "patch" || v == "delete") && r.name == n)) return allow();
    return deny(user, r, "a node may only use its own Lease in kube-node-lease");
  }
  if (r.apiGroup.empty() && res == "pods") {
    if ((((v == "update" || v == "patch") && r.subresource == "status") || (v == "delete" && r.subresource.empty())) && usedByPodOn(n, r))
      return allow();
    return deny(user, r, "a node may only change the status of (and delete) pods bound to it");
  }
  if ((r.apiGroup.empty() && res == "events") || (r.apiGroup == "events.k8s.io" && res == "events")) {
    if (v == "create" || v == "update" || v == "patch") return allow();
    return deny(user, r, "nodes may only record events");
  }
  if (r.apiGroup == "certificates.k8s.io" && res == "certificatesigningrequests" && r.subresource.empty() && (v == "create" || isReadVerb(v)))
    return allow();
  if (r.apiGroup.empty() && res == "secrets" && (v == "list" || v == "watch") && r.fieldSelector == "type=kubernetes.io/tls")
    return allow();
  if (r.apiGroup.empty() && (res == "secrets" || res == "configmaps" || res == "persistentvolumeclaims" || res == "serviceaccounts")) {
    bool token = res == "serviceaccounts" && r.subresource == "token" && v == "create";
    if (((v == "get" && r.subresource.empty()) || token) && usedByPodOn(n, r)) return allow();
    return deny(user, r, "no relationship found between node '" + n + "' and this object");
  }
  if (r.apiGroup.empty() && res == "persistentvolumes" && v == "get") return allow();
  // The node proxy is the Gateway API's controller on every node: it reports the status of the
  // classes, gateways and routes it serves (as istiod does with its own rights).
  if (r.apiGroup == "gateway.networking.k8s.io" && r.subresource == "status" && (v == "update" || v == "patch")) return allow();
  // … and the Ingress controller: it reports the node's address in each Ingress it serves.
  if (r.apiGroup == "networking.k8s.io" && res == "ingresses" && r.subresource == "status" && (v == "update" || v == "patch")) return allow();
  return deny(user, r, "");
}

}  // namespace skiff::auth
