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

#include "api/resources.h"
#include "api/schema.h"
#include "api/selector.h"
#include "common/result.h"
#include "apiserver/shared_encodings.h"
#include "store/store.h"

namespace skiff::apiserver {

namespace json = boost::json;

struct WriteOptions {
  api::FieldValidation fieldValidation = api::FieldValidation::Warn;
  bool dryRun = false;
  std::vector<std::string>* warnings = nullptr;  // filled with unknown-field warnings
};

struct ListOptions {
  api::LabelSelector labels;
  api::FieldSelector fields;
  size_t limit = 0;
  std::string continueToken;
};

struct ListResult {
  std::vector<json::value> items;       // parsed objects (when selectors or tables need them)
  std::vector<store::Bytes> rawItems;   // stored JSON, when no parsing was needed
  int64_t revision = 0;
  std::string continueToken;
  std::optional<int64_t> remainingItemCount;
};

struct DeleteOptions {
  std::optional<int64_t> gracePeriodSeconds;
  std::string preconditionUid;
  std::string preconditionResourceVersion;
  std::string propagationPolicy;
};

enum class PatchType { Merge, Json, Strategic };

struct WatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED
  json::value object;  // parsed object; null when `raw` carries it (Registry::watch always sets raw)
  int64_t revision = 0;
  store::Bytes raw;    // the object's JSON, the same shared bytes for every watcher of the event
};

struct RegistryOptions {
  std::string serviceCidr = "127.19.0.0/16";  // cluster IPs; loopback because pods share the host network for now
  int nodePortMin = 30000, nodePortMax = 32767;
};

class Registry {
 public:
  explicit Registry(store::Store& store, RegistryOptions options = {}) : store_(store), options_(std::move(options)) {}

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

  // Creates default, kube-system, kube-public and kube-node-lease if missing.
  Status bootstrap();

  store::Store& store() { return store_; }

 private:
  // Read-modify-write with optimistic concurrency; retried on conflict when `retry`.
  Result<json::value> updateWith(const api::ResourceType& type, const std::string& ns, const std::string& name,
                                 const std::string& subresource, const WriteOptions& options, bool retry,
                                 const std::function<Result<json::value>(const json::value&)>& mutate);
  Status checkNamespace(const api::ResourceType& type, const std::string& ns);
  Result<json::value> writeUpdate(const api::ResourceType& type, const std::string& key, int64_t expectedRevision,
                                  json::value object, bool dryRun);

  // Cluster IPs and node ports are claimed as store keys (/registry/ranges/...), so two creates
  // never get the same one and claims survive restarts.
  Status allocateServiceAddresses(json::value& service);
  Status resolvePriority(json::value& pod);
  void releaseServiceAddresses(const json::value& service);

  store::Store& store_;
  // Shared by every watch: each event is decoded (and a deletion re-encoded) once.
  std::shared_ptr<RecentCache<json::value>> decoded_ = std::make_shared<RecentCache<json::value>>(64);
  std::shared_ptr<RecentCache<std::string>> deletions_ = std::make_shared<RecentCache<std::string>>(64);
  RegistryOptions options_;
};

// "pods \"web\" not found" and friends, in Kubernetes' words.
std::string qualifiedResource(const api::ResourceType& type);

}  // namespace skiff::apiserver
