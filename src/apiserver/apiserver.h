// The Kubernetes-shaped REST API: discovery, CRUD, patch, watch and tables over the Registry.
//
// Threading: handle() runs on the HTTP server's connection threads, many at once; all shared
// state lives in the Registry and Store, which are thread-safe. A watch holds its connection's
// thread until the client leaves or timeoutSeconds passes.
#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "api/table.h"
#include "auth/authenticator.h"
#include "auth/authorizer.h"
#include "apiserver/audit.h"
#include "apiserver/custom_resources.h"
#include "apiserver/node_client.h"
#include "apiserver/registry.h"
#include "apiserver/shared_encodings.h"
#include "apiserver/service_account_tokens.h"
#include "http/http.h"
#include "observe/otlp.h"

namespace skiff::apiserver {

struct ApiServerOptions {
  std::string token;  // the admin token (system:admin in system:masters)
  // Reaches the node servers for logs, exec, attach, port-forward, nodes/proxy and metrics.k8s.io; null = none.
  NodeClient* nodes = nullptr;
  std::chrono::milliseconds bookmarkInterval{10000};
  std::string advertiseAddress;  // host:port clients should use
  // Accepts service-account tokens (granted what RBAC binds to them) besides the admin token.
  const ServiceAccountTokens* serviceAccounts = nullptr;
  // Receives a span per request (traceparent continued when the client sent one); null = none.
  std::function<void(observe::Span)> spans;
  // The web console's pages under /ui: served without the token (they hold no data; the page
  // calls the API with the token the user gives it).
  std::function<void(http::Exchange&)> console;
  // Git push webhooks at /api/webhook (gitops/webhook.h): served without the token, as Argo CD
  // serves them (the handler checks the sender's signature); null = not served.
  std::function<void(http::Exchange&)> webhook;
  // Node-local extensions served under /skiff/ (authenticated like the API): path prefix -> handler.
  std::map<std::string, std::function<void(http::Exchange&)>> extensions;
  // Kinds added by CustomResourceDefinitions, served after the built-in ones; null = none.
  const CustomResources* customResources = nullptr;
  // The pods bound to a node, for the Node authorizer (from an informer, so a node's request costs
  // O(its pods)); null = a store list per request.
  std::function<std::vector<auth::PodReferences>(const std::string& node)> podsOnNode;
  // Writes audit events (--audit-policy-file, --audit-log-path); null = no audit log.
  AuditLog* audit = nullptr;
  // RBAC's roles and bindings (kept current by server/rbac_policy.h); null = no RBAC grants.
  const auth::RbacAuthorizer* rbac = nullptr;
  // Bytes of events one watch may have waiting for a slow client before it is cut off (410).
  size_t watchBudgetBytes = 8 * 1024 * 1024;
};

class ApiServer {
 public:
  ApiServer(Registry& registry, ApiServerOptions options);
  void handle(http::Exchange& exchange);
  // Authenticates and authorises a request from its head alone, before its body is read (the
  // HTTP server's admission check); a refusal is the answer to send.
  http::Admission admit(const http::Request& head);
  ~ApiServer();
  // Number of watches streaming now.
  int activeWatches() const { return activeWatches_.load(); }

 private:
  struct Route;
  class Recorder;
  struct WatchState;
  struct WatchRequest {
    const api::ResourceType* served = nullptr;
    const api::ResourceType* stored = nullptr;
    bool converted = false;  // served in another version than stored
    bool table = false;
    bool partial = false;  // PartialObjectMetadata events
    api::TableObject include = api::TableObject::Metadata;
  };
  http::Chunk watchFrame(const WatchEvent& e, const WatchRequest& w, WatchState& state);
  Status waitForRevision(int64_t revision);
  Status checkListResourceVersion(const http::Request& req);
  void logRefusal(const http::Request& req, const std::string& why);
  void dispatch(Recorder& ex);
  void serveResource(http::Exchange& ex, const Route& route, const auth::UserInfo& user);
  void serveWatch(http::Exchange& ex, const Route& route);
  void serveScale(http::Exchange& ex, const Route& route);
  void serveReview(http::Exchange& ex, const Route& route, const auth::UserInfo& user);
  void serveTokenRequest(http::Exchange& ex, const Route& route, const auth::UserInfo& user);
  void serveNodeStream(http::Exchange& ex, const Route& route);
  void serveNodeProxy(http::Exchange& ex, const std::vector<std::string>& parts);
  void serveMetricsApi(http::Exchange& ex, const std::vector<std::string>& parts);
  void serveDiscovery(http::Exchange& ex, const std::string& path);

  Registry& registry_;
  ApiServerOptions options_;
  auth::Authenticator authenticator_;
  auth::Authorizer authorizer_;
  std::atomic<int> activeWatches_{0};
  std::atomic<bool> gaugeRegistered_{false};
  std::shared_ptr<RecentCache<std::string>> frames_ = std::make_shared<RecentCache<std::string>>(64);
  std::mutex refusalLogMutex_;
  std::chrono::steady_clock::time_point lastRefusalLog_;
  uint64_t refusalsUnlogged_ = 0;
};

// A Kubernetes Status body for an error.
std::string statusBody(const Error& error, const std::string& name = "", const std::string& group = "",
                       const std::string& kind = "");

}  // namespace skiff::apiserver
