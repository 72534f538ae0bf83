// The node proxy's data plane internals, shared by the HTTP/1.1 path (http_proxy.cpp) and the
// HTTP/2 path (http2.cpp): sockets and their buffers, the per-request record, and the worker
// that owns a loop, its listeners, upstream pools and metrics. Not a public interface.
#pragma once
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "common/log.h"
#include "proxy/mesh_tls.h"
#include "observe/metrics.h"
#include "proxy/buffer.h"
#include "proxy/event_loop.h"
#include "proxy/http1.h"
#include "proxy/http_proxy.h"
#include "proxy/routes.h"

namespace skiff::proxy {
// Named (not anonymous): HttpProxy::Impl holds these types, and unity builds would warn.
namespace dataplane {

constexpr size_t kMaxBuffered = 1024 * 1024;  // per direction before reading pauses (backpressure)
constexpr size_t kRetainBody = 64 * 1024;     // request bodies up to this are kept for retries
constexpr auto kNever = Clock::time_point::max();

inline int64_t unixNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
inline int64_t steadyNanos(Clock::time_point t) { return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count(); }

inline void appendHex(std::string& out, uint64_t v, int digits) {
  static const char* hex = "0123456789abcdef";
  char buf[16];
  for (int i = digits - 1; i >= 0; --i, v >>= 4) buf[i] = hex[v & 15];
  out.append(buf, size_t(digits));
}

inline void appendJsonString(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
}

inline observe::Family<observe::Counter>& requestsFamily() {
  static observe::Family<observe::Counter> f("skiff_http_requests_total",
                                             "HTTP requests through the node proxy, by route, source and destination workload and status code.",
                                             {"route", "source_namespace", "source_workload", "destination_service", "destination_workload", "code"});
  return f;
}
inline observe::Family<observe::Histogram>& durationFamily() {
  static observe::Family<observe::Histogram> f("skiff_http_request_duration_seconds",
                                               "Time from a request's head to the end of its response, through the node proxy.",
                                               {"route", "source_namespace", "source_workload", "destination_service", "destination_workload"},
                                               {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  return f;
}
inline observe::Counter& proxyEvent(const std::string& cluster, const char* event) {
  static observe::Family<observe::Counter> f("skiff_proxy_events_total",
                                             "Resilience decisions of the node proxy: retries, circuit-breaker overflows, outlier ejections, timeouts.",
                                             {"cluster", "event"});
  return f.with({cluster, event});
}
inline observe::Counter& authzDenied(const std::string& destination, const std::string& policy) {
  static observe::Family<observe::Counter> f("skiff_proxy_authz_denied_total",
                                             "Requests and TCP connections refused by an AuthorizationPolicy at their destination.",
                                             {"destination_service", "policy"});
  return f.with({destination, policy});
}

// Outlier detection: one more error in a row for this endpoint; after enough of them it is ejected
// for the base time × its ejections (up to 10×), unless that would take out more than the allowed
// share of the cluster (one may always be out).
inline void countOutlierError(const Cluster& c, int endpoint, Clock::time_point now) {
  const OutlierDetection& od = c.outlier;
  auto& es = *c.endpoints[size_t(endpoint)].state;
  if (!od.enabled || es.consecutiveErrors.fetch_add(1, std::memory_order_relaxed) + 1 < od.consecutiveErrors) return;
  int64_t nowNs = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  int n = int(c.endpoints.size());
  int out = c.state->ejected.load(std::memory_order_relaxed);
  if (es.ejectedUntil.load(std::memory_order_relaxed) > nowNs || (out > 0 && (out + 1) * 100 > n * od.maxEjectionPercent)) return;
  int times = es.ejections.fetch_add(1, std::memory_order_relaxed) + 1;
  es.ejectedUntil.store(nowNs + std::chrono::duration_cast<std::chrono::nanoseconds>(od.baseEjection).count() * std::min(times, 10),
                        std::memory_order_relaxed);
  es.consecutiveErrors.store(0, std::memory_order_relaxed);
  c.state->ejected.fetch_add(1, std::memory_order_relaxed);  // recounted at the next table rebuild
  proxyEvent(c.name, "outlier_ejected").inc();
  log::info("proxy", "ejected " + c.endpoints[size_t(endpoint)].text + " from " + c.name + " after " + std::to_string(od.consecutiveErrors) +
                         " errors in a row");
}

// The retry policy that governs a request: its route's, else its cluster's.
inline const RetryPolicy& retryPolicyOf(const Route* route, const Cluster& c) { return route && route->retry ? *route->retry : c.retry; }

// True when an upstream answer with `status` is one `policy` retries.
inline bool retryableStatus(const RetryPolicy& policy, int status) {
  bool gatewayError = status == 502 || status == 503 || status == 504;
  return (policy.on5xx && status >= 500) || (policy.onGatewayError && gatewayError) ||
         std::find(policy.codes.begin(), policy.codes.end(), status) != policy.codes.end();
}

inline observe::Counter& tlsHandshakes(const std::string& listener, const char* result) {
  static observe::Family<observe::Counter> f("skiff_proxy_tls_handshakes_total",
                                             "TLS handshakes on Gateway HTTPS listeners, by listener and result (ok, failed).", {"listener", "result"});
  return f.with({listener, result});
}

inline observe::Counter& tcpConnections(const std::string& listener, const char* result) {
  static observe::Family<observe::Counter> f("skiff_proxy_tcp_connections_total", "TCP connections tunnelled by the node proxy, by listener and result.",
                                             {"service", "result"});
  return f.with({listener, result});
}

// Weighted choice among a route's backends (a canary split is exact in expectation); null when
// the route has none.
inline const BackendRef* chooseBackend(const Route& route, uint64_t random) {
  if (route.totalWeight == 0) return nullptr;
  uint64_t r = random % route.totalWeight;
  for (const auto& b : route.backends) {
    if (r < b.weight) return &b;
    r -= b.weight;
  }
  return nullptr;
}

// A non-blocking TCP connection to `to` (TCP_NODELAY); -1 when it was refused at once (or no
// socket was left). `inProgress` tells whether the caller must wait for EPOLLOUT.
inline int connectTo(const sockaddr_in& to, bool& inProgress) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int r = ::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to);
  if (r != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  inProgress = r != 0;
  return fd;
}

// The request target as it goes upstream: the route's URL rewrite (full path or prefix) applied.
std::string upstreamTarget(const Route& route, std::string_view target);
// A RequestRedirect's Location (Gateway API): scheme, host, port and path from the filter, each
// defaulting to the request's. A port left out follows the filter's scheme (its well-known port)
// or, without one, stays the listener's; well-known ports are not written.
std::string redirectLocation(const Route& route, bool tls, std::string_view authority, int listenerPort, std::string_view target);

struct MetricKey {
  uint64_t version;
  const void* route;
  const void* source;
  const void* destination;
  int code;
  bool operator==(const MetricKey&) const = default;
};
struct MetricKeyHash {
  size_t operator()(const MetricKey& k) const {
    uint64_t h = k.version * 0x9e3779b97f4a7c15ULL;
    for (uint64_t v : {uint64_t(uintptr_t(k.route)), uint64_t(uintptr_t(k.source)), uint64_t(uintptr_t(k.destination)), uint64_t(k.code)})
      h = (h ^ v) * 0x100000001b3ULL;
    return size_t(h ^ (h >> 29));
  }
};

class Worker;
class Downstream;
class H2Server;

// A connection to a pod on another node being set up: TLS to that node's mesh port, its
// certificate checked, then CONNECT to the pod (mesh_tls.h).
struct MeshDial {
  std::string expectedPeer;  // the node's SPIFFE id
  std::string connectTarget;  // the pod's "ip:port"
  std::string connectHead;   // "CONNECT ip:port HTTP/1.1..." still to send
  bool tlsDone = false;
  int status = 0;            // the destination's answer to CONNECT when it was not 200
  std::string failure;       // why the dial failed, for the log
};

// One socket with its two buffers; the base of client and upstream connections. With `ssl_`
// set (the mesh's mTLS, mesh_tls.h) its bytes go through TLS.
class Socket : public EventLoop::Handler {
 public:
  Socket(Worker& w, int fd) : w_(w), fd_(fd) {}
  ~Socket() override;
  int fd() const { return fd_; }
  bool closed() const { return closed_; }
  virtual void close() = 0;
  // Its deadline passed (the worker's tick).
  virtual void expire(Clock::time_point now) = 0;

  // Reads until the socket is drained or `in_` holds `limit` bytes. False on a read error.
  bool fill(size_t limit);
  // Writes what `out_` holds. False on a write error.
  bool flush();
  // Sends now what the socket takes, buffers the rest.
  bool write(const char* p, size_t n);
  bool write(std::string_view s) { return write(s.data(), s.size()); }
  void releaseBuffers();
  // No more bytes from us: FIN (after a TLS close_notify).
  void shutdownWrite();
  // Advances the TLS handshake of `ssl_` as far as the network allows.
  enum class Handshake { kDone, kWaiting, kFailed };
  Handshake handshake();

  Worker& w_;
  int fd_;
  SSL* ssl_ = nullptr;
  Buffer in_, out_;
  bool closed_ = false;
  bool readable_ = false;  // an edge arrived and the socket may still hold data
  bool eof_ = false;       // the peer finished sending
  bool peerClosed_ = false;  // epoll reported the peer's FIN (it may still be behind unread data)
  bool shutdownAfterFlush_ = false;
  bool connecting_ = false;  // upstreams until the connection is up: writes are buffered
  Clock::time_point deadline_ = kNever;

  // Upstreams to a pod on another node (mesh_tls.h): TLS with `ctx` to the node's mesh port,
  // which must present `expectedPeer`, then CONNECT to `target`. False when TLS cannot start.
  bool startDial(SSL_CTX* ctx, const std::string& expectedPeer, const std::string& target);
  // Drives the dial: true when the tunnel is up, false while it waits for the network; sets
  // dialFailed_ when it cannot be set up (dial_->status: the node's answer, 403 when refused).
  bool dialStep();
  // While connecting: 1 once the TCP connection is up, 0 while it is not yet, -1 when it failed.
  int tcpConnectResult(uint32_t events);
  bool tcpUp_ = false;               // the TCP connection is established
  std::unique_ptr<MeshDial> dial_;  // set while a mesh tunnel is being opened
  bool dialFailed_ = false;

 private:
  // One send/recv (or SSL_write/SSL_read): bytes moved, 0 when the socket would block, -1 on error
  // (recv: -2 at the end of the stream).
  ssize_t sendSome(const char* p, size_t n);
  ssize_t recvSome(char* p, size_t n);
};


class Upstream;

struct Exchange {
  std::shared_ptr<const RouteTable> table;
  const Listener* listener = nullptr;
  const Route* route = nullptr;
  const Cluster* cluster = nullptr;
  int endpoint = -1, lastFailed = -1;
  std::string method, target, host, userAgent;
  const char* protocol = "HTTP/1.1";  // the client's, as the access log names it
  std::string upstreamHead;  // the request head as sent upstream (kept for retries)
  std::string body;          // request body so far, while it fits kRetainBody
  bool bodyRetained = true;
  http1::Framing requestFraming = http1::Framing::kNone;
  uint64_t requestRemaining = 0;
  http1::ChunkedFramer requestChunks;
  bool requestDone = false;
  bool mirrorPending = false;  // the route mirrors: copies leave once the whole request is here
  bool upgrade = false;
  bool clientKeepAlive = true;
  bool continueSent = false;
  // Response.
  bool responseStarted = false;  // head sent to the client: no retry from here on
  http1::Framing responseFraming = http1::Framing::kNone;
  uint64_t responseRemaining = 0;
  http1::ChunkedFramer responseChunks;
  bool upstreamKeepAlive = true;
  int status = 0;
  uint64_t bytesSent = 0;
  // Retries and timeouts.
  int attempts = 0, retriesLeft = 0;
  bool reusedResetRetried = false;
  bool inRetryBudget = false;
  bool waitingForConnection = false;  // queued by the circuit breaker (pending requests)
  bool backingOff = false;
  Clock::time_point start, attemptStart, requestDeadline = kNever, backoffUntil = kNever;
  int64_t startUnix = 0;
  uint64_t hashKey = 0;
  std::string traceId, spanId, parentSpanId;
  Upstream* up = nullptr;
};

// Decides whether a failed try is tried again (HTTP/1.1 and HTTP/2 alike): the policy must cover
// the failure, tries must be left, the body must still be held and the deadline not passed, and
// the cluster's retry budget (max retries in flight, or 20% of its requests) must have room.
// Takes the retry (budget, counters, metric) and returns how long to back off: jittered
// exponential, uniform in [0, min(max, base * 2^n)]. Nothing when the try is not retried.
inline std::optional<std::chrono::milliseconds> planRetry(Exchange& ex, bool connectionFailure, Clock::time_point now, uint64_t random) {
  const Cluster& c = *ex.cluster;
  const RetryPolicy& retry = retryPolicyOf(ex.route, c);
  bool policyAllows = connectionFailure ? retry.onConnectFailure : true;  // statuses were checked by the caller
  if (!policyAllows || ex.retriesLeft <= 0 || !ex.bodyRetained || now >= ex.requestDeadline) return std::nullopt;
  bool budget = ex.inRetryBudget ||
                c.state->retries.load(std::memory_order_relaxed) < std::max(c.limits.maxRetries, c.state->requests.load(std::memory_order_relaxed) / 5);
  if (!budget) {
    proxyEvent(c.name, "retry_budget_exhausted").inc();
    return std::nullopt;
  }
  --ex.retriesLeft;
  if (!ex.inRetryBudget) {
    ex.inRetryBudget = true;
    c.state->retries.fetch_add(1, std::memory_order_relaxed);
  }
  proxyEvent(c.name, "retry").inc();
  int n = std::min(ex.attempts - 1, 10);
  auto cap = std::min(retry.backoffMax, retry.backoffBase * (1 << std::max(n, 0)));
  return std::chrono::milliseconds(cap.count() > 0 ? int64_t(random % uint64_t(cap.count() + 1)) : 0);
}

// A try's answer, for both protocols: outlier detection counts it against the endpoint (gateway
// errors, or every 5xx if the cluster says so) or ends the endpoint's error streak; true when the
// retry policy wants another try for it and one is possible.
inline bool answerWantsRetry(const Exchange& ex, int status, Clock::time_point now) {
  const Cluster& c = *ex.cluster;
  bool gatewayError = status == 502 || status == 503 || status == 504;
  if (c.outlier.all5xx ? status >= 500 : gatewayError) countOutlierError(c, ex.endpoint, now);
  else c.endpoints[size_t(ex.endpoint)].state->consecutiveErrors.store(0, std::memory_order_relaxed);
  return retryableStatus(retryPolicyOf(ex.route, c), status) && ex.retriesLeft > 0 && ex.bodyRetained;
}

// The identity a caller's traffic to another node carries (mesh_tls.h): its pod's service
// account, or the node's own for callers that are not pods.
inline std::string meshIdentity(const MeshTls& mesh, const Workload* source) {
  return source ? "spiffe://" + source->principal : mesh.nodeId();
}

// Who an upstream HTTP/1.1 connection works for while it carries a request: a client's HTTP/1.1
// connection (Downstream), or one HTTP/2 stream's try (Http1Leg, http2_to_http1.h).
class UpstreamOwner {
 public:
  virtual ~UpstreamOwner() = default;
  virtual void onUpstreamEvent(uint32_t events) = 0;
  virtual void onConnectFailed() = 0;
};

class Upstream : public Socket {
 public:
  Upstream(Worker& w, int fd, std::string key, std::shared_ptr<ClusterState> cluster) : Socket(w, fd), key_(std::move(key)), cluster_(std::move(cluster)) {
    cluster_->connections.fetch_add(1, std::memory_order_relaxed);
  }
  ~Upstream() override { cluster_->connections.fetch_sub(1, std::memory_order_relaxed); }
  void onEvents(uint32_t events) override;
  void close() override;
  void expire(Clock::time_point) override { close(); }  // idle in the pool too long
  // No longer carrying a request or tunnel.
  void release() {
    if (owner_) cluster_->busy.fetch_sub(1, std::memory_order_relaxed);
    owner_ = nullptr;
  }

  std::string key_;  // endpoint "ip:port"
  std::shared_ptr<ClusterState> cluster_;
  UpstreamOwner* owner_ = nullptr;
  bool reused_ = false;
  bool tunnel_ = false;
};

class Downstream : public Socket, public UpstreamOwner {
 public:
  Downstream(Worker& w, int fd, std::shared_ptr<struct ListenerSlot> slot, const sockaddr_in& peer);
  ~Downstream() override;
  void onEvents(uint32_t events) override;
  void close() override;
  void expire(Clock::time_point now) override { onTimeout(now); }
  void onTimeout(Clock::time_point now);

  // Upstream side.
  void onUpstreamEvent(uint32_t events) override;
  void onConnectFailed() override;

  // TCP listeners; on a TLS passthrough port, once the ClientHello named the server.
  void startTcp(const Listener& l, std::string_view serverName = {});
  // TLS passthrough: read the ClientHello (tls_client_hello.h), then tunnel it and the rest.
  void startTlsPassthrough() { sniffing_ = true; }

  void sendAttempt();
  // RequestMirror: once the whole request is here, its copies leave (request_mirror.h).
  void mirrorRequest();
  void resumeAfterQueue() {
    ex_->waitingForConnection = false;
    sendAttempt();
  }

 private:
  void onReadable();
  void processInput();
  void startExchange(const http1::Head& head);
  void forwardRequestBody();
  void readResponse();
  bool forwardResponseBody();
  void finishExchange();
  void nextRequest(bool keep);
  void failAttempt(int status, const char* reason, bool connectionFailure);
  void respond(int status, std::string_view message, bool closeAfter, std::string_view extraHeaders = {});
  void record();
  void abortExchange();
  void detachUpstream(bool reuse);
  void pumpTunnel(Socket& from, Socket& to);
  void maybeEndTunnel() {
    if (tunnel_ && peerUp_ && eof_ && peerUp_->eof_ && out_.empty() && peerUp_->out_.empty()) close();
  }
  void becomeTunnel();
  void setExchangeDeadline();
  // AuthorizationPolicy at the destination: false (and counted) when the caller may not.
  bool authorize(const RouteTable& t, const Cluster& c, int endpoint, std::string_view method, std::string_view path, std::string_view host);

  std::shared_ptr<struct ListenerSlot> slot_;
  sockaddr_in peer_{};
  std::string peerText_;  // the client's address, for X-Forwarded-For and logs
  std::unique_ptr<Exchange> ex_;
  bool closeAfterFlush_ = false;
  bool tunnel_ = false;
  Upstream* peerUp_ = nullptr;  // tunnel partner
  bool headStarted_ = false;    // bytes of a request head have arrived
  bool sawRequest_ = false;     // an HTTP/1 request came first: this connection is not HTTP/2
  bool sniffing_ = false;       // TLS passthrough: waiting for the whole ClientHello
  void sniffClientHello();
  std::unique_ptr<H2Server> h2_;  // the client spoke the HTTP/2 preface (http2.h)
  void startHttp2();
  // The mesh's inbound port: TLS handshake, then CONNECT to a pod on this node, then a tunnel.
  enum class MeshPhase { kNone, kHandshake, kConnect, kOpen } mesh_ = MeshPhase::kNone;
  // Gateway HTTPS listeners: the TLS handshake, then HTTP (gateway_tls.h). The terminator is held
  // for the connection's life: its SNI callback runs during the handshake.
  std::shared_ptr<const TlsTerminator> tls_;
  bool tlsHandshake_ = false;
  void tlsHandshakeStep();
  std::unique_ptr<Workload> meshPeer_;  // who the caller's certificate says it is
  bool meshAwaiting200_ = false;         // the pod's connection is being set up
 public:
  void startMeshInbound();
  void startTlsTermination(std::shared_ptr<const TlsTerminator> tls);
 private:
  void meshInboundStep();
  void meshRefuse(int status, const char* reason, const char* result);
  friend class Upstream;
  friend class H2Server;
  friend class Worker;
};

// A listener as one worker sees it: its socket and the current configuration (null once removed).
struct ListenerSlot {
  const Listener* config = nullptr;
  std::string key;
};

class ListenSocket : public EventLoop::Handler {
 public:
  ListenSocket(Worker& w, int fd, std::shared_ptr<ListenerSlot> slot) : w_(w), fd_(fd), slot_(std::move(slot)) {
    udp_ = slot_->key.starts_with("udp/");
  }
  ~ListenSocket() override { ::close(fd_); }
  void onEvents(uint32_t) override;
  void onDatagrams();
  Worker& w_;
  int fd_;
  std::shared_ptr<ListenerSlot> slot_;
  bool closed_ = false;
  bool udp_ = false;
};

// One client's flow through a UDP listener: a connected socket to the endpoint chosen for it;
// replies go back from the listener's address. Ends after 30 s without datagrams.
class UdpSession : public Socket {
 public:
  UdpSession(Worker& w, int fd, int replyFd, const sockaddr_in& client, std::pair<const void*, uint64_t> key)
      : Socket(w, fd), replyFd_(replyFd), client_(client), key_(key) {}
  ~UdpSession() override { ::close(replyFd_); }
  void onEvents(uint32_t events) override;
  void close() override;
  void expire(Clock::time_point) override { close(); }
  int replyFd_;
  sockaddr_in client_;
  std::pair<const void*, uint64_t> key_;
};

class MirrorLeg;  // request_mirror.h

// Sends what every HTTP/2 session of the worker has queued (http2.h).
void flushHttp2(Worker& w);

class Worker {
 public:
  Worker(int index, const ProxyOptions& options, std::function<void(SpanRecord&&)>* spanSink)
      : index_(index), options_(options), spanSink_(spanSink), rng_(uint64_t(unixNanos()) ^ (uint64_t(index) << 32)) {
    loop_.onTick([this](Clock::time_point now) { tick(now); });
    // Responses that reach one HTTP/2 client from many HTTP/1.1 upstream connections in one batch
    // of events leave in one write.
    loop_.afterEvents([this] {
      if (!h2Dirty_.empty()) flushHttp2(*this);
    });
    if (!options_.accessLogPath.empty()) accessLog_ = ::open(options_.accessLogPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  }
  ~Worker() {
    if (accessLog_ >= 0) ::close(accessLog_);
  }
  void run() { thread_ = std::thread([this] { loop_.run(); shutdown(); }); }
  void join() {
    loop_.stop();
    if (thread_.joinable()) thread_.join();
  }

  // On the loop thread: new table plus sockets for listeners this worker did not have.
  void install(std::shared_ptr<const RouteTable> table, std::map<std::string, int> newSockets);

  // Upstream connection to endpoint `e` of `c`: an idle pooled one, or a new one being connected
  // (through the mesh, presenting `source`'s identity, when the endpoint is on another node).
  // Null when the circuit breaker's connection limit is reached, or (refused set) when the
  // endpoint refused at once.
  Upstream* connection(const Cluster& c, int e, UpstreamOwner* owner, const Workload* source, bool& refused);
  void giveBack(Upstream* u);
  void forget(Upstream* u);  // removes from the idle pool (closing)
  void track(Socket* s) {
    conns_.insert(s);
    loop_.setTicking(true);
  }
  void untrack(Socket* s) {
    conns_.erase(s);
    loop_.setTicking(!conns_.empty());
  }
  void queuePending(const std::string& cluster, Downstream* d) { pending_[cluster].push_back(d); }
  std::map<std::pair<const void*, uint64_t>, UdpSession*> udpSessions_;
  void dropPending(Downstream* d) {
    for (auto& [k, q] : pending_) q.erase(std::remove(q.begin(), q.end(), d), q.end());
  }
  void connectionFreed(const std::string& cluster);
  void count(const Exchange& ex, uint32_t peerIp);
  // Continues the caller's W3C trace (or starts one) in `ex`; returns the trace flags to send on.
  std::string startTrace(Exchange& ex, std::string_view traceparent);
  // A finished request: metrics, access log, span.
  void record(const Exchange& ex, uint32_t peerIp, const std::string& peerText);
  // AuthorizationPolicy at the destination: false (and counted) when the caller may not.
  bool authorize(const RouteTable& t, const Cluster& c, int endpoint, const Workload* source, std::string_view method, std::string_view path,
                 std::string_view host, bool operationCheckedAtSource = false);
  // HTTP/2 upstream sessions by "cluster|endpoint", and sessions with frames to send (http2.h).
  std::unordered_map<std::string, class H2Client*> h2Clients_;
  std::vector<class H2Session*> h2Dirty_;
  // RequestMirror copies in flight (request_mirror.h); each deletes itself when it ends.
  std::unordered_set<MirrorLeg*> mirrors_;
  void accessLog(const Exchange& ex, Clock::time_point now, const std::string& source);
  uint64_t random() { return nextRandom(rng_); }
  bool logging() const { return accessLog_ >= 0; }

  EventLoop loop_;
  BufferPool pool_;
  int index_;
  const ProxyOptions& options_;
  std::function<void(SpanRecord&&)>* spanSink_;
  std::shared_ptr<const RouteTable> table_;

 private:
  void tick(Clock::time_point now);
  void shutdown();

  std::thread thread_;
  uint64_t rng_;
  std::map<std::string, std::pair<ListenSocket*, std::shared_ptr<ListenerSlot>>> listeners_;
  std::unordered_map<std::string, std::vector<Upstream*>> idle_;
  std::unordered_set<Socket*> conns_;
  std::unordered_map<std::string, std::deque<Downstream*>> pending_;
  std::unordered_map<MetricKey, std::pair<observe::Counter*, observe::Histogram*>, MetricKeyHash> metrics_;
  int accessLog_ = -1;
  std::string logBuffer_;
  std::time_t logSecond_ = 0;
  char logTime_[40] = "";
  Clock::time_point lastLogFlush_;
};

}  // namespace dataplane
}  // namespace skiff::proxy
