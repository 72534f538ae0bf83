// The node proxy's data plane: worker threads, each with its own epoll loop and its own
// SO_REUSEPORT socket on every listener, so the kernel spreads connections and nothing on the
// request path takes a lock. HTTP listeners parse HTTP/1.1, route (routes.h), balance, retry and
// time out per route, reuse keep-alive connections to upstreams (a pool per worker and endpoint),
// and pass WebSocket upgrades through as tunnels; TCP listeners tunnel bytes to an endpoint.
// Every request counts in the RED metrics, may be logged as a JSON line, and carries a W3C
// traceparent upstream (created, or continued from the client's).
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/result.h"
#include "proxy/routes.h"

namespace skiff::proxy {

struct ProxyOptions {
  int workers = 0;  // 0: one per core
  size_t maxHeadBytes = 60 * 1024;
  std::chrono::milliseconds headerTimeout{10000};     // a request head must arrive within this (slow clients)
  std::chrono::milliseconds idleTimeout{300000};      // keep-alive connections without a request
  std::chrono::milliseconds upstreamIdle{300000};     // a request's upstream silent this long: 504
  std::chrono::milliseconds tunnelIdleTimeout{3600000};
  std::string accessLogPath;  // JSON lines; empty = off
};

// One finished request, for span exporters (observe).
struct SpanRecord {
  std::string traceId, spanId, parentSpanId;
  std::string name;  // route
  std::string method, path, upstream;
  int status = 0;
  int64_t startUnixNanos = 0, endUnixNanos = 0;
};

// Requests every node proxy in this process has answered so far, and how many of them with 5xx.
std::pair<double, double> requestTotals();

class HttpProxy {
 public:
  explicit HttpProxy(ProxyOptions options);
  ~HttpProxy();
  HttpProxy(const HttpProxy&) = delete;
  HttpProxy& operator=(const HttpProxy&) = delete;

  Status start();
  void stop();
  // Switches every worker to `table`: listeners are opened and closed to match (each worker's
  // requests in flight finish on the table they started with). Listeners that cannot be opened
  // are reported by listenErrors() and retried on the next update.
  void update(std::shared_ptr<const RouteTable> table);
  std::map<std::string, std::string> listenErrors() const;
  int workers() const;
  // Receives finished spans (called on worker threads; keep it cheap).
  void onSpan(std::function<void(SpanRecord&&)> sink);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace skiff::proxy
