// The shapes of API requests and answers, independent of transport: what the Registry takes
// in-process and what the client layer (src/client/) sends over HTTPS.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "api/schema.h"
#include "api/selector.h"
#include "common/result.h"
#include "store/store.h"

namespace skiff::api {

namespace json = boost::json;

struct WriteOptions {
  api::FieldValidation fieldValidation = api::FieldValidation::Warn;
  bool dryRun = false;
  std::vector<std::string>* warnings = nullptr;  // filled with unknown-field warnings
  // Who writes (fieldManager, or the client's program name): ownership is recorded in
  // metadata.managedFields (api/field_manager.h). Empty: in-process writers, not recorded.
  std::string fieldManager;
  bool force = false;  // server-side apply takes the fields other managers own
  // Admission that depends on who writes, run on the object about to be stored once it is
  // defaulted and valid (the API server's RBAC escalation check); empty: none.
  std::function<Status(const json::value& object)> admitWrite;
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

enum class PatchType { Merge, Json, Strategic, Apply };  // Apply: server-side apply (application/apply-patch+yaml)

struct WatchEvent {
  // ADDED, MODIFIED, DELETED; a remote watch the server ended for good delivers one ERROR whose
  // object is the server's Status (code 410: the revision is gone, relist).
  std::string type;
  json::value object;  // parsed object; null when `raw` carries it (Registry::watch always sets raw)
  int64_t revision = 0;
  store::Bytes raw;    // the object's JSON, the same shared bytes for every watcher of the event
};

}  // namespace skiff::api
