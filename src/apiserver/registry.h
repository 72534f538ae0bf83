// Registry: Kubernetes object semantics on top of the Store, independent of HTTP.
//
// It owns everything between a decoded request and the stored bytes: names and generateName,
// uid/creationTimestamp/generation/resourceVersion, defaulting, schema and validation,
// optimistic concurrency, the status subresource, graceful deletion with finalizers, no-op
// update detection, selectors, pagination and watch event translation. The HTTP layer and
// in-process components (controllers, the agent) both call it.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "api/requests.h"
#include "api/resources.h"
#include "apiserver/pod_security_admission.h"
#include "apiserver/quota_admission.h"
#include "api/schema.h"
#include "api/selector.h"
#include "common/result.h"
#include "apiserver/shared_encodings.h"
#include "store/store.h"

namespace skiff::apiserver {

namespace json = boost::json;

// The request shapes are the API's own (src/api/requests.h), shared with the client layer.
using api::DeleteOptions;
using api::ListOptions;
using api::ListResult;
using api::PatchType;
using api::WatchEvent;
using api::WriteOptions;

struct RegistryOptions {
  std::string serviceCidr = "127.19.0.0/16";  // cluster IPs; loopback because pods share the host network for now
  int nodePortMin = 30000, nodePortMax = 32767;
};

class Registry {
 public:
  explicit Registry(store::Store& store, RegistryOptions options = {});

  Result<json::value> create(const api::ResourceType& type, const std::string& ns, json::value object,
                             const WriteOptions& options = {});
  Result<json::value> get(const api::ResourceType& type, const std::string& ns, const std::string& name);
  // parse=false lets an unfiltered list hand back stored bytes without decoding them.
  Result<ListResult> list(const api::ResourceType& type, const std::string& ns, const ListOptions& options,
                          bool parse = true);
  // PUT. subresource is "" or "status".
  Result<json::value> update(const api::ResourceType& type, const std::string& ns, const std::string& name,
                             json::value object, const std::string& subresource, const WriteOptions& options = {});
  Result<json::value> patch(const api::ResourceType& type, const std::string& ns, const std::string& name,
                            PatchType patchType, const json::value& patch, const std::string& subresource,
                            const WriteOptions& options = {});
  // Binds a pending pod to a node: spec.nodeName and the PodScheduled condition in one write,
  // as the pods/binding subresource does. Conflict if the pod is already bound.
  Result<json::value> bind(const std::string& ns, const std::string& name, const std::string& node);

  // Returns the object as last stored: deleted, or marked for deletion when finalizers or a
  // grace period hold it.
  Result<json::value> remove(const api::ResourceType& type, const std::string& ns, const std::string& name,
                             const DeleteOptions& options = {});

  // Events after `afterRevision` (0 = start with ADDED for every current object). Selectors
  // turn objects that stop matching into DELETED and start matching into ADDED.
  Result<std::unique_ptr<store::Watch>> watch(const api::ResourceType& type, const std::string& ns,
                                              api::LabelSelector labels, api::FieldSelector fields,
                                              int64_t afterRevision, std::function<void(WatchEvent)> sink,
                                              int64_t* startRevision = nullptr);

  // Writes every stored object of `type` again, unchanged but for its resourceVersion, so the
  // store transforms it as it now would (re-encryption after a key change). Returns how many.
  Result<size_t> rewriteAll(const api::ResourceType& type);

  // Creates default, kube-system, kube-public and kube-node-lease if missing, and starts
  // following the namespaces' ResourceQuotas and LimitRanges (admission reads them).
  Status bootstrap();

  store::Store& store() { return store_; }

 private:
  // Read-modify-write with optimistic concurrency; retried on conflict when `retry`.
  // `applying`: the mutation is a server-side apply, which computes managedFields itself.
  Result<json::value> updateWith(const api::ResourceType& type, const std::string& ns, const std::string& name,
                                 const std::string& subresource, const WriteOptions& options, bool retry,
                                 const std::function<Result<json::value>(const json::value&)>& mutate, bool applying = false);
  Result<json::value> createObject(const api::ResourceType& type, const std::string& ns, json::value object, const WriteOptions& options,
                                   const json::value* appliedFields);
  // Server-side apply (PatchType::Apply): creates the object when it does not exist.
  Result<json::value> apply(const api::ResourceType& type, const std::string& ns, const std::string& name, const json::value& applied,
                            const std::string& subresource, const WriteOptions& options);
  Status checkNamespace(const api::ResourceType& type, const std::string& ns);
  Result<json::value> writeUpdate(const api::ResourceType& type, const std::string& key, int64_t expectedRevision,
                                  json::value object, bool dryRun);

  // Cluster IPs and node ports are claimed as store keys (/registry/ranges/...), so two creates
  // never get the same one and claims survive restarts.
  Status allocateServiceAddresses(json::value& service);
  Status resolvePriority(json::value& pod);
  void defaultIngressClass(json::value& ingress);
  void defaultStorageClass(json::value& claim);
  void releaseServiceAddresses(const json::value& service);

  store::Store& store_;
  // Shared by every watch: each event is decoded (and a deletion re-encoded) once.
  std::shared_ptr<RecentCache<json::value>> decoded_ = std::make_shared<RecentCache<json::value>>(64);
  std::shared_ptr<RecentCache<std::string>> deletions_ = std::make_shared<RecentCache<std::string>>(64);
  RegistryOptions options_;
  PodSecurityAdmission podSecurity_;
  QuotaAdmission quota_;
  std::vector<std::unique_ptr<store::Watch>> admissionWatches_;  // ResourceQuotas and LimitRanges for quota_
};

// "pods \"web\" not found" and friends, in Kubernetes' words.
std::string qualifiedResource(const api::ResourceType& type);

}  // namespace skiff::apiserver
