// The PodSecurity admission plugin (api/pod_security.h) at the Registry's write path:
// - Pods (create, updates that change what the checks read, ephemeral containers): refused
//   with 403 when they violate the namespace's enforce level ("pods "x" is forbidden: violates
//   PodSecurity "restricted:latest": ..."), a warning when they violate its warn level.
// - Workloads with pod templates: warnings only (their pods are judged when they are made).
// - Namespaces: bad pod-security labels are refused with the label named; a new enforce level
//   warns about the namespace's existing pods that violate it (they keep running).
// Audit-level violations are not recorded (skiff has no audit log yet).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "api/resources.h"
#include "common/result.h"

namespace skiff::apiserver {

class PodSecurityAdmission {
 public:
  struct ClusterView {
    std::function<std::optional<boost::json::value>(const std::string& ns)> getNamespace;
    std::function<std::vector<boost::json::value>(const std::string& ns)> listPods;
  };
  explicit PodSecurityAdmission(ClusterView view) : view_(std::move(view)) {}
  // `old` is the stored object on updates (nullptr on create); `warnings` may be null.
  Status admit(const api::ResourceType& type, const std::string& ns, const boost::json::value& object, const boost::json::value* old,
               const std::string& subresource, std::vector<std::string>* warnings) const;

 private:
  Status admitPod(const std::string& ns, const boost::json::value& pod, const boost::json::value* old, std::vector<std::string>* warnings) const;
  void warnTemplate(const api::ResourceType& type, const std::string& ns, const boost::json::value& object, const boost::json::value* old,
                    std::vector<std::string>* warnings) const;
  Status admitNamespace(const boost::json::value& ns, const boost::json::value* old, std::vector<std::string>* warnings) const;
  ClusterView view_;
};

}  // namespace skiff::apiserver
