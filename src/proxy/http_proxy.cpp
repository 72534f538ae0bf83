#include "proxy/http_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <cctype>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "common/log.h"
#include "observe/metrics.h"
#include "observe/otlp.h"
#include "proxy/buffer.h"
#include "proxy/gateway_tls.h"
#include "proxy/event_loop.h"
#include "proxy/http1.h"

#include "proxy/dataplane.h"
#include "proxy/http2.h"
#include "proxy/request_mirror.h"
#include "proxy/tls_client_hello.h"

namespace skiff::proxy {
namespace dataplane {

// ---- Socket ----

Socket::~Socket() {
  if (ssl_) SSL_free(ssl_);
  if (fd_ >= 0) ::close(fd_);
}

ssize_t Socket::sendSome(const char* p, size_t n) {
  if (!ssl_) {
    for (;;) {
      ssize_t k = ::send(fd_, p, n, MSG_NOSIGNAL);
      if (k >= 0) return k;
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
  }
  ERR_clear_error();
  int k = SSL_write(ssl_, p, int(std::min<size_t>(n, 1 << 30)));
  if (k > 0) return k;
  int e = SSL_get_error(ssl_, k);
  return e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? 0 : -1;
}

ssize_t Socket::recvSome(char* p, size_t n) {
  if (!ssl_) {
    for (;;) {
      ssize_t k = ::recv(fd_, p, n, 0);
      if (k > 0) return k;
      if (k == 0) return -2;
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
  }
  ERR_clear_error();
  int k = SSL_read(ssl_, p, int(std::min<size_t>(n, 1 << 30)));
  if (k > 0) return k;
  int e = SSL_get_error(ssl_, k);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  return e == SSL_ERROR_ZERO_RETURN ? -2 : -1;
}

bool Socket::fill(size_t limit) {
  while (in_.size() < limit) {
    size_t room;
    char* p = in_.space(w_.pool_, 4096, room);
    room = std::min(room, limit - in_.size() + 4096);
    ssize_t n = recvSome(p, room);
    if (n > 0) {
      in_.commit(size_t(n));
      // A short read drains a plain socket for now (one recv saved per request), unless the peer
      // has closed: its FIN came with the same edge as the data and no other edge will announce it.
      // TLS hands out a record at a time, so it reads until it would block.
      if (size_t(n) < room && !ssl_ && !peerClosed_) {
        readable_ = false;
        return true;
      }
      continue;
    }
    readable_ = false;
    if (n == -2) eof_ = true;
    return n != -1;
  }
  return true;
}

bool Socket::flush() {
  while (!out_.empty()) {
    ssize_t n = sendSome(out_.data(), out_.size());
    if (n < 0) return false;
    if (n == 0) return true;
    out_.consume(size_t(n));
  }
  if (shutdownAfterFlush_) {
    shutdownWrite();
    shutdownAfterFlush_ = false;
  }
  return true;
}

bool Socket::write(const char* p, size_t n) {
  if (out_.empty() && !connecting_) {
    while (n > 0) {
      ssize_t k = sendSome(p, n);
      if (k < 0) return false;
      if (k == 0) break;
      p += k;
      n -= size_t(k);
    }
  }
  if (n > 0) out_.append(w_.pool_, p, n);
  return true;
}

void Socket::shutdownWrite() {
  if (ssl_) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // close_notify; the other direction stays open
  }
  ::shutdown(fd_, SHUT_WR);
}

Socket::Handshake Socket::handshake() {
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  if (r == 1) return Handshake::kDone;
  int e = SSL_get_error(ssl_, r);
  return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? Handshake::kWaiting : Handshake::kFailed;
}

void Socket::releaseBuffers() {
  in_.release(w_.pool_);
  out_.release(w_.pool_);
}

// ---- listening ----

void ListenSocket::onEvents(uint32_t) {
  if (udp_) {
    onDatagrams();
    return;
  }
  while (!closed_) {
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    int fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // EAGAIN, or out of descriptors (the next edge retries)
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto* d = new Downstream(w_, fd, slot_, peer);
    w_.track(d);
    if (!w_.loop_.add(fd, d)) {
      d->close();
      continue;
    }
    if (slot_->config && slot_->config->protocol == Listener::Protocol::kTcp) d->startTcp(*slot_->config);
    else if (slot_->config && slot_->config->protocol == Listener::Protocol::kTls && !slot_->config->tls) d->startTlsPassthrough();
    else if (slot_->config && slot_->config->protocol == Listener::Protocol::kMesh) d->startMeshInbound();
    else if (slot_->config && slot_->config->tls) d->startTlsTermination(slot_->config->tls);
  }
}

// ---- Downstream ----

Downstream::Downstream(Worker& w, int fd, std::shared_ptr<ListenerSlot> slot, const sockaddr_in& peer)
    : Socket(w, fd), slot_(std::move(slot)), peer_(peer) {
  deadline_ = w.loop_.now() + w.options_.headerTimeout;
  char ip[INET_ADDRSTRLEN] = "";
  inet_ntop(AF_INET, &peer_.sin_addr, ip, sizeof ip);
  peerText_ = ip;
}

Downstream::~Downstream() = default;

void Downstream::close() {
  if (closed_) return;
  closed_ = true;
  if (h2_) h2_->shutdown();
  if (ex_) abortExchange();
  if (peerUp_) {
    peerUp_->close();
    peerUp_ = nullptr;
  }
  w_.loop_.remove(fd_);
  w_.untrack(this);
  releaseBuffers();
  w_.loop_.retire(this);
}

void Downstream::onEvents(uint32_t events) {
  if (closed_) return;
  if (events & (EPOLLRDHUP | EPOLLHUP)) peerClosed_ = true;
  if (events & EPOLLERR) {
    close();
    return;
  }
  if (tlsHandshake_) {
    tlsHandshakeStep();
    return;
  }
  if (mesh_ == MeshPhase::kHandshake || mesh_ == MeshPhase::kConnect) {
    meshInboundStep();
    return;
  }
  if (h2_) {
    if (events & EPOLLOUT) h2_->onWritable();
    if (!closed_ && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))) {
      readable_ = true;
      h2_->onReadable();
    }
    return;
  }
  if (events & EPOLLOUT) {
    if (!flush()) {
      close();
      return;
    }
    if (out_.empty()) {
      if (closeAfterFlush_) {
        close();
        return;
      }
      // Room again: resume whatever was paused on us.
      if (tunnel_) {
        if (peerUp_ && peerUp_->readable_) pumpTunnel(*peerUp_, *this);
        maybeEndTunnel();
      } else if (ex_ && ex_->up && ex_->up->readable_ && !ex_->up->connecting_) {
        readResponse();
      }
      if (closed_) return;
    }
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
    readable_ = true;
    onReadable();
  }
}

void Downstream::onReadable() {
  if (closed_) return;
  if (sniffing_) {
    sniffClientHello();
    return;
  }
  if (tunnel_) {
    if (peerUp_) pumpTunnel(*this, *peerUp_);
    return;
  }
  // While a request is in flight only its body is read (and a little of a pipelined next one).
  size_t limit = ex_ ? (ex_->requestDone ? w_.options_.maxHeadBytes : 64 * 1024) : w_.options_.maxHeadBytes + 4096;
  if (ex_ && ex_->up && ex_->up->out_.size() > kMaxBuffered) return;  // upstream is slow: wait for it
  if (!fill(limit)) {
    close();
    return;
  }
  if (ex_) {
    if (!ex_->requestDone) forwardRequestBody();
    if (closed_) return;
    if (eof_ && ex_ && !ex_->responseStarted && !ex_->requestDone) {
      // The client left before sending its whole request.
      close();
      return;
    }
    if (eof_ && in_.empty() && ex_) closeAfterFlush_ = true;  // answer, then close
    return;
  }
  processInput();
}

void Downstream::processInput() {
  while (!closed_ && !ex_ && !tunnel_) {
    if (in_.empty()) {
      if (eof_) {
        closeAfterFlush_ = true;
        if (out_.empty()) close();
        return;
      }
      releaseBuffers();
      deadline_ = w_.loop_.now() + w_.options_.idleTimeout;
      headStarted_ = false;
      return;
    }
    if (!headStarted_) {
      headStarted_ = true;
      deadline_ = w_.loop_.now() + w_.options_.headerTimeout;
    }
    if (!sawRequest_) {
      Preface p = http2Preface(in_.view());
      if (p == Preface::kPartial) {
        if (eof_) close();
        return;
      }
      if (p == Preface::kYes) {
        startHttp2();
        return;
      }
    }
    http1::Head head;
    http1::Error error;
    switch (http1::parseRequest(in_.view(), w_.options_.maxHeadBytes, head, error)) {
      case http1::Parse::kIncomplete:
        if (eof_) close();
        return;
      case http1::Parse::kError:
        respond(error.status, error.reason, true);
        return;
      case http1::Parse::kComplete:
        startExchange(head);
        break;
    }
  }
}

void Downstream::startHttp2() {
  h2_ = std::make_unique<H2Server>(*this);
  if (!h2_->start()) {
    close();
    return;
  }
  h2_->onReadable();
}

void Downstream::startExchange(const http1::Head& head) {
  sawRequest_ = true;
  const Listener* listener = slot_->config;
  if (!listener) {
    close();
    return;
  }
  auto now = w_.loop_.now();
  ex_ = std::make_unique<Exchange>();
  Exchange& ex = *ex_;
  ex.table = w_.table_;
  ex.listener = listener;
  ex.start = now;
  ex.startUnix = unixNanos();
  ex.method = head.method;
  ex.target = head.target;
  ex.host = head.host;
  ex.userAgent = head.header("user-agent");
  ex.clientKeepAlive = head.keepAlive;
  ex.upgrade = head.upgrade;
  ex.requestFraming = head.framing;
  ex.requestRemaining = head.contentLength;
  ex.requestDone = head.framing == http1::Framing::kNone;
  headStarted_ = false;

  std::string flags = w_.startTrace(ex, head.header("traceparent"));

  std::string_view target = head.target;
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q), query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
  RequestView view{head.method, path, query, head.host, &head.headers};
  const Route* route = matchRoute(*listener, view);
  ex.route = route;
  size_t headLength = head.length;
  auto consumeHead = [&] { in_.consume(headLength); };
  if (!route) {
    consumeHead();
    respond(404, "no route for " + std::string(head.host) + std::string(path), !ex.requestDone);
    return;
  }
  if (route->redirectStatus) {
    std::string location = redirectLocation(*route, tls_ != nullptr, head.host, listener->port, target);
    consumeHead();
    respond(route->redirectStatus, "", !ex.requestDone, "location: " + location + "\r\n");
    return;
  }
  // Weighted choice among the route's backends (a canary split is exact in expectation).
  const BackendRef* backend = chooseBackend(*route, w_.random());
  if (!backend || backend->cluster < 0) {
    consumeHead();
    respond(route->directResponse ? route->directResponse : 500,
            backend ? "the route's backend does not exist (see the HTTPRoute's ResolvedRefs condition)" : "the route has no backends", !ex.requestDone);
    return;
  }
  const Cluster& cluster = ex.table->clusters[size_t(backend->cluster)];
  ex.cluster = &cluster;
  if (cluster.state->requests.load(std::memory_order_relaxed) >= cluster.limits.maxRequests) {
    proxyEvent(cluster.name, "overflow_requests").inc();
    consumeHead();
    respond(503, "upstream overloaded (circuit breaker: max requests)", !ex.requestDone, "x-skiff-overloaded: true\r\n");
    return;
  }
  cluster.state->requests.fetch_add(1, std::memory_order_relaxed);
  ex.retriesLeft = retryPolicyOf(route, cluster).attempts;
  auto timeout = route->timeout.count() ? route->timeout : cluster.timeout;
  if (timeout.count()) ex.requestDeadline = now + timeout;
  // Hash key for consistent hashing.
  if (cluster.lb == LbPolicy::kConsistentHash) {
    switch (cluster.hash.source) {
      case HashPolicy::Source::kHeader:
        ex.hashKey = hash64(head.header(cluster.hash.name));
        break;
      case HashPolicy::Source::kCookie: {
        std::string_view cookies = head.header("cookie");
        std::string_view value;
        while (!cookies.empty()) {
          size_t semi = cookies.find(';');
          std::string_view c = cookies.substr(0, semi);
          while (!c.empty() && c.front() == ' ') c.remove_prefix(1);
          if (c.starts_with(cluster.hash.name) && c.size() > cluster.hash.name.size() && c[cluster.hash.name.size()] == '=') {
            value = c.substr(cluster.hash.name.size() + 1);
            break;
          }
          if (semi == std::string_view::npos) break;
          cookies.remove_prefix(semi + 1);
        }
        ex.hashKey = hash64(value);
        break;
      }
      case HashPolicy::Source::kSourceIp:
        ex.hashKey = hash64(std::string_view(reinterpret_cast<const char*>(&peer_.sin_addr), 4));
        break;
      case HashPolicy::Source::kNone:
        break;
    }
  }

  // The head as it goes upstream: hop-by-hop headers dropped, route edits applied, trace context
  // and forwarding headers added.
  std::string& out = ex.upstreamHead;
  out.reserve(head.length + 192);
  out.append(head.method);
  out += ' ';
  out += upstreamTarget(*route, target);
  out += " HTTP/1.1\r\n";
  std::string_view forwardedFor;
  for (const auto& h : head.headers) {
    if (head.isHopByHop(h.name) || http1::equalsIgnoreCase(h.name, "traceparent") || http1::equalsIgnoreCase(h.name, "expect")) continue;
    if (http1::equalsIgnoreCase(h.name, "x-forwarded-for")) {
      forwardedFor = h.value;
      continue;
    }
    if (tls_ && http1::equalsIgnoreCase(h.name, "x-forwarded-proto")) continue;  // the proxy knows
    if (route->rewriteHost && http1::equalsIgnoreCase(h.name, "host")) continue;
    if (!route->requestHeaders.empty()) {
      bool skip = false;
      for (const auto& r : route->requestHeaders.remove) skip = skip || http1::equalsIgnoreCase(h.name, r);
      for (const auto& [n, v] : route->requestHeaders.set) skip = skip || http1::equalsIgnoreCase(h.name, n);
      if (skip) continue;
    }
    out.append(h.name);
    out += ": ";
    out.append(h.value);
    out += "\r\n";
  }
  if (route->rewriteHost) out += "host: " + *route->rewriteHost + "\r\n";
  for (const auto& [n, v] : route->requestHeaders.set) out += n + ": " + v + "\r\n";
  for (const auto& [n, v] : route->requestHeaders.add) out += n + ": " + v + "\r\n";
  out += "x-forwarded-for: ";
  if (!forwardedFor.empty()) {
    out.append(forwardedFor);
    out += ", ";
  }
  out += peerText_;
  if (tls_) out += "\r\nx-forwarded-proto: https";
  out += "\r\ntraceparent: 00-";
  out += ex.traceId;
  out += '-';
  out += ex.spanId;
  out += '-';
  out += flags;
  out += "\r\n";
  if (head.framing == http1::Framing::kChunked) out += "transfer-encoding: chunked\r\n";
  if (ex.upgrade) {
    out += "connection: upgrade\r\nupgrade: ";
    out.append(head.header("upgrade"));
    out += "\r\n";
  }
  out += "\r\n";
  bool expectContinue = head.expectContinue && !ex.requestDone && head.minorVersion >= 1;
  consumeHead();
  // Answer Expect: 100-continue here: the proxy reads the body either way.
  if (expectContinue) {
    ex.continueSent = true;
    write("HTTP/1.1 100 Continue\r\n\r\n");
  }
  ex.mirrorPending = !route->mirrors.empty() && !ex.upgrade;
  sendAttempt();
  if (!closed_ && ex_ && !ex_->requestDone) forwardRequestBody();
  if (!closed_ && ex_) mirrorRequest();
}

void Downstream::mirrorRequest() {
  Exchange& ex = *ex_;
  if (!ex.mirrorPending || !ex.requestDone) return;
  ex.mirrorPending = false;
  mirrorExchange(w_, ex, peer_.sin_addr.s_addr, ex.bodyRetained, [&] { return shadowHead(ex.upstreamHead) + ex.body; });
}

void Downstream::setExchangeDeadline() {
  Exchange& ex = *ex_;
  auto now = w_.loop_.now();
  Clock::time_point d = ex.requestDeadline;
  if (ex.backingOff) d = std::min(d, ex.backoffUntil);
  else if (ex.up && ex.up->connecting_) d = std::min(d, ex.attemptStart + ex.cluster->connectTimeout);
  else if (ex.route && ex.route->attemptTimeout.count()) d = std::min(d, ex.attemptStart + ex.route->attemptTimeout);
  if (!ex.backingOff) d = std::min(d, now + w_.options_.upstreamIdle);
  deadline_ = d;
}

bool Downstream::authorize(const RouteTable& t, const Cluster& c, int e, std::string_view method, std::string_view path, std::string_view host) {
  return w_.authorize(t, c, e, t.workloadOf(peer_.sin_addr.s_addr), method, path, host);
}

bool Worker::authorize(const RouteTable& t, const Cluster& c, int e, const Workload* source, std::string_view method, std::string_view path,
                       std::string_view host, bool operationCheckedAtSource) {
  const Endpoint& ep = c.endpoints[size_t(e)];
  if (ep.policies.empty()) return true;
  AuthzRequest r{source, method, path, host, ep.port, operationCheckedAtSource};
  bool denied = false;
  const AuthzPolicy* p = denyingPolicy(t.policies, ep.policies, r, denied);
  if (denied) authzDenied(c.ns + "/" + c.service, p ? p->name : "").inc();
  return !denied;
}

void Downstream::sendAttempt() {
  Exchange& ex = *ex_;
  const Cluster& c = *ex.cluster;
  auto now = w_.loop_.now();
  ex.backingOff = false;
  uint64_t rnd = w_.random();
  int e = pickEndpointFor(c, peer_.sin_addr.s_addr, ex.hashKey, ex.lastFailed, rnd, now);
  if (e < 0) {
    respond(503, "no healthy upstream for " + c.name, !ex.requestDone);
    return;
  }
  if (!authorize(*ex.table, c, e, ex.method, std::string_view(ex.target).substr(0, ex.target.find('?')), ex.host)) {
    ex.endpoint = e;
    respond(403, "RBAC: access denied", !ex.requestDone);
    return;
  }
  bool refused = false;
  Upstream* u = w_.connection(c, e, this, ex.table->workloadOf(peer_.sin_addr.s_addr), refused);
  if (!u && refused) {
    ex.endpoint = e;
    ++ex.attempts;
    failAttempt(503, "upstream connect error or disconnect/reset before headers (connection refused)", true);
    return;
  }
  if (!u) {
    // Circuit breaker: too many connections. Wait for one (pending requests), or give up.
    if (c.state->pending.load(std::memory_order_relaxed) < c.limits.maxPendingRequests && !ex.waitingForConnection) {
      ex.waitingForConnection = true;
      c.state->pending.fetch_add(1, std::memory_order_relaxed);
      w_.queuePending(c.name, this);
      setExchangeDeadline();
      return;
    }
    proxyEvent(c.name, "overflow_connections").inc();
    respond(503, "upstream overloaded (circuit breaker: max connections)", !ex.requestDone, "x-skiff-overloaded: true\r\n");
    return;
  }
  ++ex.attempts;
  ex.endpoint = e;
  ex.up = u;
  ex.attemptStart = now;
  c.endpoints[size_t(e)].state->active.fetch_add(1, std::memory_order_relaxed);
  u->out_.append(w_.pool_, ex.upstreamHead.data(), ex.upstreamHead.size());
  if (!ex.body.empty()) u->out_.append(w_.pool_, ex.body.data(), ex.body.size());
  if (!u->connecting_ && !u->flush()) {
    failAttempt(502, "upstream write failed", true);
    return;
  }
  setExchangeDeadline();
}

void Downstream::forwardRequestBody() {
  Exchange& ex = *ex_;
  while (!in_.empty() && !ex.requestDone) {
    size_t n = in_.size();
    if (ex.requestFraming == http1::Framing::kLength) {
      n = size_t(std::min<uint64_t>(n, ex.requestRemaining));
      ex.requestRemaining -= n;
      ex.requestDone = ex.requestRemaining == 0;
    } else {
      n = ex.requestChunks.feed(in_.data(), n);
      if (ex.requestChunks.failed()) {
        respond(400, "malformed chunked request body", true);
        return;
      }
      ex.requestDone = ex.requestChunks.done();
    }
    if (ex.bodyRetained) {
      if (ex.body.size() + n <= kRetainBody) ex.body.append(in_.data(), n);
      else {
        ex.bodyRetained = false;
        ex.body.clear();
        ex.body.shrink_to_fit();
      }
    }
    if (ex.up) {
      ex.up->out_.append(w_.pool_, in_.data(), n);
      if (!ex.up->connecting_ && !ex.up->flush()) {
        in_.consume(n);
        failAttempt(502, "upstream write failed", true);
        return;
      }
    }
    in_.consume(n);
  }
  if (ex.requestDone && ex.mirrorPending) mirrorRequest();
}

void Upstream::onEvents(uint32_t events) {
  if (closed_) return;
  if (events & (EPOLLRDHUP | EPOLLHUP)) peerClosed_ = true;
  if (connecting_) {
    if (int up = tcpConnectResult(events); up <= 0) {
      if (up == 0) return;
      if (owner_) owner_->onConnectFailed();
      else close();
      return;
    }
    if (dial_ && !dialStep()) {
      if (!dialFailed_) return;
      if (owner_) owner_->onConnectFailed();
      else close();
      return;
    }
    connecting_ = false;
    events |= EPOLLOUT;  // flush what was written while connecting
    if (!in_.empty()) events |= EPOLLIN;  // the pod spoke first, right after the tunnel opened
  }
  if (!owner_) {
    // Idle in the pool: the server closed it, or sent something unasked. Either way, drop it.
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) close();
    return;
  }
  owner_->onUpstreamEvent(events);
}

observe::Counter& meshConnections(const char* direction, const char* result) {
  static observe::Family<observe::Counter> f("skiff_mesh_connections_total",
                                             "mTLS tunnels between node proxies (mesh), by direction (outbound, inbound) and result.",
                                             {"direction", "result"});
  return f.with({direction, result});
}

bool Socket::dialStep() {
  MeshDial& d = *dial_;
  auto fail = [&](std::string why) {
    d.failure = std::move(why);
    dialFailed_ = true;
    meshConnections("outbound", d.status == 403 ? "denied" : "failed").inc();
    log::debug("proxy", "mesh tunnel (" + d.connectTarget + ") failed: " + d.failure);
    return false;
  };
  if (!d.tlsDone) {
    if (Handshake h = handshake(); h != Handshake::kDone) return h == Handshake::kWaiting ? false : fail("TLS handshake: " + tlsError());
    std::string peer = peerSpiffeId(ssl_);
    if (peer != d.expectedPeer) return fail("the node presented " + (peer.empty() ? std::string("no SPIFFE id") : peer) + ", not " + d.expectedPeer);
    d.tlsDone = true;
  }
  while (!d.connectHead.empty()) {
    ERR_clear_error();
    int k = SSL_write(ssl_, d.connectHead.data(), int(d.connectHead.size()));
    if (k <= 0) {
      int e = SSL_get_error(ssl_, k);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return false;
      return fail("sending CONNECT: " + tlsError());
    }
    d.connectHead.erase(0, size_t(k));
  }
  // The answer: "HTTP/1.1 200 OK\r\n\r\n" (bytes after it belong to the pod).
  readable_ = true;
  if (!fill(4096)) return fail("reading the answer to CONNECT: " + tlsError());
  std::string_view v = in_.view();
  size_t end = v.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (eof_ || v.size() >= 4096) return fail("the node closed the tunnel before answering");
    return false;
  }
  if (v.size() < 12 || !v.starts_with("HTTP/1.1 ")) return fail("the node's answer to CONNECT is not HTTP/1.1");
  d.status = std::atoi(std::string(v.substr(9, 3)).c_str());
  in_.consume(end + 4);
  if (d.status != 200) return fail("the node answered CONNECT with " + std::to_string(d.status));
  meshConnections("outbound", "established").inc();
  readable_ = !in_.empty() || eof_;
  dial_.reset();
  return true;
}

void Upstream::close() {
  if (closed_) return;
  closed_ = true;
  release();
  w_.forget(this);
  w_.loop_.remove(fd_);
  w_.untrack(this);
  releaseBuffers();
  w_.loop_.retire(this);
}

void Downstream::onConnectFailed() {
  Upstream* u = tunnel_ ? peerUp_ : (ex_ ? ex_->up : nullptr);
  if (mesh_ == MeshPhase::kOpen) {
    meshRefuse(503, "Service Unavailable", "pod_unreachable");
    return;
  }
  if (u && u->dial_ && u->dial_->status == 403 && !tunnel_) {
    // The destination node's policy refused this caller: as if decided here (no retry).
    detachUpstream(false);
    respond(403, "RBAC: access denied", !ex_->requestDone);
    return;
  }
  if (tunnel_) {
    // TCP: try another endpoint.
    failAttempt(0, "connect failed", true);
    return;
  }
  failAttempt(503, "upstream connect error or disconnect/reset before headers", true);
}

void Downstream::onUpstreamEvent(uint32_t events) {
  if (closed_) return;
  Upstream* u = tunnel_ ? peerUp_ : (ex_ ? ex_->up : nullptr);
  if (!u) return;
  if (meshAwaiting200_ && !u->connecting_) {
    meshAwaiting200_ = false;
    meshConnections("inbound", "forwarded").inc();
    if (!write("HTTP/1.1 200 OK\r\n\r\n")) {
      close();
      return;
    }
  }
  if (events & EPOLLERR) {
    if (tunnel_) close();
    else failAttempt(503, "upstream connect error or disconnect/reset before headers", true);
    return;
  }
  if (events & EPOLLOUT) {
    if (!u->flush()) {
      if (tunnel_) close();
      else failAttempt(503, "upstream connect error or disconnect/reset before headers", true);
      return;
    }
    if (u->out_.empty()) {
      if (tunnel_) {
        if (readable_) pumpTunnel(*this, *u);
        maybeEndTunnel();
      } else if (ex_ && !ex_->requestDone && readable_) {
        onReadable();
      }
      if (closed_) return;
    }
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
    u->readable_ = true;
    if (tunnel_) pumpTunnel(*u, *this);
    else readResponse();
  }
}

void Downstream::readResponse() {
  if (!ex_ || !ex_->up) return;
  Exchange& ex = *ex_;
  Upstream* u = ex.up;
  if (out_.size() > kMaxBuffered) return;  // the client is slow: resume on its EPOLLOUT
  if (!u->fill(ex.responseStarted ? 256 * 1024 : w_.options_.maxHeadBytes + 4096)) {
    failAttempt(503, "upstream connect error or disconnect/reset before headers", true);
    return;
  }
  if (!ex.responseStarted) {
    while (true) {
      if (u->in_.empty() && u->eof_) {
        failAttempt(503, "upstream connect error or disconnect/reset before headers", true);
        return;
      }
      http1::Head head;
      http1::Error error;
      switch (http1::parseResponse(u->in_.view(), w_.options_.maxHeadBytes, ex.method, head, error)) {
        case http1::Parse::kIncomplete:
          if (u->eof_) failAttempt(503, "upstream connect error or disconnect/reset before headers", true);
          return;
        case http1::Parse::kError:
          failAttempt(error.status, error.reason.c_str(), false);
          return;
        case http1::Parse::kComplete:
          break;
      }
      if (head.status >= 100 && head.status < 200 && head.status != 101) {
        // Interim responses go to the client as they are (100 Continue only if we did not send one).
        if (!(head.status == 100 && ex.continueSent)) write(u->in_.data(), head.length);
        u->in_.consume(head.length);
        continue;
      }
      // Retry on a status the policy names, before anything reached the client.
      if (answerWantsRetry(ex, head.status, w_.loop_.now())) {
        failAttempt(head.status, "retryable status", false);
        return;
      }
      ex.status = head.status;
      ex.responseFraming = head.framing;
      ex.responseRemaining = head.contentLength;
      ex.upstreamKeepAlive = head.keepAlive;
      bool switching = head.status == 101 && ex.upgrade;
      bool keepClient = ex.clientKeepAlive && !closeAfterFlush_ && (head.framing != http1::Framing::kUntilClose);
      // The head for the client.
      std::string h;
      h.reserve(head.length + 64);
      h += "HTTP/1.1 ";
      h += std::to_string(head.status);
      h += ' ';
      h.append(head.reason);
      h += "\r\n";
      const HeaderEdit& edit = ex.route->responseHeaders;
      for (const auto& x : head.headers) {
        if (head.isHopByHop(x.name) && !(switching && (http1::equalsIgnoreCase(x.name, "upgrade")))) continue;
        if (!edit.empty()) {
          bool skip = false;
          for (const auto& r : edit.remove) skip = skip || http1::equalsIgnoreCase(x.name, r);
          for (const auto& [n, v] : edit.set) skip = skip || http1::equalsIgnoreCase(x.name, n);
          if (skip) continue;
        }
        h.append(x.name);
        h += ": ";
        h.append(x.value);
        h += "\r\n";
      }
      for (const auto& [n, v] : edit.set) h += n + ": " + v + "\r\n";
      for (const auto& [n, v] : edit.add) h += n + ": " + v + "\r\n";
      if (head.framing == http1::Framing::kChunked) h += "transfer-encoding: chunked\r\n";
      if (switching) h += "connection: upgrade\r\n";
      else if (!keepClient) h += "connection: close\r\n";
      h += "\r\n";
      if (!keepClient && !switching) ex.clientKeepAlive = false;
      u->in_.consume(head.length);
      ex.responseStarted = true;
      ex.bytesSent += h.size();
      // Buffered, not sent: the head leaves together with the body bytes already here.
      out_.append(w_.pool_, h.data(), h.size());
      if (switching) {
        if (!flush()) {
          close();
          return;
        }
        becomeTunnel();
        return;
      }
      break;
    }
  }
  if (!forwardResponseBody()) return;
}

// Moves response body bytes from the upstream to the client; finishes the exchange at the end.
bool Downstream::forwardResponseBody() {
  Exchange& ex = *ex_;
  Upstream* u = ex.up;
  bool done = false;
  while (true) {
    size_t n = u->in_.size();
    switch (ex.responseFraming) {
      case http1::Framing::kNone:
        n = 0;
        done = true;
        break;
      case http1::Framing::kLength:
        n = size_t(std::min<uint64_t>(n, ex.responseRemaining));
        ex.responseRemaining -= n;
        done = ex.responseRemaining == 0;
        break;
      case http1::Framing::kChunked:
        n = ex.responseChunks.feed(u->in_.data(), n);
        if (ex.responseChunks.failed()) {
          close();  // the head is out already: all we can do is cut the connection
          return false;
        }
        done = ex.responseChunks.done();
        break;
      case http1::Framing::kUntilClose:
        done = u->eof_ && u->in_.empty();
        break;
    }
    if (n > 0) {
      ex.bytesSent += n;
      out_.append(w_.pool_, u->in_.data(), n);
      u->in_.consume(n);
    }
    // One send for what has gathered (head and body together for small responses).
    if (!flush()) {
      close();
      return false;
    }
    if (done) {
      finishExchange();
      return true;
    }
    if (u->eof_ && u->in_.empty()) {
      if (ex.responseFraming == http1::Framing::kUntilClose) continue;
      close();  // the upstream cut the body short
      return false;
    }
    if (!u->readable_ || out_.size() > kMaxBuffered) {
      setExchangeDeadline();
      return true;
    }
    if (!u->fill(256 * 1024)) {
      close();
      return false;
    }
  }
}

void Downstream::record() { w_.record(*ex_, peer_.sin_addr.s_addr, peerText_); }

std::string Worker::startTrace(Exchange& ex, std::string_view traceparent) {
  auto incoming = observe::parseTraceparent(traceparent);
  if (incoming) {
    ex.traceId = incoming->traceId;
    ex.parentSpanId = incoming->parentId;
  } else {
    appendHex(ex.traceId, random(), 16);
    appendHex(ex.traceId, random(), 16);
  }
  appendHex(ex.spanId, random() | 1, 16);
  return incoming ? incoming->flags : "01";
}

namespace {

// `target` with its path changed by `m` (the query stays). A prefix replacement needs the route's
// PathPrefix match (validation asks for one; without it the path is kept).
std::string modifiedTarget(const Route& route, const Route::PathModifier& m, std::string_view target) {
  using Kind = Route::PathModifier::Kind;
  if (m.kind == Kind::kNone) return std::string(target);
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string rewritten;
  if (m.kind == Kind::kFullPath) {
    rewritten = m.value;
  } else {
    bool prefixMatch = !route.matches.empty() && route.matches.front().pathType == RouteMatch::Path::kPrefix;
    std::string_view prefix = prefixMatch ? std::string_view(route.matches.front().path) : std::string_view();
    if (!prefixMatch && !route.matches.empty()) return std::string(target);
    std::string_view rest = path.substr(std::min(path.size(), prefix.size()));
    rewritten = m.value;
    if (!rest.empty() && rest.front() != '/' && (rewritten.empty() || rewritten.back() != '/')) rewritten += '/';
    if (!rest.empty() && rest.front() == '/' && !rewritten.empty() && rewritten.back() == '/') rest.remove_prefix(1);
    rewritten.append(rest);
  }
  if (rewritten.empty()) rewritten = "/";
  if (q != std::string_view::npos) rewritten.append(target.substr(q));
  return rewritten;
}

}  // namespace

std::string upstreamTarget(const Route& route, std::string_view target) { return modifiedTarget(route, route.rewritePath, target); }

std::string redirectLocation(const Route& route, bool tls, std::string_view authority, int listenerPort, std::string_view target) {
  std::string scheme = route.redirectScheme.empty() ? (tls ? "https" : "http") : route.redirectScheme;
  std::string_view host = authority;
  if (size_t colon = host.rfind(':'); colon != std::string_view::npos && host.find(']', colon) == std::string_view::npos) host = host.substr(0, colon);
  std::string location = scheme + "://" + (route.redirectHost.empty() ? std::string(host) : route.redirectHost);
  int port = route.redirectPort ? route.redirectPort : route.redirectScheme.empty() ? listenerPort : 0;
  bool wellKnown = port == 0 || (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
  if (!wellKnown) location += ":" + std::to_string(port);
  return location + modifiedTarget(route, route.redirectPath, target);
}

void Worker::record(const Exchange& ex, uint32_t peerIp, const std::string& peerText) {
  if (ex.cluster && ex.endpoint >= 0) ex.cluster->endpoints[size_t(ex.endpoint)].state->requests.fetch_add(1, std::memory_order_relaxed);
  auto now = loop_.now();
  count(ex, peerIp);
  if (logging()) {
    const auto* src = ex.table ? ex.table->workloadOf(peerIp) : nullptr;
    accessLog(ex, now, src ? src->ns + "/" + src->name : peerText);
  }
  if (*spanSink_) {
    SpanRecord s;
    s.traceId = ex.traceId;
    s.spanId = ex.spanId;
    s.parentSpanId = ex.parentSpanId;
    s.name = ex.route ? ex.route->name : ex.listener->name;
    s.method = ex.method;
    s.path = ex.target;
    if (ex.cluster && ex.endpoint >= 0) s.upstream = ex.cluster->endpoints[size_t(ex.endpoint)].text;
    s.status = ex.status;
    s.startUnixNanos = ex.startUnix;
    s.endUnixNanos = unixNanos();
    (*spanSink_)(std::move(s));
  }
}

void Downstream::detachUpstream(bool reuse) {
  Exchange& ex = *ex_;
  if (!ex.up) return;
  Upstream* u = ex.up;
  ex.up = nullptr;
  if (ex.endpoint >= 0) ex.cluster->endpoints[size_t(ex.endpoint)].state->active.fetch_sub(1, std::memory_order_relaxed);
  u->release();
  if (reuse && !u->eof_ && u->in_.empty() && u->out_.empty() && !u->connecting_) {
    w_.giveBack(u);
  } else {
    u->close();
  }
  w_.connectionFreed(ex.cluster->name);
}

void Downstream::finishExchange() {
  Exchange& ex = *ex_;
  record();
  detachUpstream(ex.upstreamKeepAlive && ex.requestDone);
  ex.cluster->state->requests.fetch_sub(1, std::memory_order_relaxed);
  if (ex.inRetryBudget) ex.cluster->state->retries.fetch_sub(1, std::memory_order_relaxed);
  bool keep = ex.clientKeepAlive && ex.requestDone;
  ex_.reset();
  nextRequest(keep);
}

// After a response: close once it is sent, or wait for (or start on) the next request.
void Downstream::nextRequest(bool keep) {
  if (!keep) {
    closeAfterFlush_ = true;
    if (out_.empty()) close();
    return;
  }
  deadline_ = w_.loop_.now() + w_.options_.idleTimeout;
  processInput();
}

// The current try failed before the client saw anything: retry if the policy allows, else answer.
void Downstream::failAttempt(int status, const char* reason, bool connectionFailure) {
  if (!ex_) {
    close();
    return;
  }
  Exchange& ex = *ex_;
  if (tunnel_ && !ex.cluster) {
    close();
    return;
  }
  bool reused = ex.up && ex.up->reused_;
  int failedEndpoint = ex.endpoint;
  if (ex.up) detachUpstream(false);
  if (ex.responseStarted) {
    close();
    return;
  }
  auto now = w_.loop_.now();
  const Cluster& c = *ex.cluster;
  // A reset on a reused pooled connection is the pool's race, not the endpoint's fault.
  if (connectionFailure && failedEndpoint >= 0 && !reused) countOutlierError(c, failedEndpoint, now);
  // A pooled connection the server had just closed: try once more on a fresh one, for free.
  if (connectionFailure && reused && !ex.reusedResetRetried && ex.bodyRetained) {
    ex.reusedResetRetried = true;
    --ex.attempts;
    sendAttempt();
    return;
  }
  if (auto wait = planRetry(ex, connectionFailure, now, w_.random())) {
    ex.lastFailed = failedEndpoint;
    if (wait->count() == 0) {
      sendAttempt();
    } else {
      ex.backingOff = true;
      ex.backoffUntil = now + *wait;
      setExchangeDeadline();
    }
    return;
  }
  if (tunnel_) {
    close();
    return;
  }
  if (status == 0) status = 503;
  respond(status, reason, !ex.requestDone);
}

void Downstream::respond(int status, std::string_view message, bool closeAfter, std::string_view extraHeaders) {
  if (ex_ && ex_->responseStarted) {
    close();
    return;
  }
  std::string body(message);
  if (!body.empty()) body += '\n';
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + http1::reasonPhrase(status) + "\r\ncontent-type: text/plain\r\ncontent-length: " +
                  std::to_string(body.size()) + "\r\n";
  r.append(extraHeaders);
  bool keep = !closeAfter && ex_ && ex_->clientKeepAlive && !eof_;
  if (!keep) r += "connection: close\r\n";
  r += "\r\n";
  r += body;
  if (ex_) {
    ex_->status = status;
    ex_->responseStarted = true;
    ex_->bytesSent = r.size();
  }
  if (!write(r)) {
    close();
    return;
  }
  if (ex_) {
    record();
    if (ex_->up) detachUpstream(false);
    if (ex_->cluster) {
      ex_->cluster->state->requests.fetch_sub(1, std::memory_order_relaxed);
      if (ex_->inRetryBudget) ex_->cluster->state->retries.fetch_sub(1, std::memory_order_relaxed);
    }
    if (ex_->waitingForConnection) {
      ex_->cluster->state->pending.fetch_sub(1, std::memory_order_relaxed);
      w_.dropPending(this);
    }
    // A request whose body was never read leaves the stream unusable: close.
    if (!ex_->requestDone) keep = false;
    ex_.reset();
  }
  nextRequest(keep);
}

void Downstream::abortExchange() {
  Exchange& ex = *ex_;
  if (ex.status == 0) ex.status = 499;  // the client went away first (as nginx counts it)
  if (!ex.responseStarted && ex.cluster) record();
  if (ex.up) detachUpstream(false);
  if (ex.cluster) {
    if (ex.waitingForConnection) {
      ex.cluster->state->pending.fetch_sub(1, std::memory_order_relaxed);
      w_.dropPending(this);
    }
    ex.cluster->state->requests.fetch_sub(1, std::memory_order_relaxed);
    if (ex.inRetryBudget) ex.cluster->state->retries.fetch_sub(1, std::memory_order_relaxed);
  }
  ex_.reset();
}

void Downstream::onTimeout(Clock::time_point now) {
  if (closed_) return;
  deadline_ = kNever;
  if (h2_) {
    h2_->onTimeout(now);
    return;
  }
  if (tunnel_) {
    close();
    return;
  }
  if (!ex_) {
    if (headStarted_ && !in_.empty()) respond(408, "request head not received in time", true);
    else close();
    return;
  }
  Exchange& ex = *ex_;
  if (ex.backingOff && now >= ex.backoffUntil && now < ex.requestDeadline) {
    sendAttempt();
    return;
  }
  if (now >= ex.requestDeadline) {
    proxyEvent(ex.cluster->name, "timeout").inc();
    if (ex.up) detachUpstream(false);
    respond(504, "upstream request timeout", !ex.requestDone);
    return;
  }
  if (ex.waitingForConnection) {
    ex.cluster->state->pending.fetch_sub(1, std::memory_order_relaxed);
    w_.dropPending(this);
    ex.waitingForConnection = false;
    proxyEvent(ex.cluster->name, "overflow_pending_timeout").inc();
    respond(503, "upstream overloaded (no connection became free)", !ex.requestDone, "x-skiff-overloaded: true\r\n");
    return;
  }
  // The try took too long (connect or per-try timeout, or a silent upstream): retry or 504.
  proxyEvent(ex.cluster->name, "attempt_timeout").inc();
  bool connecting = ex.up && ex.up->connecting_;
  failAttempt(504, connecting ? "upstream connect timeout" : "upstream request timeout", connecting);
}

// ---- tunnels (TCP listeners, WebSocket after 101) ----

// A Gateway TCP, UDP or TLS port's backend for one connection (flow): the route for the server
// name (TLS) or the port's oldest route, then a weighted choice among its backends; -1 for none.
static int routedCluster(const Listener& l, std::string_view serverName, uint64_t random) {
  if (l.tcpCluster >= 0 || l.hosts.empty()) return l.tcpCluster;
  RequestView view{"", "/", "", serverName, nullptr};
  const Route* route = matchRoute(l, view);
  const BackendRef* backend = route ? chooseBackend(*route, random) : nullptr;
  return backend ? backend->cluster : -1;
}

void Downstream::startTcp(const Listener& l, std::string_view serverName) {
  tunnel_ = true;
  ex_ = std::make_unique<Exchange>();
  ex_->table = w_.table_;
  ex_->listener = &l;
  int cluster = routedCluster(l, serverName, w_.random());
  if (cluster < 0) {
    tcpConnections(l.name, "no_endpoints").inc();
    linger lg{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);  // refused, as kube-proxy's REJECT
    close();
    return;
  }
  const Cluster& c = ex_->table->clusters[size_t(cluster)];
  // Try each endpoint once (by the cluster's policy, or the client's own with ClientIP affinity);
  // one that refuses is skipped for the next.
  auto now = w_.loop_.now();
  int refusedBy = -1;
  for (size_t tries = 0; tries < c.endpoints.size(); ++tries) {
    uint64_t r = w_.random();
    int e = pickEndpointFor(c, peer_.sin_addr.s_addr, 0, refusedBy, r, now);
    if (e < 0) break;
    if (!authorize(*ex_->table, c, e, "", "", "")) {
      linger lg{1, 0};
      ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      close();
      return;
    }
    bool refused = false;
    Upstream* u = w_.connection(c, e, this, ex_->table->workloadOf(peer_.sin_addr.s_addr), refused);
    if (u) {
      u->tunnel_ = true;
      peerUp_ = u;
      ex_.reset();
      deadline_ = now + w_.options_.tunnelIdleTimeout;
      tcpConnections(l.name, "forwarded").inc();
      if (!in_.empty()) {  // the ClientHello a TLS passthrough port read to choose
        u->write(in_.data(), in_.size());
        in_.consume(in_.size());
      }
      if (readable_) pumpTunnel(*this, *u);
      return;
    }
    refusedBy = e;
  }
  tcpConnections(l.name, "no_endpoints").inc();
  linger lg{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close();
}

void Downstream::sniffClientHello() {
  const Listener* l = slot_->config;
  if (!fill(64 * 1024 + 4096) || !l) {
    close();
    return;
  }
  std::string serverName;
  switch (parseClientHello(in_.view(), serverName)) {
    case ClientHello::kIncomplete:
      if (eof_) close();
      return;  // the header timeout bounds a client that stalls here
    case ClientHello::kNotTls:
      tcpConnections(l->name, "not_tls").inc();
      close();
      return;
    case ClientHello::kComplete:
      sniffing_ = false;
      startTcp(*l, serverName);
      return;
  }
}

// ---- the mesh's inbound port (mesh_tls.h) ----

void Downstream::startMeshInbound() {
  const MeshTls* mesh = w_.table_ ? w_.table_->mesh.get() : nullptr;
  ssl_ = mesh ? SSL_new(mesh->server()) : nullptr;
  if (!ssl_ || SSL_set_fd(ssl_, fd_) != 1) {
    meshConnections("inbound", "no_credentials").inc();
    close();
    return;
  }
  SSL_set_accept_state(ssl_);
  mesh_ = MeshPhase::kHandshake;
  meshInboundStep();
}

void Downstream::startTlsTermination(std::shared_ptr<const TlsTerminator> tls) {
  tls_ = std::move(tls);
  ssl_ = SSL_new(tls_->context());
  if (!ssl_ || SSL_set_fd(ssl_, fd_) != 1) {
    close();
    return;
  }
  SSL_set_accept_state(ssl_);
  tlsHandshake_ = true;
  tlsHandshakeStep();  // the ClientHello may be here already
}

void Downstream::tlsHandshakeStep() {
  const std::string& listener = slot_->config ? slot_->config->name : slot_->key;
  if (Handshake h = handshake(); h != Handshake::kDone) {
    if (h == Handshake::kWaiting) return;
    tlsHandshakes(listener, "failed").inc();
    log::debug("proxy", "TLS handshake from " + peerText_ + " on " + listener + " failed: " + tlsError());
    close();
    return;
  }
  tlsHandshake_ = false;
  tlsHandshakes(listener, "ok").inc();
  const unsigned char* alpn = nullptr;
  unsigned int alpnLength = 0;
  SSL_get0_alpn_selected(ssl_, &alpn, &alpnLength);
  // OpenSSL may hold the client's first bytes already (TLS 1.3 clients send them with their
  // Finished): read them now, as no further edge will say so.
  readable_ = true;
  if (slot_->config && slot_->config->protocol == Listener::Protocol::kTls) {  // TLS Terminate: TCP inside
    std::string serverName;
    if (const char* n = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name))
      for (const char* c = n; *c; ++c) serverName += char(std::tolower(static_cast<unsigned char>(*c)));
    startTcp(*slot_->config, serverName);
    return;
  }
  if (alpnLength == 2 && std::memcmp(alpn, "h2", 2) == 0) {
    startHttp2();
    return;
  }
  onReadable();
}

void Downstream::meshRefuse(int status, const char* reason, const char* result) {
  meshConnections("inbound", result).inc();
  mesh_ = MeshPhase::kConnect;  // no tunnel: what the caller sends now is ignored
  tunnel_ = false;
  if (peerUp_) {
    peerUp_->close();
    peerUp_ = nullptr;
  }
  closeAfterFlush_ = true;
  if (!write("HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\ncontent-length: 0\r\n\r\n") || out_.empty()) close();
}

void Downstream::meshInboundStep() {
  if (closeAfterFlush_) {
    if (!flush()) close();
    else if (out_.empty()) close();
    return;
  }
  if (mesh_ == MeshPhase::kHandshake) {
    if (Handshake h = handshake(); h != Handshake::kDone) {
      if (h == Handshake::kWaiting) return;
      meshConnections("inbound", "handshake_failed").inc();
      log::debug("proxy", "mesh handshake from " + peerText_ + " failed: " + tlsError());
      close();
      return;
    }
    // The caller's identity: spiffe://<trust domain>/ns/<ns>/sa/<sa> for workloads, or
    // spiffe://<trust domain>/node/<name> for a node speaking for callers that are not pods.
    std::string id = peerSpiffeId(ssl_);
    std::string prefix = "spiffe://" + w_.table_->trustDomain + "/";
    if (!id.starts_with(prefix)) {
      meshConnections("inbound", "foreign_identity").inc();
      close();
      return;
    }
    meshPeer_ = std::make_unique<Workload>();
    meshPeer_->principal = id.substr(9);
    std::string_view path = std::string_view(id).substr(prefix.size());
    if (path.starts_with("ns/")) {
      path.remove_prefix(3);
      meshPeer_->ns = std::string(path.substr(0, path.find('/')));
    }
    meshPeer_->name = "unknown";
    mesh_ = MeshPhase::kConnect;
  }
  // CONNECT <pod ip>:<port> HTTP/1.1
  readable_ = true;
  if (!fill(8192)) {
    close();
    return;
  }
  std::string_view v = in_.view();
  size_t end = v.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (eof_ || v.size() >= 8192) close();
    return;
  }
  std::string_view line = v.substr(0, v.find("\r\n"));
  sockaddr_in target{};
  target.sin_family = AF_INET;
  bool ok = line.starts_with("CONNECT ") && line.ends_with(" HTTP/1.1");
  std::string authority = ok ? std::string(line.substr(8, line.size() - 8 - 9)) : "";
  size_t colon = authority.rfind(':');
  int port = colon == std::string::npos ? 0 : std::atoi(authority.c_str() + colon + 1);
  ok = ok && colon != std::string::npos && port > 0 && port < 65536 && inet_pton(AF_INET, authority.substr(0, colon).c_str(), &target.sin_addr) == 1;
  in_.consume(end + 4);
  if (!ok) {
    meshRefuse(400, "Bad Request", "bad_request");
    return;
  }
  target.sin_port = htons(uint16_t(port));
  auto [ci, ei] = w_.table_->meshTarget(target);
  if (ci < 0) {
    meshRefuse(404, "Not Found", "no_such_pod");
    return;
  }
  ex_ = std::make_unique<Exchange>();
  ex_->table = w_.table_;
  ex_->listener = slot_->config;
  const Cluster& c = ex_->table->clusters[size_t(ci)];
  if (!w_.authorize(*ex_->table, c, ei, meshPeer_.get(), "", "", "", true)) {
    ex_.reset();
    meshRefuse(403, "Forbidden", "denied");
    return;
  }
  bool refused = false;
  Upstream* u = w_.connection(c, ei, this, nullptr, refused);
  if (!u) {
    ex_.reset();
    meshRefuse(503, "Service Unavailable", refused ? "pod_unreachable" : "overloaded");
    return;
  }
  auto keep = ex_->table;
  ex_.reset();
  mesh_ = MeshPhase::kOpen;
  tunnel_ = true;
  u->tunnel_ = true;
  peerUp_ = u;
  deadline_ = w_.loop_.now() + w_.options_.tunnelIdleTimeout;
  meshAwaiting200_ = true;
  // Bytes the caller sent after CONNECT wait for the pod's connection.
  if (!in_.empty()) {
    u->write(in_.data(), in_.size());
    in_.consume(in_.size());
  }
  if (!u->connecting_) onUpstreamEvent(EPOLLOUT);
}

void Downstream::becomeTunnel() {
  Exchange& ex = *ex_;
  Upstream* u = ex.up;
  record();
  ex.cluster->endpoints[size_t(ex.endpoint)].state->active.fetch_sub(1, std::memory_order_relaxed);
  ex.cluster->state->requests.fetch_sub(1, std::memory_order_relaxed);
  if (ex.inRetryBudget) ex.cluster->state->retries.fetch_sub(1, std::memory_order_relaxed);
  ex.up = nullptr;
  ex_.reset();
  tunnel_ = true;
  u->tunnel_ = true;
  peerUp_ = u;
  deadline_ = w_.loop_.now() + w_.options_.tunnelIdleTimeout;
  // Bytes already read on either side go across now.
  if (!u->in_.empty()) {
    write(u->in_.data(), u->in_.size());
    u->in_.consume(u->in_.size());
  }
  if (!in_.empty()) {
    u->write(in_.data(), in_.size());
    in_.consume(in_.size());
  }
  if (u->readable_) pumpTunnel(*u, *this);
  if (!closed_ && readable_) pumpTunnel(*this, *u);
}

void Downstream::pumpTunnel(Socket& from, Socket& to) {
  if (closed_) return;
  deadline_ = w_.loop_.now() + w_.options_.tunnelIdleTimeout;
  while (from.readable_ && to.out_.size() <= kMaxBuffered) {
    if (!from.fill(64 * 1024)) {
      close();
      return;
    }
    if (!from.in_.empty()) {
      if (!to.write(from.in_.data(), from.in_.size())) {
        close();
        return;
      }
      from.in_.consume(from.in_.size());
    }
    if (from.eof_) break;
  }
  if (from.eof_) {
    // Half-close passes through; when both sides have finished, the tunnel ends.
    if (to.out_.empty()) to.shutdownWrite();
    else to.shutdownAfterFlush_ = true;
    maybeEndTunnel();
  }
}

// ---- UDP ----

observe::Counter& udpSessions(const std::string& service, const char* result) {
  static observe::Family<observe::Counter> f("skiff_proxy_udp_sessions_total", "UDP flows (client address and port) the node proxy forwarded, by service and result.",
                                             {"service", "result"});
  return f.with({service, result});
}

void ListenSocket::onDatagrams() {
  char buf[65536];
  auto now = w_.loop_.now();
  while (!closed_) {
    sockaddr_in from{};
    socklen_t len = sizeof from;
    ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    const Listener* l = slot_->config;
    if (!l || (l->tcpCluster < 0 && l->hosts.empty()) || !w_.table_) continue;
    std::pair<const void*, uint64_t> key{this, (uint64_t(from.sin_addr.s_addr) << 16) | from.sin_port};
    UdpSession* s = nullptr;
    if (auto it = w_.udpSessions_.find(key); it != w_.udpSessions_.end() && !it->second->closed()) {
      s = it->second;
    } else {
      uint64_t r = w_.random();
      int cluster = routedCluster(*l, "", r);
      if (cluster < 0) {
        udpSessions(l->name, "no_endpoints").inc();
        continue;
      }
      const Cluster& c = w_.table_->clusters[size_t(cluster)];
      int e = pickEndpointFor(c, from.sin_addr.s_addr, 0, -1, r, now);
      if (e < 0) {
        udpSessions(l->name, "no_endpoints").inc();
        continue;  // dropped, as kube-proxy drops datagrams for a Service without endpoints
      }
      // AuthorizationPolicy, per flow: sources and ports (UDP has no methods or paths).
      if (!w_.authorize(*w_.table_, c, e, w_.table_->workloadOf(from.sin_addr.s_addr), "", "", "")) {
        udpSessions(l->name, "denied").inc();
        continue;  // dropped: a datagram has no way to say 403
      }
      int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) continue;
      if (::connect(fd, reinterpret_cast<const sockaddr*>(&c.endpoints[size_t(e)].address), sizeof(sockaddr_in)) != 0) {
        ::close(fd);
        continue;
      }
      s = new UdpSession(w_, fd, ::dup(fd_), from, key);
      w_.track(s);
      if (!w_.loop_.add(fd, s, EPOLLIN | EPOLLET)) {
        s->close();
        continue;
      }
      w_.udpSessions_[key] = s;
      udpSessions(l->name, "forwarded").inc();
    }
    s->deadline_ = now + std::chrono::seconds(30);
    ssize_t k = ::send(s->fd(), buf, size_t(n), MSG_DONTWAIT);
    (void)k;  // UDP: a full buffer drops the datagram, as the network would
  }
}

void UdpSession::onEvents(uint32_t) {
  if (closed_) return;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) close();  // e.g. ECONNREFUSED: the endpoint is gone
      return;
    }
    ::sendto(replyFd_, buf, size_t(n), MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&client_), sizeof client_);
    deadline_ = w_.loop_.now() + std::chrono::seconds(30);
  }
}

void UdpSession::close() {
  if (closed_) return;
  closed_ = true;
  if (auto it = w_.udpSessions_.find(key_); it != w_.udpSessions_.end() && it->second == this) w_.udpSessions_.erase(it);
  w_.loop_.remove(fd_);
  w_.untrack(this);
  w_.loop_.retire(this);
}

// ---- Worker ----

Upstream* Worker::connection(const Cluster& c, int e, UpstreamOwner* owner, const Workload* source, bool& refused) {
  refused = false;
  const Endpoint& ep = c.endpoints[size_t(e)];
  // The circuit breaker counts connections in use, across workers; idle pooled ones do not count.
  if (c.state->busy.load(std::memory_order_relaxed) >= c.limits.maxConnections) return nullptr;
  // A pod on another node: its pool is per caller identity and credential generation (a renewed
  // certificate is used by new connections; older ones idle out).
  const MeshTls* mesh = ep.remote && table_ ? table_->mesh.get() : nullptr;
  if (ep.remote && !mesh) {
    refused = true;  // no credentials to reach another node with (the CA failed; logged by the node proxy)
    return nullptr;
  }
  std::string identity, meshKey;
  if (mesh) {
    identity = meshIdentity(*mesh, source);
    meshKey = ep.text + "|" + identity + "|" + std::to_string(mesh->generation());
  }
  const std::string& key = mesh ? meshKey : ep.text;
  auto it = idle_.find(key);
  if (it != idle_.end() && !it->second.empty()) {
    Upstream* u = it->second.back();
    it->second.pop_back();
    u->owner_ = owner;
    u->reused_ = true;
    u->deadline_ = kNever;
    c.state->busy.fetch_add(1, std::memory_order_relaxed);
    return u;
  }
  bool inProgress = false;
  int fd = connectTo(mesh ? ep.via : ep.address, inProgress);
  if (fd < 0) {
    refused = true;
    return nullptr;
  }
  auto* u = new Upstream(*this, fd, key, c.state);
  u->owner_ = owner;
  c.state->busy.fetch_add(1, std::memory_order_relaxed);
  u->connecting_ = inProgress;
  u->tcpUp_ = !inProgress;
  track(u);
  if (!loop_.add(fd, u)) {
    u->close();  // releases it too
    return nullptr;
  }
  if (mesh && !u->startDial(mesh->client(identity), ep.viaId, ep.text)) {
    u->close();
    refused = true;
    return nullptr;
  }
  return u;
}

int Socket::tcpConnectResult(uint32_t events) {
  if (tcpUp_) return 1;
  if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return 0;
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0 || (events & EPOLLERR)) return -1;
  tcpUp_ = true;
  return 1;
}

bool Socket::startDial(SSL_CTX* ctx, const std::string& expectedPeer, const std::string& target) {
  ssl_ = SSL_new(ctx);
  if (!ssl_ || SSL_set_fd(ssl_, fd_) != 1) return false;
  SSL_set_connect_state(ssl_);
  dial_ = std::make_unique<MeshDial>();
  dial_->expectedPeer = expectedPeer;
  dial_->connectTarget = target;
  dial_->connectHead = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n";
  connecting_ = true;
  if (tcpUp_) dialStep();  // starts the handshake; the rest follows on events
  return !dialFailed_;
}

void Worker::giveBack(Upstream* u) {
  u->reused_ = false;
  u->releaseBuffers();
  u->deadline_ = loop_.now() + std::chrono::seconds(60);
  idle_[u->key_].push_back(u);
}

void Worker::forget(Upstream* u) {
  auto it = idle_.find(u->key_);
  if (it == idle_.end()) return;
  auto& v = it->second;
  v.erase(std::remove(v.begin(), v.end(), u), v.end());
}

void Worker::connectionFreed(const std::string& cluster) {
  auto it = pending_.find(cluster);
  if (it == pending_.end() || it->second.empty()) return;
  Downstream* d = it->second.front();
  it->second.pop_front();
  if (d->closed() || !d->ex_) return;
  d->ex_->cluster->state->pending.fetch_sub(1, std::memory_order_relaxed);
  // Run it from the loop, not from inside another connection's handler.
  loop_.post([this, d] {
    if (conns_.count(d) && !d->closed() && d->ex_ && d->ex_->waitingForConnection) d->resumeAfterQueue();
  });
}

void Worker::count(const Exchange& ex, uint32_t peerIp) {
  if (!ex.table) return;
  const auto* src = ex.table->workloadOf(peerIp);
  const Endpoint* dst = ex.cluster && ex.endpoint >= 0 ? &ex.cluster->endpoints[size_t(ex.endpoint)] : nullptr;
  MetricKey key{ex.table->version, ex.route, src, dst, ex.status};
  auto it = metrics_.find(key);
  if (it == metrics_.end()) {
    std::string route = ex.route ? ex.route->name : ex.listener->name;
    std::string dstService = ex.cluster ? ex.cluster->ns + "/" + ex.cluster->service : "unknown";
    std::string dstWorkload = dst ? dst->workload : "unknown";
    observe::Labels labels{route, src ? src->ns : "unknown", src ? src->name : "unknown", dstService, dstWorkload};
    auto* h = &durationFamily().with(labels);
    labels.push_back(std::to_string(ex.status));
    auto* c = &requestsFamily().with(labels);
    if (metrics_.size() > 100000) metrics_.clear();
    it = metrics_.emplace(key, std::make_pair(c, h)).first;
  }
  it->second.first->inc();
  it->second.second->observe(std::chrono::duration<double>(loop_.now() - ex.start).count());
}

void Worker::accessLog(const Exchange& ex, Clock::time_point now, const std::string& source) {
  if (accessLog_ < 0) return;
  std::string& b = logBuffer_;
  auto sys = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(sys);
  if (t != logSecond_) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(logTime_, sizeof logTime_, "%Y-%m-%dT%H:%M:%S", &tm);
    logSecond_ = t;
  }
  const char* time = logTime_;
  int ms = int(std::chrono::duration_cast<std::chrono::milliseconds>(sys.time_since_epoch()).count() % 1000);
  b += "{\"time\":\"";
  b += time;
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03dZ", ms);
  b += frac;
  b += "\",\"method\":";
  appendJsonString(b, ex.method);
  b += ",\"path\":";
  appendJsonString(b, ex.target);
  b += ",\"protocol\":\"";
  b += ex.protocol;
  b += '"';
  b += ",\"host\":";
  appendJsonString(b, ex.host);
  b += ",\"status\":" + std::to_string(ex.status);
  b += ",\"duration_ms\":" + std::to_string(std::chrono::duration<double, std::milli>(now - ex.start).count());
  b += ",\"bytes_sent\":" + std::to_string(ex.bytesSent);
  b += ",\"route\":";
  appendJsonString(b, ex.route ? ex.route->name : ex.listener->name);
  b += ",\"upstream\":";
  appendJsonString(b, ex.cluster && ex.endpoint >= 0 ? ex.cluster->endpoints[size_t(ex.endpoint)].text : "");
  b += ",\"attempts\":" + std::to_string(ex.attempts);
  b += ",\"source\":";
  appendJsonString(b, source);
  b += ",\"user_agent\":";
  appendJsonString(b, ex.userAgent);
  b += ",\"trace_id\":\"" + ex.traceId + "\",\"span_id\":\"" + ex.spanId + "\"}\n";
  if (b.size() > 32 * 1024) {
    ssize_t n = ::write(accessLog_, b.data(), b.size());
    (void)n;
    b.clear();
    lastLogFlush_ = now;
  }
}

void Worker::tick(Clock::time_point now) {
  if (accessLog_ >= 0 && !logBuffer_.empty() && now - lastLogFlush_ > std::chrono::milliseconds(200)) {
    ssize_t n = ::write(accessLog_, logBuffer_.data(), logBuffer_.size());
    (void)n;
    logBuffer_.clear();
    lastLogFlush_ = now;
  }
  std::vector<Socket*> due;
  for (Socket* s : conns_)
    if (s->deadline_ <= now) due.push_back(s);
  for (Socket* s : due)
    if (!s->closed_) s->expire(now);
  if (!mirrors_.empty()) {
    std::vector<MirrorLeg*> legs(mirrors_.begin(), mirrors_.end());
    for (MirrorLeg* m : legs) m->expireIfDue(now);
  }
}

void Worker::install(std::shared_ptr<const RouteTable> table, std::map<std::string, int> newSockets) {
  table_ = std::move(table);
  metrics_.clear();
  std::set<std::string> keep;
  for (const auto& l : table_->listeners) keep.insert(l.key);
  for (auto it = listeners_.begin(); it != listeners_.end();) {
    if (keep.count(it->first)) {
      ++it;
      continue;
    }
    it->second.second->config = nullptr;
    it->second.first->closed_ = true;
    loop_.remove(it->second.first->fd_);
    loop_.retire(it->second.first);
    it = listeners_.erase(it);
  }
  for (auto& [key, fd] : newSockets) {
    auto slot = std::make_shared<ListenerSlot>();
    slot->key = key;
    auto* ls = new ListenSocket(*this, fd, slot);
    listeners_[key] = {ls, slot};
    loop_.add(fd, ls, EPOLLIN | EPOLLET);
  }
  for (const auto& l : table_->listeners)
    if (auto it = listeners_.find(l.key); it != listeners_.end()) it->second.second->config = &l;
  // Accept whatever queued before the socket was registered.
  for (auto& [key, fd] : newSockets) listeners_[key].first->onEvents(EPOLLIN);
}

void Worker::shutdown() {
  for (auto& [key, l] : listeners_) delete l.first;
  listeners_.clear();
  std::vector<MirrorLeg*> legs(mirrors_.begin(), mirrors_.end());
  mirrors_.clear();
  for (MirrorLeg* m : legs) delete m;  // closes its connection
  // Client sides first (they close their upstreams), then whatever is left.
  std::vector<Socket*> all(conns_.begin(), conns_.end());
  for (Socket* s : all)
    if (!s->closed_ && dynamic_cast<Downstream*>(s)) s->close();
  all.assign(conns_.begin(), conns_.end());
  for (Socket* s : all)
    if (!s->closed_) s->close();
  if (accessLog_ >= 0 && !logBuffer_.empty()) {
    ssize_t n = ::write(accessLog_, logBuffer_.data(), logBuffer_.size());
    (void)n;
  }
  loop_.collect();
}

int openListenSocket(const std::string& ip, int port, bool udp, std::string& error) {
  int fd = ::socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::strerror(errno);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  if (inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1) {
    error = "not an IPv4 address: " + ip;
    ::close(fd);
    return -1;
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || (!udp && ::listen(fd, 4096) != 0)) {
    error = std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace dataplane

using dataplane::openListenSocket;
using dataplane::Worker;

std::pair<double, double> requestTotals() {
  double all = 0, errors = 0;
  dataplane::requestsFamily().forEach([&](const observe::Labels& labels, const observe::Counter& c) {
    all += c.value();
    if (!labels.empty() && labels.back().starts_with("5")) errors += c.value();
  });
  return {all, errors};
}

struct HttpProxy::Impl {
  ProxyOptions options;
  std::vector<std::unique_ptr<Worker>> workers;
  std::function<void(SpanRecord&&)> spanSink;
  mutable std::mutex mutex;
  std::set<std::string> open;  // listener keys every worker has a socket for
  std::map<std::string, std::string> errors;
  bool started = false;
};

HttpProxy::HttpProxy(ProxyOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  if (impl_->options.workers <= 0) impl_->options.workers = int(std::max(1u, std::thread::hardware_concurrency()));
}

HttpProxy::~HttpProxy() { stop(); }

Status HttpProxy::start() {
  std::lock_guard lock(impl_->mutex);
  if (impl_->started) return {};
  if (const std::string& path = impl_->options.accessLogPath; !path.empty()) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) log::warn("proxy", "cannot write the access log " + path + ": " + std::strerror(errno) + "; requests will not be logged");
    else ::close(fd);
  }
  for (int i = 0; i < impl_->options.workers; ++i) impl_->workers.push_back(std::make_unique<Worker>(i, impl_->options, &impl_->spanSink));
  for (auto& w : impl_->workers) w->run();
  impl_->started = true;
  return {};
}

void HttpProxy::stop() {
  std::lock_guard lock(impl_->mutex);
  for (auto& w : impl_->workers) w->join();
  impl_->workers.clear();
  impl_->open.clear();
  impl_->started = false;
}

void HttpProxy::onSpan(std::function<void(SpanRecord&&)> sink) { impl_->spanSink = std::move(sink); }

int HttpProxy::workers() const { return impl_->options.workers; }

std::map<std::string, std::string> HttpProxy::listenErrors() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->errors;
}

void HttpProxy::update(std::shared_ptr<const RouteTable> table) {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->started) return;
  std::set<std::string> want;
  for (const auto& l : table->listeners) want.insert(l.key);
  // Sockets for new listeners, one per worker (SO_REUSEPORT spreads connections between them).
  std::vector<std::map<std::string, int>> sockets(impl_->workers.size());
  impl_->errors.clear();
  for (const auto& l : table->listeners) {
    if (impl_->open.count(l.key)) continue;
    std::string error;
    std::vector<int> fds;
    for (size_t i = 0; i < impl_->workers.size(); ++i) {
      int fd = openListenSocket(l.ip, l.port, l.protocol == Listener::Protocol::kUdp, error);
      if (fd < 0) break;
      fds.push_back(fd);
    }
    if (fds.size() != impl_->workers.size()) {
      for (int fd : fds) ::close(fd);
      impl_->errors[l.key] = "cannot listen on " + l.key + " for " + l.name + ": " + error;
      log::warn("proxy", impl_->errors[l.key]);
      continue;
    }
    for (size_t i = 0; i < fds.size(); ++i) sockets[i][l.key] = fds[i];
    impl_->open.insert(l.key);
  }
  for (auto it = impl_->open.begin(); it != impl_->open.end();) it = want.count(*it) ? std::next(it) : impl_->open.erase(it);
  for (size_t i = 0; i < impl_->workers.size(); ++i) {
    Worker* w = impl_->workers[i].get();
    w->loop_.post([w, table, s = std::move(sockets[i])]() mutable { w->install(table, std::move(s)); });
  }
}

}  // namespace skiff::proxy
