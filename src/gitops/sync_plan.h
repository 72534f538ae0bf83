// The pure parts of a sync, as Argo CD (gitops-engine) decides them: the order objects are
// applied in, whether a live object still matches Git, how healthy it is, and the Application's
// health from its resources'. Functions over plain JSON, tested without a cluster.
#pragma once
#include <string>
#include <vector>

#include <boost/json/value.hpp>

namespace skiff::gitops {

// Argo CD's health statuses, best first (the aggregate is the worst of the resources').
enum class Health { Healthy, Suspended, Progressing, Missing, Degraded, Unknown };
const char* healthName(Health h);

struct HealthStatus {
  Health status = Health::Healthy;
  std::string message;
};

// The health of a live object: workloads by their rollout status, Jobs by completion, PVCs by
// binding, LoadBalancer Services and Ingresses by an address, Pods by phase and readiness, any
// other kind by a Ready condition when it has one (else Healthy, as Argo CD leaves kinds it has
// no check for out of the aggregate).
HealthStatus assessHealth(const boost::json::value& live);

// Worse of two (Argo CD's IsWorse order).
Health worse(Health a, Health b);

// The sync wave of an object (annotation argocd.argoproj.io/sync-wave, default 0; a value that is
// not an integer counts as 0).
int syncWave(const boost::json::value& object);

// Rank of a kind in Argo CD's apply order within a wave (namespaces, then policies, service
// accounts, secrets and config, storage, CRDs, RBAC, services, workloads, ingresses); kinds it
// does not know come last, so custom resources follow their definitions.
int kindRank(const std::string& kind);

// Indexes of `objects` in apply order: wave, kind rank, then name (stable for equal keys).
std::vector<size_t> applyOrder(const std::vector<boost::json::value>& objects);

// One place where the live object differs from Git.
struct Drift {
  std::string path;          // "spec.template.spec.containers[0].image"
  boost::json::value desired;
  boost::json::value live;   // null when live lacks the field
};

// Where `desired` says something `live` does not: what Git sets must be set the same live;
// fields only live has (defaults, status, server metadata) are not drift. metadata is compared
// on labels and annotations only.
std::vector<Drift> diffObjects(const boost::json::value& desired, const boost::json::value& live);

// Whether the object's argocd.argoproj.io/sync-options annotation holds `option` ("Prune=false").
bool hasSyncOption(const boost::json::value& object, const std::string& option);

}  // namespace skiff::gitops
