// RequestMirror (Gateway API HTTPRoute filter): a copy of a request sent to another Service, whose
// answer nobody waits for. The copy leaves once the whole request has arrived (bodies up to
// kRetainBody, the size kept for retries; a longer one is not mirrored and is counted), on a
// pooled connection of its own, with "-shadow" added to the host name as Envoy and Istio do, so
// the mirror's logs tell copies from real traffic. Its response is read to the end and dropped,
// and the connection goes back to the pool.
//
// Mirrors never hold up the client: the worker owns them and they outlive the exchange that
// started them. They are bounded by the route's (or cluster's) timeout, the mirror cluster's
// circuit breaker, its AuthorizationPolicy for the original caller, and a cap per worker.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/dataplane.h"

namespace skiff::proxy::dataplane {

// Starts the copies of `ex`'s request for those of its route's mirrors that draw it (each takes
// its share of requests), from the caller at `clientIp` (IPv4, network order). `copyBytes` builds
// the copy, HTTP/1.1 head and whole body: at most once, and only when some mirror draws the
// request. Without `wholeBody` (the body was too long to keep) a drawn copy is counted, not sent.
void mirrorExchange(Worker& w, const Exchange& ex, uint32_t clientIp, bool wholeBody, const std::function<std::string()>& copyBytes);

struct MirrorRequest {
  std::string bytes;  // head and whole body, HTTP/1.1 framing
  std::string method, path, host;
  uint32_t clientIp = 0;  // network order: the caller's identity for policy
  std::chrono::milliseconds timeout{0};  // the route's; 0: the mirror cluster's, else kMirrorTimeout
};

class MirrorLeg final : public UpstreamOwner {
 public:
  static constexpr size_t kMaxPerWorker = 1024;  // beyond this, copies are dropped (counted)
  static constexpr std::chrono::milliseconds kMirrorTimeout{15000};

  // Sends the copy to an endpoint of `c` (a cluster of `table`); the worker keeps the leg until
  // it ends.
  static void start(Worker& w, const std::shared_ptr<const RouteTable>& table, const Cluster& c, const MirrorRequest& request);

  MirrorLeg(const MirrorLeg&) = delete;
  MirrorLeg& operator=(const MirrorLeg&) = delete;
  ~MirrorLeg() override;

  void onUpstreamEvent(uint32_t events) override;
  void onConnectFailed() override;
  // The worker's tick: gives up when the deadline passed.
  void expireIfDue(Clock::time_point now);

 private:
  MirrorLeg(Worker& w, std::shared_ptr<const RouteTable> table, const Cluster& c, int endpoint, Upstream* up, std::string method,
            Clock::time_point deadline);
  // Reads and drops the response; false once the leg ended.
  bool readResponse();
  // Ends the leg: the connection back to the pool when the exchange completed, else closed.
  void finish(bool reusable, const char* result);

  Worker& w_;
  std::shared_ptr<const RouteTable> table_;  // keeps cluster_ alive
  const Cluster& cluster_;
  int endpoint_;
  Upstream* up_;
  std::string method_;
  Clock::time_point deadline_;
  bool headDone_ = false;
  bool keepAlive_ = true;
  http1::Framing framing_ = http1::Framing::kNone;
  uint64_t remaining_ = 0;
  http1::ChunkedFramer chunks_;
};

// "shop.example" -> "shop.example-shadow", keeping a port ("a:8080" -> "a-shadow:8080").
std::string shadowHost(std::string_view host);
// The HTTP/1.1 head of a request as sent upstream with its Host header's value shadowed.
std::string shadowHead(std::string_view head);
// An HTTP/2 request (its upstream headers, pseudo-headers first) with a whole body, as an
// HTTP/1.1 request for a mirror.
std::string shadowRequestFromHttp2(const std::vector<std::pair<std::string, std::string>>& headers, std::string_view body);

}  // namespace skiff::proxy::dataplane
