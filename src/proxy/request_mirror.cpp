#include "proxy/request_mirror.h"

#include <optional>

namespace skiff::proxy::dataplane {

namespace {

observe::Counter& mirrored(const std::string& cluster, const char* result) {
  static observe::Family<observe::Counter> f("skiff_proxy_mirror_requests_total",
                                             "Request copies sent by HTTPRoute RequestMirror filters, by mirror cluster and result "
                                             "(completed, failed, timeout, body_too_large, overloaded, no_endpoint, denied, http2_backend).",
                                             {"cluster", "result"});
  return f.with({cluster, result});
}

constexpr size_t kBodyStep = 256 * 1024;  // response bytes read and dropped per step

}  // namespace

std::string shadowHost(std::string_view host) {
  // A port follows the last colon, unless that colon is inside an IPv6 literal's brackets.
  size_t colon = host.rfind(':');
  if (colon != std::string_view::npos && host.find(']', colon) == std::string_view::npos && colon > 0)
    return std::string(host.substr(0, colon)) + "-shadow" + std::string(host.substr(colon));
  return std::string(host) + "-shadow";
}

std::string shadowHead(std::string_view head) {
  std::string out;
  out.reserve(head.size() + 8);
  size_t pos = 0;
  while (pos < head.size()) {
    size_t end = head.find("\r\n", pos);
    if (end == std::string_view::npos) end = head.size();
    std::string_view line = head.substr(pos, end - pos);
    if (pos > 0 && line.size() > 5 && http1::equalsIgnoreCase(line.substr(0, 5), "host:")) {
      std::string_view value = line.substr(5);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      out.append(line.substr(0, 5)).append(" ").append(shadowHost(value));
    } else {
      out.append(line);
    }
    if (end < head.size()) out.append("\r\n");
    pos = end + 2;
  }
  return out;
}

std::string shadowRequestFromHttp2(const std::vector<std::pair<std::string, std::string>>& headers, std::string_view body) {
  std::string_view method, authority, path;
  for (const auto& [k, v] : headers) {
    if (k == ":method") method = v;
    else if (k == ":authority") authority = v;
    else if (k == ":path") path = v;
  }
  std::string out;
  out.append(method).append(" ").append(path).append(" HTTP/1.1\r\nhost: ").append(shadowHost(authority)).append("\r\n");
  for (const auto& [k, v] : headers) {
    // TE is hop-by-hop in HTTP/1.1; the length is restated for the whole body.
    if (k.empty() || k[0] == ':' || k == "te" || k == "content-length") continue;
    out.append(k).append(": ").append(v).append("\r\n");
  }
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") out.append("content-length: ").append(std::to_string(body.size())).append("\r\n");
  out.append("\r\n").append(body);
  return out;
}

void mirrorExchange(Worker& w, const Exchange& ex, uint32_t clientIp, bool wholeBody, const std::function<std::string()>& copyBytes) {
  if (!ex.route || !ex.table) return;
  std::optional<MirrorRequest> copy;
  for (const RequestMirror& m : ex.route->mirrors) {
    if (m.cluster < 0 || size_t(m.cluster) >= ex.table->clusters.size()) continue;
    if (m.numerator < m.denominator && w.random() % m.denominator >= m.numerator) continue;  // not in this mirror's share
    const Cluster& c = ex.table->clusters[size_t(m.cluster)];
    if (!wholeBody) {
      mirrored(c.name, "body_too_large").inc();
      continue;
    }
    if (!copy) {
      copy.emplace();
      copy->bytes = copyBytes();
      copy->method = ex.method;
      copy->path = ex.target.substr(0, ex.target.find('?'));
      copy->host = ex.host;
      copy->clientIp = clientIp;
      copy->timeout = ex.route->timeout;
    }
    MirrorLeg::start(w, ex.table, c, *copy);
  }
}

void MirrorLeg::start(Worker& w, const std::shared_ptr<const RouteTable>& table, const Cluster& c, const MirrorRequest& request) {
  if (c.http2) {  // spoken to over h2c (a GRPCRoute backend): copies go over HTTP/1.1 only
    mirrored(c.name, "http2_backend").inc();
    return;
  }
  if (w.mirrors_.size() >= kMaxPerWorker || c.state->requests.load(std::memory_order_relaxed) >= c.limits.maxRequests) {
    mirrored(c.name, "overloaded").inc();
    return;
  }
  auto now = w.loop_.now();
  uint64_t rnd = w.random();
  int e = pickEndpoint(c, 0, -1, rnd, now);
  if (e < 0) {
    mirrored(c.name, "no_endpoint").inc();
    return;
  }
  const Workload* source = table->workloadOf(request.clientIp);
  if (!w.authorize(*table, c, e, source, request.method, request.path, request.host)) {
    mirrored(c.name, "denied").inc();
    return;
  }
  auto timeout = request.timeout.count() ? request.timeout : c.timeout.count() ? c.timeout : kMirrorTimeout;
  auto* leg = new MirrorLeg(w, table, c, e, nullptr, request.method, now + timeout);
  bool refused = false;
  Upstream* u = w.connection(c, e, leg, source, refused);
  if (!u) {
    mirrored(c.name, refused ? "failed" : "overloaded").inc();
    delete leg;
    return;
  }
  leg->up_ = u;
  w.mirrors_.insert(leg);
  u->out_.append(w.pool_, request.bytes.data(), request.bytes.size());
  if (!u->connecting_ && !u->flush()) leg->finish(false, "failed");
}

MirrorLeg::MirrorLeg(Worker& w, std::shared_ptr<const RouteTable> table, const Cluster& c, int endpoint, Upstream* up, std::string method,
                     Clock::time_point deadline)
    : w_(w), table_(std::move(table)), cluster_(c), endpoint_(endpoint), up_(up), method_(std::move(method)), deadline_(deadline) {
  cluster_.state->requests.fetch_add(1, std::memory_order_relaxed);
  cluster_.endpoints[size_t(endpoint_)].state->active.fetch_add(1, std::memory_order_relaxed);
}

MirrorLeg::~MirrorLeg() {
  if (up_) {
    up_->release();
    up_->close();
  }
  cluster_.state->requests.fetch_sub(1, std::memory_order_relaxed);
  cluster_.endpoints[size_t(endpoint_)].state->active.fetch_sub(1, std::memory_order_relaxed);
}

void MirrorLeg::onUpstreamEvent(uint32_t events) {
  if (events & EPOLLERR) {
    finish(false, "failed");
    return;
  }
  if ((events & EPOLLOUT) && !up_->flush()) {
    finish(false, "failed");
    return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
    up_->readable_ = true;
    readResponse();
  }
}

void MirrorLeg::onConnectFailed() { finish(false, up_->dial_ && up_->dial_->status == 403 ? "denied" : "failed"); }

void MirrorLeg::expireIfDue(Clock::time_point now) {
  if (now >= deadline_) finish(false, "timeout");
}

bool MirrorLeg::readResponse() {
  while (up_->readable_ || !up_->in_.empty()) {
    if (up_->readable_ && !up_->fill(headDone_ ? kBodyStep : w_.options_.maxHeadBytes + 4096)) {
      finish(false, "failed");
      return false;
    }
    if (!headDone_) {
      http1::Head head;
      http1::Error error;
      switch (http1::parseResponse(up_->in_.view(), w_.options_.maxHeadBytes, method_, head, error)) {
        case http1::Parse::kIncomplete:
          if (up_->eof_) {
            finish(false, "failed");
            return false;
          }
          return true;
        case http1::Parse::kError:
          finish(false, "failed");
          return false;
        case http1::Parse::kComplete:
          break;
      }
      up_->in_.consume(head.length);
      if (head.status < 200) continue;  // interim (100 Continue): the final answer follows
      headDone_ = true;
      framing_ = head.framing;
      remaining_ = head.contentLength;
      keepAlive_ = head.keepAlive;
    }
    size_t n = up_->in_.size();
    bool done = false;
    switch (framing_) {
      case http1::Framing::kNone:
        n = 0;
        done = true;
        break;
      case http1::Framing::kLength:
        n = size_t(std::min<uint64_t>(n, remaining_));
        remaining_ -= n;
        done = remaining_ == 0;
        break;
      case http1::Framing::kChunked:
        n = chunks_.feed(up_->in_.data(), n);
        if (chunks_.failed()) {
          finish(false, "failed");
          return false;
        }
        done = chunks_.done();
        break;
      case http1::Framing::kUntilClose:
        done = up_->eof_;
        break;
    }
    up_->in_.consume(n);
    if (done) {
      finish(keepAlive_ && framing_ != http1::Framing::kUntilClose, "completed");
      return false;
    }
    if (up_->eof_) {
      finish(false, "failed");  // the answer was cut short
      return false;
    }
  }
  return true;
}

void MirrorLeg::finish(bool reusable, const char* result) {
  mirrored(cluster_.name, result).inc();
  Upstream* u = up_;
  up_ = nullptr;
  if (u) {
    u->release();
    if (reusable && !u->eof_ && u->in_.empty() && u->out_.empty() && !u->connecting_) w_.giveBack(u);
    else u->close();
    w_.connectionFreed(cluster_.name);
  }
  w_.mirrors_.erase(this);
  delete this;
}

}  // namespace skiff::proxy::dataplane
