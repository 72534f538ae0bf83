// LimitRange and ResourceQuota (v1), enforced at admission as Kubernetes' LimitRanger and
// ResourceQuota plugins do:
// - LimitRange (type Container, Pod, PersistentVolumeClaim): a created pod's containers get the
//   default limits and requests they leave out (and the kubernetes.io/limit-ranger annotation),
//   then min, max and maxLimitRequestRatio are checked with Kubernetes' messages ("minimum cpu
//   usage per Container is 100m, but request is 50m").
// - ResourceQuota: a create that would take a namespace past a quota's spec.hard is refused with
//   403 "exceeded quota: <name>, requested: ..., used: ..., limited: ...", and a pod that leaves
//   out a resource a quota limits with "failed quota: <name>: must specify limits.cpu for: app".
//   Counted: pods (not finished), services, configmaps, secrets, persistentvolumeclaims,
//   count/<resource>[.<group>], requests.cpu|memory (and cpu|memory), limits.cpu|memory,
//   requests.storage; scopes BestEffort, NotBestEffort, Terminating, NotTerminating.
//   Usage is what the namespace holds when the create is admitted (one server serialises its
//   admissions per namespace; controller/resource_quota_controller.h reports it in status.used).
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "api/resources.h"
#include "common/result.h"

namespace skiff::apiserver {

class QuotaAdmission {
 public:
  struct ClusterView {
    // Objects of a kind in a namespace.
    std::function<std::vector<boost::json::value>(const api::ResourceType& type, const std::string& ns)> list;
  };
  explicit QuotaAdmission(ClusterView view) : view_(std::move(view)) {}

  // Which namespaces hold ResourceQuotas and LimitRanges (fed from a store watch by the
  // Registry), so creates elsewhere pay nothing. `storageKey` is /registry/core/<plural>/<ns>/<name>.
  void observe(const std::string& storageKey, bool exists);

  // Before validation, on create: LimitRange defaults and checks (pods, claims).
  Status limitRanges(const api::ResourceType& type, const std::string& ns, boost::json::value& object) const;
  // On create, after validation: quota. Holds the namespace's admission lock until `release` is
  // destroyed, so two creates do not both take the last unit.
  Status quota(const api::ResourceType& type, const std::string& ns, const boost::json::value& object,
               std::unique_lock<std::mutex>& release) const;

 private:
  std::mutex& namespaceLock(const std::string& ns) const;
  bool holds(const char* plural, const std::string& ns) const;
  ClusterView view_;
  mutable std::mutex observedMutex_;
  std::map<std::string, std::set<std::string>> observed_;  // "<plural>/<ns>" -> names
  mutable std::mutex locksMutex_;
  mutable std::map<std::string, std::unique_ptr<std::mutex>> locks_;
};

// The usage a namespace's objects add up to for every key `hard` names (status.used of a quota);
// `scopes` are the quota's spec.scopes.
std::map<std::string, int64_t> quotaUsage(const std::map<std::string, int64_t>& hard, const std::vector<std::string>& scopes,
                                          const std::function<std::vector<boost::json::value>(const api::ResourceType&)>& list);
// A milli-unit amount as Kubernetes prints it for a key ("500m", "2", "1Gi").
std::string quotaAmount(const std::string& key, int64_t milli);
// spec.hard of a ResourceQuota in milli-units; malformed quantities are left out.
std::map<std::string, int64_t> hardOf(const boost::json::value& quota);

}  // namespace skiff::apiserver
