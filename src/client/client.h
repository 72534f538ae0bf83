// Client: the Kubernetes API as a component sees it — the Registry's verbs on resource types,
// whatever carries them.
//
// Two implementations: LocalClient calls the Registry in the same process (the single-machine
// fast path; watch events arrive on the store's commit thread before the writer's call returns,
// so a controller sees its own writes), and RestClient speaks the API over HTTPS to one or more
// servers (watch events arrive on the watch's own thread, a dropped watch resumes from the last
// revision it saw, a revision the server no longer has ends the watch with an ERROR event so the
// informer relists). Components (agent, node proxy, DNS, scheduler, controllers) depend only on
// this interface; one conformance suite (tests/unit/client/) runs against both.
//
// Threading: every method is safe to call from any thread.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include <boost/json/value.hpp>

#include "api/requests.h"
#include "api/resources.h"
#include "common/result.h"
#include "store/store.h"

namespace skiff::client {

namespace json = boost::json;
using api::DeleteOptions;
using api::ListOptions;
using api::ListResult;
using api::PatchType;
using api::WatchEvent;
using api::WriteOptions;
// A live watch; destroying it stops delivery (and waits for a sink call in progress).
using Watch = store::Watch;
using WatchSink = std::function<void(WatchEvent)>;

class Client {
 public:
  virtual ~Client() = default;

  virtual Result<json::value> create(const api::ResourceType& type, const std::string& ns, json::value object,
                                     const WriteOptions& options = {}) = 0;
  virtual Result<json::value> get(const api::ResourceType& type, const std::string& ns, const std::string& name) = 0;
  // parse=false lets an in-process list hand back stored bytes (rawItems) without decoding them.
  virtual Result<ListResult> list(const api::ResourceType& type, const std::string& ns, const ListOptions& options,
                                  bool parse = true) = 0;
  // PUT. subresource is "" or "status".
  virtual Result<json::value> update(const api::ResourceType& type, const std::string& ns, const std::string& name,
                                     json::value object, const std::string& subresource,
                                     const WriteOptions& options = {}) = 0;
  virtual Result<json::value> patch(const api::ResourceType& type, const std::string& ns, const std::string& name,
                                    PatchType patchType, const json::value& patch, const std::string& subresource,
                                    const WriteOptions& options = {}) = 0;
  // pods/binding: spec.nodeName and the PodScheduled condition in one write.
  virtual Result<json::value> bind(const std::string& ns, const std::string& name, const std::string& node) = 0;
  virtual Result<json::value> remove(const api::ResourceType& type, const std::string& ns, const std::string& name,
                                     const DeleteOptions& options = {}) = 0;
  // Events after `afterRevision` (0 = the current state as ADDED events, then changes).
  virtual Result<std::unique_ptr<Watch>> watch(const api::ResourceType& type, const std::string& ns,
                                               const api::LabelSelector& labels, const api::FieldSelector& fields,
                                               int64_t afterRevision, WatchSink sink) = 0;
};

// The resourceVersion of an object as a number (0 when absent or not a number).
int64_t resourceVersionOf(const json::value& object);

}  // namespace skiff::client
