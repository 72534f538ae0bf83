#include "api/resources.h"

namespace skiff::api {

// The table leaves `custom` out: built-in kinds have none.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
const std::vector<ResourceType>& builtinResources() {
  static const std::vector<ResourceType> types = {
      {"", "v1", "Namespace", "namespaces", "namespace", false, true, false, {"ns"}, {}},
      {"apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", "customresourcedefinition", false, true, false,
       {"crd", "crds"}, {"api-extensions"}},
      {"", "v1", "ConfigMap", "configmaps", "configmap", true, false, false, {"cm"}, {}},
      {"", "v1", "Secret", "secrets", "secret", true, false, false, {}, {}},
      {"", "v1", "Pod", "pods", "pod", true, true, false, {"po"}, {"all"}},
      {"", "v1", "Node", "nodes", "node", false, true, false, {"no"}, {}},
      {"", "v1", "Service", "services", "service", true, true, false, {"svc"}, {"all"}},
      {"", "v1", "Event", "events", "event", true, false, false, {"ev"}, {}},
      {"events.k8s.io", "v1", "Event", "events", "event", true, false, false, {}, {}},  // stored as core/v1 (api/conversion.h)
      {"", "v1", "Endpoints", "endpoints", "endpoints", true, false, false, {"ep"}, {}},
      {"", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", true, false, false, {"sa"}, {}},
      {"", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", true, true, false, {"pvc"}, {}},
      {"", "v1", "ResourceQuota", "resourcequotas", "resourcequota", true, true, false, {"quota"}, {}},
      {"", "v1", "LimitRange", "limitranges", "limitrange", true, false, false, {"limits"}, {}},
      {"", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", false, true, false, {"pv"}, {}},
      {"storage.k8s.io", "v1", "StorageClass", "storageclasses", "storageclass", false, false, false, {"sc"}, {}},
      {"discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", true, false, false, {}, {}},
      {"coordination.k8s.io", "v1", "Lease", "leases", "lease", true, false, false, {}, {}},
      {"scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", "priorityclass", false, false, false, {"pc"}, {}},
      {"apps", "v1", "Deployment", "deployments", "deployment", true, true, true, {"deploy"}, {"all"}},
      {"apps", "v1", "ReplicaSet", "replicasets", "replicaset", true, true, true, {"rs"}, {"all"}},
      {"apps", "v1", "DaemonSet", "daemonsets", "daemonset", true, true, false, {"ds"}, {"all"}},
      {"apps", "v1", "StatefulSet", "statefulsets", "statefulset", true, true, true, {"sts"}, {"all"}},
      {"policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", true, true, false, {"pdb"}, {}},
      {"batch", "v1", "Job", "jobs", "job", true, true, false, {}, {"all"}},
      {"autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler", true, true, false, {"hpa"}, {"all"}},
      // Served for kubectl autoscale and older clients; stored as v2 (api/conversion.h). After v2 so v2 is preferred.
      {"autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler", true, true, false, {"hpa"}, {"all"}},
      {"batch", "v1", "CronJob", "cronjobs", "cronjob", true, true, false, {"cj"}, {"all"}},
      {"networking.k8s.io", "v1", "Ingress", "ingresses", "ingress", true, true, false, {"ing"}, {}},
      {"networking.k8s.io", "v1", "IngressClass", "ingressclasses", "ingressclass", false, false, false, {}, {}},
      {"gateway.networking.k8s.io", "v1", "GatewayClass", "gatewayclasses", "gatewayclass", false, true, false, {"gc"}, {"gateway-api"}},
      {"gateway.networking.k8s.io", "v1", "Gateway", "gateways", "gateway", true, true, false, {"gtw"}, {"gateway-api"}},
      {"gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes", "httproute", true, true, false, {}, {"gateway-api"}},
      {"gateway.networking.k8s.io", "v1", "GRPCRoute", "grpcroutes", "grpcroute", true, true, false, {}, {"gateway-api"}},
      {"gateway.networking.k8s.io", "v1", "TLSRoute", "tlsroutes", "tlsroute", true, true, false, {}, {"gateway-api"}},
      // The experimental channel's version, for manifests written before TLSRoute went GA; stored as v1.
      {"gateway.networking.k8s.io", "v1alpha2", "TLSRoute", "tlsroutes", "tlsroute", true, true, false, {}, {"gateway-api"}},
      {"gateway.networking.k8s.io", "v1alpha2", "TCPRoute", "tcproutes", "tcproute", true, true, false, {}, {"gateway-api"}},
      {"gateway.networking.k8s.io", "v1alpha2", "UDPRoute", "udproutes", "udproute", true, true, false, {}, {"gateway-api"}},
      {"gateway.networking.k8s.io", "v1beta1", "ReferenceGrant", "referencegrants", "referencegrant", true, false, false, {"refgrant"}, {"gateway-api"}},
      {"certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests", "certificatesigningrequest", false, true, false, {"csr"}, {}},
      {"rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", false, false, false, {}, {}},
      {"rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", false, false, false, {}, {}},
      {"rbac.authorization.k8s.io", "v1", "Role", "roles", "role", true, false, false, {}, {}},
      {"rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", true, false, false, {}, {}},
      {"authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", "selfsubjectaccessreview", false, false, false, {}, {}, nullptr, true},
      {"authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", "selfsubjectrulesreview", false, false, false, {}, {}, nullptr, true},
      {"authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", "subjectaccessreview", false, false, false, {}, {}, nullptr, true},
      {"authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews", "localsubjectaccessreview", true, false, false, {}, {}, nullptr, true},
      {"authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", "selfsubjectreview", false, false, false, {}, {}, nullptr, true},
      {"authentication.k8s.io", "v1", "TokenReview", "tokenreviews", "tokenreview", false, false, false, {}, {}, nullptr, true},
      {"security.istio.io", "v1", "AuthorizationPolicy", "authorizationpolicies", "authorizationpolicy", true, false, false, {"ap"}, {}},
  };
  return types;
}
#pragma GCC diagnostic pop

const ResourceType* findByPlural(std::string_view group, std::string_view version, std::string_view plural) {
  for (const auto& t : builtinResources())
    if (t.group == group && t.version == version && t.plural == plural) return &t;
  return nullptr;
}

const ResourceType* findByKind(std::string_view apiVersion, std::string_view kind) {
  for (const auto& t : builtinResources())
    if (t.apiVersion() == apiVersion && t.kind == kind) return &t;
  return nullptr;
}

std::vector<GroupVersion> servedGroupVersions() {
  std::vector<GroupVersion> out;
  for (const auto& t : builtinResources()) {
    bool seen = false;
    for (const auto& gv : out) seen = seen || (gv.group == t.group && gv.version == t.version);
    if (!seen) out.push_back({t.group, t.version});
  }
  return out;
}

}  // namespace skiff::api
