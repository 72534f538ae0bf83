#include "proxy/http2_to_http1.h"

#include <algorithm>
#include <cctype>

#include "common/base64.h"
#include "http/websocket.h"

namespace skiff::proxy::dataplane {

namespace {

constexpr size_t kChunk = 256 * 1024;  // request body bytes framed or copied per step

// Methods whose requests carry a body by their meaning: an empty one is still declared
// (Content-Length: 0), as HTTP/1.1 clients do, so servers do not wait for one.
bool expectsBody(std::string_view method) { return method == "POST" || method == "PUT" || method == "PATCH"; }

}  // namespace

Http1Leg::~Http1Leg() {
  if (up_) detach(false);
}

bool Http1Leg::start(Upstream* upstream) {
  up_ = upstream;
  reused_ = upstream->reused_;
  // upstreamHeaders: :method, :scheme, :authority, :path, then regular headers (lower case).
  std::string_view method, authority, path;
  size_t size = 64;
  for (const auto& [k, v] : s_.upstreamHeaders) {
    size += k.size() + v.size() + 4;
    if (k == ":method") method = v;
    else if (k == ":authority") authority = v;
    else if (k == ":path") path = v;
  }
  std::string head;
  head.reserve(size);
  head.append(method).append(" ").append(path).append(" HTTP/1.1\r\nhost: ").append(authority).append("\r\n");
  if (s_.websocket) {
    // The key is this hop's: an HTTP/2 client sends none (RFC 8441 section 5).
    uint64_t nonce[2] = {up_->w_.random(), up_->w_.random()};
    webSocketKey_ = base64Encode(std::string_view(reinterpret_cast<const char*>(nonce), sizeof nonce));
    head.append("connection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: ")
        .append(webSocketKey_)
        .append("\r\n");
  }
  bool hasLength = false;
  for (const auto& [k, v] : s_.upstreamHeaders) {
    if (k.empty() || k[0] == ':' || k == "te") continue;  // TE: trailers is HTTP/2's; hop-by-hop in HTTP/1.1
    if (s_.websocket && (k == "content-length" || k == "sec-websocket-key" || k == "sec-websocket-version")) continue;
    hasLength = hasLength || k == "content-length";       // nghttp2 checked it against the DATA
    head.append(k).append(": ").append(v).append("\r\n");
  }
  if (!hasLength && !s_.websocket) {  // a WebSocket's bytes are not a body: they follow the 101 unframed
    if (s_.requestEnd && s_.requestDiscarded == 0) {
      if (!s_.requestBody.empty() || expectsBody(method)) head.append("content-length: ").append(std::to_string(s_.requestBody.size())).append("\r\n");
    } else {
      chunkedRequest_ = true;  // the client is still sending and did not say how much
      head.append("transfer-encoding: chunked\r\n");
    }
  }
  head.append("\r\n");
  up_->out_.append(up_->w_.pool_, head.data(), head.size());
  if (!sendRequestBody()) return false;
  return true;
}

bool Http1Leg::sendRequestBody() {
  if (requestSent_) return true;
  Worker& w = up_->w_;
  while (s_.requestOffset < s_.requestBody.size() && up_->out_.size() < kMaxBuffered) {
    size_t n = std::min(kChunk, s_.requestBody.size() - s_.requestOffset);
    if (chunkedRequest_) {
      char size[24];
      int len = std::snprintf(size, sizeof size, "%zx\r\n", n);
      up_->out_.append(w.pool_, size, size_t(len));
    }
    up_->out_.append(w.pool_, s_.requestBody.data() + s_.requestOffset, n);
    if (chunkedRequest_) up_->out_.append(w.pool_, "\r\n", 2);
    takeRequestBody(s_, n);
  }
  if (s_.requestEnd && s_.requestOffset == s_.requestBody.size()) {
    if (chunkedRequest_) up_->out_.append(w.pool_, "0\r\n\r\n", 5);
    if (s_.websocket && headDone_) up_->shutdownAfterFlush_ = true;  // the client is done sending: FIN upstream
    requestSent_ = true;
  }
  if (!up_->connecting_ && !up_->flush()) {
    fail(503, "upstream connect error or disconnect/reset before headers", true);
    return false;
  }
  return true;
}

bool Http1Leg::pump() {
  if (!up_) {
    // The exchange is over upstream (the response ended first): what the client still sends is
    // dropped, and its window given back so it can finish.
    if (s_.requestOffset < s_.requestBody.size()) takeRequestBody(s_, s_.requestBody.size() - s_.requestOffset);
    return true;
  }
  if (!sendRequestBody()) return false;
  if (headDone_ && up_) return readResponseBody();  // the client took bytes: room to read more
  return true;
}

void Http1Leg::onUpstreamEvent(uint32_t events) {
  if (events & EPOLLERR) {
    fail(503, "upstream connect error or disconnect/reset before headers", true);
  } else {
    bool alive = true;
    if (events & EPOLLOUT) {
      if (!up_->flush()) {
        fail(503, "upstream connect error or disconnect/reset before headers", true);
        alive = false;
      } else if (up_->out_.empty()) {
        alive = sendRequestBody();
      }
    }
    if (alive && up_ && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))) {
      up_->readable_ = true;
      readResponse();
    }
  }
  // The frames this produced for the client leave at the end of the batch of events
  // (EventLoop::afterEvents), with those of the other streams' upstreams.
}

void Http1Leg::onConnectFailed() {
  if (up_->dial_ && up_->dial_->status == 403) {
    // The destination node's policy refused this caller: as if decided here (no retry).
    detach(false);
    s_.down->localReply(s_, 403, "RBAC: access denied");
  } else {
    fail(503, "upstream connect error or disconnect/reset before headers", true);
  }
}

bool Http1Leg::readResponse() {
  if (!headDone_ && !readResponseHead()) return false;
  if (headDone_ && up_) return readResponseBody();
  return true;
}

bool Http1Leg::readResponseHead() {
  const ProxyOptions& options = up_->w_.options_;
  if (!up_->fill(options.maxHeadBytes + 4096)) {
    fail(503, "upstream connect error or disconnect/reset before headers", true);
    return false;
  }
  while (true) {
    http1::Head head;
    http1::Error error;
    switch (http1::parseResponse(up_->in_.view(), options.maxHeadBytes, s_.method, head, error)) {
      case http1::Parse::kIncomplete:
        if (up_->eof_) {
          fail(503, "upstream connect error or disconnect/reset before headers", true);
          return false;
        }
        return true;
      case http1::Parse::kError:
        fail(error.status, error.reason.c_str(), false);
        return false;
      case http1::Parse::kComplete:
        break;
    }
    if (s_.websocket) {
      if (head.status == 101) return acceptWebSocket(head);
      if (head.status < 300) {  // the client would take a 2xx as the socket being open
        fail(502, ("the upstream answered the WebSocket upgrade with " + std::to_string(head.status) + " instead of 101").c_str(), false);
        return false;
      }
    } else if (head.status == 101) {
      fail(502, "the upstream switched protocols, which an HTTP/2 stream cannot carry", false);
      return false;
    }
    if (head.status < 200) {  // interim (100 Continue, 103): the final response follows
      up_->in_.consume(head.length);
      continue;
    }
    if (answerWantsRetry(s_.ex, head.status, up_->w_.loop_.now())) {
      fail(head.status, "retryable status", false);
      return false;
    }
    s_.responseHeaders.clear();
    s_.responseHeaders.emplace_back(":status", std::to_string(head.status));
    for (const auto& h : head.headers) {
      if (head.isHopByHop(h.name)) continue;
      std::string name(h.name);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return char(std::tolower(c)); });
      s_.responseHeaders.emplace_back(std::move(name), std::string(h.value));
    }
    framing_ = head.framing;
    remaining_ = head.contentLength;
    keepAlive_ = head.keepAlive && framing_ != http1::Framing::kUntilClose;
    up_->in_.consume(head.length);
    headDone_ = true;
    bool end = framing_ == http1::Framing::kNone;
    s_.responseEnd = end;
    s_.down->startResponse(s_, end);
    if (end) detach(keepAlive_ && requestSent_);
    return true;
  }
}

bool Http1Leg::acceptWebSocket(const http1::Head& head) {
  if (head.header("sec-websocket-accept") != http::webSocketAccept(webSocketKey_)) {
    fail(502, "the upstream's Sec-WebSocket-Accept does not answer the key sent", false);
    return false;
  }
  s_.responseHeaders.clear();
  s_.responseHeaders.emplace_back(":status", "200");  // RFC 8441: a 2xx opens the stream's socket
  for (const auto& h : head.headers) {
    if (head.isHopByHop(h.name) || http1::equalsIgnoreCase(h.name, "sec-websocket-accept")) continue;
    std::string name(h.name);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    s_.responseHeaders.emplace_back(std::move(name), std::string(h.value));
  }
  up_->in_.consume(head.length);
  framing_ = http1::Framing::kUntilClose;  // the socket's bytes, until the upstream closes
  keepAlive_ = false;
  headDone_ = true;
  s_.ex.requestDeadline = kNever;  // a request timeout bounds the upgrade, not the socket's life
  s_.down->startResponse(s_, false);
  if (requestSent_ && up_) {  // the client finished before the upgrade was answered
    up_->shutdownAfterFlush_ = true;
    if (!up_->flush()) up_->readable_ = true;  // the read that follows finds the broken socket
  }
  return true;
}

bool Http1Leg::readResponseBody() {
  while (up_) {
    // The client has a full buffer unread: wait until it takes some (pump()).
    if (s_.responseBody.size() - s_.responseOffset >= kMaxBuffered) return true;
    size_t before = s_.responseBody.size();
    size_t n = up_->in_.size();
    bool done = false;
    switch (framing_) {
      case http1::Framing::kNone:
        done = true;
        n = 0;
        break;
      case http1::Framing::kLength:
        n = size_t(std::min<uint64_t>(n, remaining_));
        s_.responseBody.append(up_->in_.data(), n);
        remaining_ -= n;
        done = remaining_ == 0;
        break;
      case http1::Framing::kChunked:
        n = chunks_.feed(up_->in_.data(), n, &s_.responseBody);
        if (chunks_.failed()) {
          detach(false);
          s_.down->reset(s_, NGHTTP2_PROTOCOL_ERROR);  // the head went out already: cut the stream
          return false;
        }
        done = chunks_.done();
        break;
      case http1::Framing::kUntilClose:
        s_.responseBody.append(up_->in_.data(), n);
        break;
    }
    up_->in_.consume(n);
    if (framing_ == http1::Framing::kUntilClose) done = up_->eof_ && up_->in_.empty();
    if (done) {
      s_.responseEnd = true;
      detach(keepAlive_ && requestSent_);
      s_.down->resume(s_);
      return true;
    }
    if (s_.responseBody.size() > before) s_.down->resume(s_);
    if (up_->eof_ && up_->in_.empty()) {
      detach(false);
      s_.down->reset(s_, NGHTTP2_INTERNAL_ERROR);  // the upstream cut the body short
      return false;
    }
    if (!up_->readable_) return true;
    if (!up_->fill(kChunk)) {
      detach(false);
      s_.down->reset(s_, NGHTTP2_INTERNAL_ERROR);
      return false;
    }
  }
  return true;
}

void Http1Leg::fail(int status, const char* reason, bool connectionFailure) {
  // Copied: `reason` may live in this leg's caller's frame only, and the stream drops the leg.
  std::string why(reason);
  s_.down->failAttempt(s_, status, why, connectionFailure);
}

void Http1Leg::detach(bool reusable) {
  Upstream* u = up_;
  up_ = nullptr;
  Worker& w = u->w_;
  u->release();
  if (reusable && !u->eof_ && u->in_.empty() && u->out_.empty() && !u->connecting_) w.giveBack(u);
  else u->close();
  if (s_.ex.cluster) w.connectionFreed(s_.ex.cluster->name);
}

}  // namespace skiff::proxy::dataplane
