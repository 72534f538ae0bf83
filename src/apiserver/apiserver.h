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
#include "apiserver/registry.h"
#include "apiserver/shared_encodings.h"
#include "apiserver/service_account_tokens.h"
#include "http/http.h"
#include "observe/otlp.h"

namespace skiff::apiserver {

// Where container logs live, answered by the node agent (in-process for `skiff up`).
struct LogSource {
  std::function<Result<std::string>(const std::string& ns, const std::string& pod, const std::string& container, bool previous)> path;
  std::function<bool(const std::string& ns, const std::string& pod, const std::string& container)> running;
};

// Commands run inside containers (pods/exec), answered by the node agent.
struct ExecSession {
  int pid = -1;  // a child of this process; the exec handler waits for it
  int stdinFd = -1, stdoutFd = -1, stderrFd = -1;
};
struct ExecSource {
  std::function<Result<ExecSession>(const std::string& ns, const std::string& pod, const std::string& container,
                                    const std::vector<std::string>& command, bool withStdin, bool tty)>
      start;
};

// Resource usage of the containers on this process's node (the agent's cgroups).
struct UsageSample {
  std::string ns, pod, container;
  double cpuCores = 0;           // rate over the last sampling window
  uint64_t cpuUsageNanos = 0;    // cumulative
  uint64_t memoryWorkingSet = 0;
  uint64_t memoryUsage = 0;
  int64_t memoryLimit = 0;
  uint64_t ioReadBytes = 0, ioWriteBytes = 0;
};
struct PodNetworkSample {
  std::string ns, pod;
  uint64_t receiveBytes = 0, transmitBytes = 0, receivePackets = 0, transmitPackets = 0;
};
struct UsageSource {
  std::string nodeName;
  std::function<std::vector<UsageSample>()> containers;
  std::function<std::vector<PodNetworkSample>()> networks;
  std::function<std::pair<double, uint64_t>()> node;  // cores in use, memory working set
};

struct ApiServerOptions {
  std::string token;  // bearer token every request but health and version must carry
  LogSource logs;
  ExecSource exec;
  UsageSource usage;
  std::chrono::milliseconds bookmarkInterval{10000};
  std::string advertiseAddress;  // host:port clients should use
  // Accepts service-account tokens (read-only in their namespace) besides the admin token.
  const ServiceAccountTokens* serviceAccounts = nullptr;
  // Receives a span per request (traceparent continued when the client sent one); null = none.
  std::function<void(observe::Span)> spans;
  // The web console's pages under /ui: served without the token (they hold no data; the page
  // calls the API with the token the user gives it).
  std::function<void(http::Exchange&)> console;
  // Node-local extensions served under /skiff/ (authenticated like the API): path prefix -> handler.
  std::map<std::string, std::function<void(http::Exchange&)>> extensions;
  // Bytes of events one watch may have waiting for a slow client before it is cut off (410).
  size_t watchBudgetBytes = 8 * 1024 * 1024;
};

class ApiServer {
 public:
  ApiServer(Registry& registry, ApiServerOptions options) : registry_(registry), options_(std::move(options)) {}
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
    api::TableObject include = api::TableObject::Metadata;
  };
  http::Chunk watchFrame(const WatchEvent& e, const WatchRequest& w, WatchState& state);
  Status waitForRevision(int64_t revision);
  void logRefusal(const http::Request& req, const std::string& why);
  void dispatch(Recorder& ex);
  void serveResource(http::Exchange& ex, const Route& route);
  void serveWatch(http::Exchange& ex, const Route& route);
  void serveScale(http::Exchange& ex, const Route& route);
  void serveLog(http::Exchange& ex, const Route& route);
  void serveExec(http::Exchange& ex, const Route& route);
  void serveMetricsApi(http::Exchange& ex, const std::vector<std::string>& parts);
  std::string cadvisorMetrics();
  void serveDiscovery(http::Exchange& ex, const std::string& path);

  Registry& registry_;
  ApiServerOptions options_;
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
