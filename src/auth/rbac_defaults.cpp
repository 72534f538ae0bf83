#include "auth/rbac_defaults.h"

#include <boost/json.hpp>

#include <string>

#include "api/codec.h"

namespace skiff::auth {
namespace json = boost::json;

namespace {
const char* const kReadWrite = R"(["create","delete","deletecollection","patch","update"])";
const char* const kRead = R"(["get","list","watch"])";

// rules as YAML flow lists: one "- {apiGroups: [...], resources: [...], verbs: V}" per line.
struct Role {
  const char* name;
  const char* labels;       // extra labels (YAML flow map body) or ""
  const char* aggregateTo;  // label key suffix of the aggregationRule, or "" (rules below)
  std::string rules;
};

std::string rule(const char* groups, const char* resources, const char* verbs) {
  return std::string("  - {apiGroups: ") + groups + ", resources: " + resources + ", verbs: " + verbs + "}\n";
}
std::string urls(const char* paths, const char* verbs) {
  return std::string("  - {nonResourceURLs: ") + paths + ", verbs: " + verbs + "}\n";
}

std::vector<Role> roles() {
  return {
      {"cluster-admin", "", "", rule("[\"*\"]", "[\"*\"]", "[\"*\"]") + urls("[\"*\"]", "[\"*\"]")},
      {"admin", "", "admin", ""},
      {"edit", "rbac.authorization.k8s.io/aggregate-to-admin: \"true\"", "edit", ""},
      {"view", "rbac.authorization.k8s.io/aggregate-to-edit: \"true\"", "view", ""},
      {"system:aggregate-to-admin", "rbac.authorization.k8s.io/aggregate-to-admin: \"true\"", "",
       rule("[authorization.k8s.io]", "[localsubjectaccessreviews]", "[create]") +
           rule("[rbac.authorization.k8s.io]", "[rolebindings, roles]", R"(["create","delete","deletecollection","get","list","patch","update","watch"])")},
      {"system:aggregate-to-edit", "rbac.authorization.k8s.io/aggregate-to-edit: \"true\"", "",
       rule("[\"\"]", "[pods/attach, pods/exec, pods/portforward, pods/proxy, secrets, services/proxy]", kRead) +
           rule("[\"\"]", "[serviceaccounts]", "[impersonate]") +
           rule("[\"\"]", "[pods, pods/attach, pods/exec, pods/portforward, pods/proxy]", kReadWrite) +
           rule("[\"\"]", "[pods/eviction]", "[create]") +
           rule("[\"\"]", "[configmaps, events, persistentvolumeclaims, replicationcontrollers, replicationcontrollers/scale, secrets, "
                          "serviceaccounts, services, services/proxy]", kReadWrite) +
           rule("[\"\"]", "[serviceaccounts/token]", "[create]") +
           rule("[apps]", "[daemonsets, deployments, deployments/rollback, deployments/scale, replicasets, replicasets/scale, statefulsets, "
                          "statefulsets/scale]", kReadWrite) +
           rule("[autoscaling]", "[horizontalpodautoscalers]", kReadWrite) + rule("[batch]", "[cronjobs, jobs]", kReadWrite) +
           rule("[policy]", "[poddisruptionbudgets]", kReadWrite) +
           rule("[networking.k8s.io]", "[ingresses, networkpolicies]", kReadWrite) +
           rule("[coordination.k8s.io]", "[leases]", R"(["create","delete","deletecollection","get","list","patch","update","watch"])")},
      {"system:aggregate-to-view", "rbac.authorization.k8s.io/aggregate-to-view: \"true\"", "",
       rule("[\"\"]", "[configmaps, endpoints, persistentvolumeclaims, persistentvolumeclaims/status, pods, replicationcontrollers, "
                      "replicationcontrollers/scale, serviceaccounts, services, services/status]", kRead) +
           rule("[\"\"]", "[bindings, events, limitranges, namespaces/status, pods/log, pods/status, replicationcontrollers/status, "
                          "resourcequotas, resourcequotas/status]", kRead) +
           rule("[\"\"]", "[namespaces]", kRead) + rule("[discovery.k8s.io]", "[endpointslices]", kRead) +
           rule("[apps]", "[controllerrevisions, daemonsets, daemonsets/status, deployments, deployments/scale, deployments/status, "
                          "replicasets, replicasets/scale, replicasets/status, statefulsets, statefulsets/scale, statefulsets/status]", kRead) +
           rule("[autoscaling]", "[horizontalpodautoscalers, horizontalpodautoscalers/status]", kRead) +
           rule("[batch]", "[cronjobs, cronjobs/status, jobs, jobs/status]", kRead) +
           rule("[policy]", "[poddisruptionbudgets, poddisruptionbudgets/status]", kRead) +
           rule("[networking.k8s.io]", "[ingresses, ingresses/status, networkpolicies]", kRead)},
      // skiff's built-in add-on kinds, as their projects' own aggregated roles add them.
      {"skiff:aggregate-to-view", "rbac.authorization.k8s.io/aggregate-to-view: \"true\"", "",
       rule("[gateway.networking.k8s.io]", "[\"*\"]", kRead) + rule("[security.istio.io]", "[authorizationpolicies]", kRead) +
           rule("[events.k8s.io]", "[events]", kRead) + rule("[metrics.k8s.io]", "[pods, nodes]", kRead)},
      {"skiff:aggregate-to-edit", "rbac.authorization.k8s.io/aggregate-to-edit: \"true\"", "",
       rule("[gateway.networking.k8s.io]", "[gateways, httproutes, grpcroutes, tlsroutes, tcproutes, udproutes, referencegrants]", kReadWrite) +
           rule("[security.istio.io]", "[authorizationpolicies]", kReadWrite) + rule("[events.k8s.io]", "[events]", kReadWrite)},
      {"system:discovery", "", "",
       urls("[/api, /api/*, /apis, /apis/*, /healthz, /livez, /openapi, /openapi/*, /readyz, /version, /version/]", "[get]")},
      {"system:basic-user", "", "",
       rule("[authorization.k8s.io]", "[selfsubjectaccessreviews, selfsubjectrulesreviews]", "[create]") +
           rule("[authentication.k8s.io]", "[selfsubjectreviews]", "[create]")},
      {"system:public-info-viewer", "", "", urls("[/healthz, /livez, /readyz, /version, /version/]", "[get]")},
      // /metrics/cadvisor: skiff's API server also serves its nodes' container series there.
      {"system:monitoring", "", "",
       urls("[/healthz, /healthz/*, /livez, /livez/*, /metrics, /metrics/cadvisor, /metrics/slis, /readyz, /readyz/*]", "[get]")},
      {"system:auth-delegator", "", "",
       rule("[authentication.k8s.io]", "[tokenreviews]", "[create]") + rule("[authorization.k8s.io]", "[subjectaccessreviews]", "[create]")},
      {"system:node-bootstrapper", "", "", rule("[certificates.k8s.io]", "[certificatesigningrequests]", R"(["create","get","list","watch"])")},
  };
}

json::value parseOne(const std::string& yaml) {
  auto docs = api::decodeManifests(yaml);
  // The documents above are fixed text: a failure here is a programming error caught by the tests.
  if (!docs || docs->size() != 1) return nullptr;
  return std::move((*docs)[0]);
}

std::string metadata(const std::string& name, const std::string& labels) {
  return "metadata:\n  name: \"" + name + "\"\n  labels: {kubernetes.io/bootstrapping: rbac-defaults" +
         (labels.empty() ? "" : ", " + labels) + "}\n  annotations: {rbac.authorization.kubernetes.io/autoupdate: \"true\"}\n";
}
}  // namespace

std::vector<json::value> defaultClusterRoles() {
  std::vector<json::value> out;
  for (const Role& r : roles()) {
    std::string y = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n" + metadata(r.name, r.labels);
    if (*r.aggregateTo)
      y += std::string("aggregationRule:\n  clusterRoleSelectors:\n  - matchLabels: {rbac.authorization.k8s.io/aggregate-to-") + r.aggregateTo +
           ": \"true\"}\nrules: []\n";
    else
      y += "rules:\n" + r.rules;
    out.push_back(parseOne(y));
  }
  return out;
}

std::vector<json::value> defaultClusterRoleBindings() {
  struct Binding {
    const char* name;
    const char* role;
    std::vector<const char*> groups;
  };
  const std::vector<Binding> bindings = {
      {"cluster-admin", "cluster-admin", {"system:masters"}},
      {"system:discovery", "system:discovery", {"system:authenticated"}},
      {"system:basic-user", "system:basic-user", {"system:authenticated"}},
      {"system:public-info-viewer", "system:public-info-viewer", {"system:authenticated", "system:unauthenticated"}},
      {"system:monitoring", "system:monitoring", {"system:monitoring"}},
      {"system:node-bootstrapper", "system:node-bootstrapper", {"system:bootstrappers"}},
  };
  std::vector<json::value> out;
  for (const Binding& b : bindings) {
    std::string y = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n" + metadata(b.name, "") +
                    "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: \"" + b.role + "\"}\nsubjects:\n";
    for (const char* g : b.groups) y += std::string("  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: \"") + g + "\"}\n";
    out.push_back(parseOne(y));
  }
  return out;
}

}  // namespace skiff::auth
