#include "proxy/http2.h"

#include "proxy/http2_to_http1.h"
#include "proxy/request_mirror.h"


namespace skiff::proxy {
namespace dataplane {

namespace {

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr int32_t kStreamWindow = 1 << 20;      // per stream, both directions
constexpr int32_t kConnectionWindow = 16 << 20;  // per connection
constexpr uint32_t kMaxConcurrentStreams = 1000;

bool isHopByHopHeader(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" || name == "transfer-encoding" || name == "upgrade" ||
         name == "host";
}

nghttp2_nv nv(const std::string& name, const std::string& value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())), reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())),
          name.size(), value.size(), NGHTTP2_NV_FLAG_NONE};
}

// gRPC's status for a proxy-made HTTP status, as gRPC maps HTTP errors.
const char* grpcStatusFor(int status) {
  switch (status) {
    case 400: return "13";
    case 401: return "16";
    case 403: return "7";
    case 404: return "12";
    case 429:
    case 502:
    case 503: return "14";
    case 504: return "4";
    default: return "2";
  }
}

// The HTTP status gRPC's status stands for (as gRPC's HTTP mapping and Envoy read it), so retry
// policies and outlier detection treat a trailers-only UNAVAILABLE like a 503.
int httpStatusForGrpc(std::string_view code) {
  static const std::map<std::string_view, int> map{{"0", 200},  {"1", 499},  {"2", 500},  {"3", 400},  {"4", 504},  {"5", 404},
                                                   {"6", 409},  {"7", 403},  {"8", 429},  {"9", 400},  {"10", 409}, {"11", 400},
                                                   {"12", 501}, {"13", 500}, {"14", 503}, {"15", 500}, {"16", 401}};
  auto it = map.find(code);
  return it == map.end() ? 500 : it->second;
}

}  // namespace

Preface http2Preface(std::string_view in) {
  size_t n = std::min(in.size(), kPreface.size());
  if (in.substr(0, n) != kPreface.substr(0, n)) return Preface::kNo;
  return n == kPreface.size() ? Preface::kYes : Preface::kPartial;
}

// ---- callbacks: nghttp2 calls these with the session's user data ----

namespace {

int serverBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  return static_cast<H2Server*>(user)->onBeginHeaders(frame);
}
int serverHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen, const uint8_t* value, size_t valuelen,
                 uint8_t, void* user) {
  return static_cast<H2Server*>(user)->onHeader(frame, {reinterpret_cast<const char*>(name), namelen},
                                                {reinterpret_cast<const char*>(value), valuelen});
}
int serverFrame(nghttp2_session*, const nghttp2_frame* frame, void* user) { return static_cast<H2Server*>(user)->onFrame(frame); }
int serverData(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len, void* user) {
  return static_cast<H2Server*>(user)->onData(id, data, len);
}
int serverClose(nghttp2_session*, int32_t id, uint32_t error, void* user) { return static_cast<H2Server*>(user)->onStreamClose(id, error); }

int clientHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen, const uint8_t* value, size_t valuelen,
                 uint8_t, void* user) {
  return static_cast<H2Client*>(static_cast<H2Session*>(user))
      ->onHeader(frame, {reinterpret_cast<const char*>(name), namelen}, {reinterpret_cast<const char*>(value), valuelen});
}
int clientFrame(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  return static_cast<H2Client*>(static_cast<H2Session*>(user))->onFrame(frame);
}
int clientData(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len, void* user) {
  return static_cast<H2Client*>(static_cast<H2Session*>(user))->onData(id, data, len);
}
int clientClose(nghttp2_session*, int32_t id, uint32_t error, void* user) {
  return static_cast<H2Client*>(static_cast<H2Session*>(user))->onStreamClose(id, error);
}

// The response body (or a local reply's) as the client's session asks for it.
ssize_t provideResponseBody(nghttp2_session* session, int32_t id, uint8_t* buf, size_t length, uint32_t* flags, nghttp2_data_source* source,
                     void*) {
  auto* s = static_cast<H2Stream*>(source->ptr);
  if (s->local) {
    size_t n = std::min(length, s->localBody.size() - s->localOffset);
    std::memcpy(buf, s->localBody.data() + s->localOffset, n);
    s->localOffset += n;
    if (s->localOffset == s->localBody.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return ssize_t(n);
  }
  size_t n = std::min(length, s->responseBody.size() - s->responseOffset);
  if (n) {
    std::memcpy(buf, s->responseBody.data() + s->responseOffset, n);
    s->responseOffset += n;
    if (s->responseOffset == s->responseBody.size()) s->responseBody.clear(), s->responseOffset = 0;
    s->ex.bytesSent += n;
    if (s->up && s->upId > 0) {  // the upstream may send this much more
      nghttp2_session_consume(s->up->session_, s->upId, n);
      s->up->markDirty();
    } else if (s->h1 && !s->responseEnd) {
      s->down->wakeLeg(*s);  // reading the HTTP/1.1 upstream may have paused for room
    }
  }
  if (s->responseOffset == s->responseBody.size() && s->responseEnd) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!s->trailers.empty()) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      std::vector<nghttp2_nv> t;
      for (const auto& [k, v] : s->trailers) t.push_back(nv(k, v));
      nghttp2_submit_trailer(session, id, t.data(), t.size());
    }
    return ssize_t(n);
  }
  return n ? ssize_t(n) : ssize_t(NGHTTP2_ERR_DEFERRED);
}

// The request body as the upstream's session asks for it.
ssize_t provideRequestBody(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags, nghttp2_data_source* source, void*) {
  auto* s = static_cast<H2Stream*>(source->ptr);
  size_t n = std::min(length, s->requestBody.size() - s->requestOffset);
  if (n) {
    std::memcpy(buf, s->requestBody.data() + s->requestOffset, n);
    takeRequestBody(*s, n);
  }
  if (s->requestOffset == s->requestBody.size() && s->requestEnd) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return ssize_t(n);
  }
  return n ? ssize_t(n) : ssize_t(NGHTTP2_ERR_DEFERRED);
}

nghttp2_session_callbacks* serverCallbacks() {
  static nghttp2_session_callbacks* cbs = [] {
    nghttp2_session_callbacks* c = nullptr;
    nghttp2_session_callbacks_new(&c);
    nghttp2_session_callbacks_set_on_begin_headers_callback(c, serverBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(c, serverHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(c, serverFrame);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, serverData);
    nghttp2_session_callbacks_set_on_stream_close_callback(c, serverClose);
    return c;
  }();
  return cbs;
}

nghttp2_session_callbacks* clientCallbacks() {
  static nghttp2_session_callbacks* cbs = [] {
    nghttp2_session_callbacks* c = nullptr;
    nghttp2_session_callbacks_new(&c);
    nghttp2_session_callbacks_set_on_header_callback(c, clientHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(c, clientFrame);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, clientData);
    nghttp2_session_callbacks_set_on_stream_close_callback(c, clientClose);
    return c;
  }();
  return cbs;
}

nghttp2_option* sessionOptions() {
  static nghttp2_option* opt = [] {
    nghttp2_option* o = nullptr;
    nghttp2_option_new(&o);
    nghttp2_option_set_no_auto_window_update(o, 1);  // windows open as the other side takes bytes
    return o;
  }();
  return opt;
}

void sendSettings(nghttp2_session* session, bool server) {
  // A server also offers extended CONNECT (RFC 8441), which browsers use for WebSockets.
  nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams},
                                       {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, uint32_t(kStreamWindow)},
                                       {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1}};
  nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings, server ? 3 : 2);
  nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
}

}  // namespace

void takeRequestBody(H2Stream& s, size_t n) {
  s.requestOffset += n;
  // The client may send as much more as went upstream for the first time (a retry resends).
  uint64_t sent = s.requestDiscarded + s.requestOffset;
  if (sent > s.requestConsumed && s.down) {
    nghttp2_session_consume(s.down->session_, s.downId, size_t(sent - s.requestConsumed));
    s.down->markDirty();
  }
  s.requestConsumed = std::max(s.requestConsumed, sent);
  if (!s.ex.bodyRetained && s.requestOffset == s.requestBody.size()) {
    s.requestDiscarded += s.requestBody.size();
    s.requestBody.clear();
    s.requestOffset = 0;
  }
}

// ---- H2Session ----

H2Session::~H2Session() {
  if (worker_) worker_->h2Dirty_.erase(std::remove(worker_->h2Dirty_.begin(), worker_->h2Dirty_.end(), this), worker_->h2Dirty_.end());
  if (session_) nghttp2_session_del(session_);
}

bool H2Session::receive(Socket& s) {
  if (dead_) return false;
  ssize_t n = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(s.in_.data()), s.in_.size());
  if (n < 0) return false;
  s.in_.consume(size_t(n));
  markDirty();
  return true;
}

bool H2Session::send(Socket& s) {
  if (dead_) return false;
  while (s.out_.size() < kMaxBuffered) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) return false;
    if (n == 0) break;
    s.out_.append(s.w_.pool_, reinterpret_cast<const char*>(data), size_t(n));
  }
  if (s.connecting_) return true;
  return s.flush();
}

void H2Session::markDirty() {
  if (dirty_ || dead_) return;
  dirty_ = true;
  worker_->h2Dirty_.push_back(this);
}

void flushHttp2(Worker& w) {
  // Sending can mark more sessions (a DATA frame taken opens the other side's window).
  for (size_t rounds = 0; !w.h2Dirty_.empty() && rounds < 64; ++rounds) {
    std::vector<H2Session*> batch;
    batch.swap(w.h2Dirty_);
    for (H2Session* s : batch) {
      s->dirty_ = false;
      if (!s->dead_) s->sendPending();
    }
  }
}

// ---- H2Server ----

H2Server::H2Server(Downstream& d) : down_(d) { worker_ = &d.w_; }

H2Server::~H2Server() { shutdown(); }

bool H2Server::start() {
  if (nghttp2_session_server_new2(&session_, serverCallbacks(), this, sessionOptions()) != 0) return false;
  sendSettings(session_, true);
  down_.deadline_ = kNever;
  armDeadline();
  return true;
}

void H2Server::shutdown() {
  if (dead_) return;
  dead_ = true;
  for (auto& [id, s] : streams_) {
    dropUpstream(*s);
    release(*s);
  }
  streams_.clear();
}

void H2Server::onReadable() {
  while (!down_.closed_ && down_.readable_) {
    if (!down_.fill(256 * 1024) || !receive(down_)) {
      down_.close();
      return;
    }
    if (down_.eof_) break;
  }
  if (!down_.closed_ && !down_.in_.empty() && !receive(down_)) {  // what arrived with the preface
    down_.close();
    return;
  }
  flushHttp2(*worker_);
  if (down_.eof_ && !down_.closed_) down_.close();
}

void H2Server::onWritable() {
  markDirty();
  flushHttp2(*worker_);
}

void H2Server::sendPending() {
  if (down_.closed_) return;
  retryDue(down_.w_.loop_.now());
  runLegs();
  if (!send(down_)) {
    down_.close();
    return;
  }
  if (!legsToRun_.empty()) markDirty();  // the client took response bytes: read more next round
  if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_) && down_.out_.empty()) down_.close();
}

namespace {

// Bytes that moved for a stream so far, either way (only grows while the stream lives).
uint64_t streamProgress(const H2Stream& s) {
  return s.ex.bytesSent + (s.responseBody.size() - s.responseOffset) + s.requestDiscarded + s.requestBody.size() + s.localOffset +
         (s.headersDone ? 1 : 0) + (s.responseStarted ? 1 : 0) + (s.responseEnd ? 1 : 0);
}

}  // namespace

std::chrono::milliseconds H2Server::idleLimit(const H2Stream& s) const {
  const ProxyOptions& o = down_.w_.options_;
  if (!s.headersDone) return o.headerTimeout;
  if (s.websocket && s.responseStarted) return o.tunnelIdleTimeout;
  return o.upstreamIdle;
}

void H2Server::armDeadline() {
  Clock::time_point d = streams_.empty() ? down_.w_.loop_.now() + down_.w_.options_.idleTimeout : kNever;
  for (const auto& [id, s] : streams_) {
    d = std::min(d, s->lastProgress + idleLimit(*s));
    if (s->local) continue;
    d = std::min(d, s->ex.requestDeadline);
    if (s->backingOff) d = std::min(d, s->backoffUntil);
    else if (Clock::time_point t = tryDeadline(*s); t < d) d = t;
  }
  down_.deadline_ = d;
}

Clock::time_point H2Server::tryDeadline(const H2Stream& s) const {
  if ((!s.up && !s.h1) || s.responseStarted) return kNever;
  Clock::time_point d = kNever;
  if (s.h1 && s.h1->connecting()) d = s.ex.attemptStart + s.ex.cluster->connectTimeout;  // HTTP/2 connections time out themselves
  if (s.ex.route && s.ex.route->attemptTimeout.count()) d = std::min(d, s.ex.attemptStart + s.ex.route->attemptTimeout);
  return d;
}

void H2Server::dropUpstream(H2Stream& s) {
  if (s.up) s.up->cancel(s);
  s.h1.reset();
}

void H2Server::wakeLeg(H2Stream& s) {
  legsToRun_.push_back(s.downId);
  markDirty();
}

void H2Server::runLegs() {
  std::vector<int32_t> ids;
  ids.swap(legsToRun_);
  for (int32_t id : ids)
    if (auto it = streams_.find(id); it != streams_.end() && it->second->h1) it->second->h1->pump();
}

void H2Server::retryDue(Clock::time_point now) {
  std::vector<H2Stream*> due;
  for (auto& [id, s] : streams_)
    if (s->backingOff && s->backoffUntil <= now) due.push_back(s.get());
  for (H2Stream* s : due) attempt(*s);
  if (!due.empty()) armDeadline();
}

void H2Server::onTimeout(Clock::time_point now) {
  if (streams_.empty()) {
    nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);  // idle: GOAWAY, then close
    markDirty();
    flushHttp2(*worker_);
    down_.close();
    return;
  }
  std::vector<H2Stream*> late, slowTry, idle;
  bool stuckInHeaders = false;
  for (auto& [id, s] : streams_) {
    if (s->lastProgress + idleLimit(*s) <= now) {
      if (uint64_t p = streamProgress(*s); p != s->progressMark) {
        s->progressMark = p;  // bytes moved since the last look: idle from now on at most
        s->lastProgress = now;
      } else if (!s->headersDone) {
        stuckInHeaders = true;
      } else {
        idle.push_back(s.get());
        continue;
      }
    }
    if (s->local) continue;
    if (s->ex.requestDeadline <= now) late.push_back(s.get());
    else if (tryDeadline(*s) <= now) slowTry.push_back(s.get());
  }
  if (stuckInHeaders) {
    // A header block left unfinished stalls the whole connection (HPACK state is shared): close
    // it, as an HTTP/1.1 client that never finishes its head gets 408 and a close.
    proxyEvent("-", "header_timeout").inc();
    nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
    markDirty();
    flushHttp2(*worker_);
    down_.close();
    return;
  }
  for (H2Stream* s : idle) {
    // Nothing moved either way for the idle limit: the client stopped sending its body, the
    // upstream stopped answering, or the client stopped reading.
    proxyEvent(s->ex.cluster ? s->ex.cluster->name : "-", "stream_idle_timeout").inc();
    dropUpstream(*s);
    s->backingOff = false;
    if (s->local || s->responseStarted) reset(*s, NGHTTP2_CANCEL);
    else if (!s->requestEnd) localReply(*s, 408, "request body timeout: the client sent nothing for " + std::to_string(idleLimit(*s).count() / 1000) + " s");
    else localReply(*s, 504, "upstream idle timeout: no answer for " + std::to_string(idleLimit(*s).count() / 1000) + " s");
    s->lastProgress = now;  // the reply or reset gets its own idle period
    s->progressMark = streamProgress(*s);
  }
  for (H2Stream* s : late) {
    if (s->ex.cluster) proxyEvent(s->ex.cluster->name, "timeout").inc();
    dropUpstream(*s);
    s->backingOff = false;
    if (!s->responseStarted) localReply(*s, 504, "upstream request timeout");
    else reset(*s, NGHTTP2_CANCEL);
  }
  for (H2Stream* s : slowTry) {
    if (s->h1 && s->h1->connecting()) {
      proxyEvent(s->ex.cluster->name, "connect_timeout").inc();
      failAttempt(*s, 503, "upstream connect timeout", true);
      continue;
    }
    proxyEvent(s->ex.cluster->name, "attempt_timeout").inc();  // longer than the route's per-try timeout
    failAttempt(*s, 504, "upstream request timeout", false);
  }
  retryDue(now);
  armDeadline();
  flushHttp2(*worker_);
}

int H2Server::onBeginHeaders(const nghttp2_frame* frame) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto s = std::make_unique<H2Stream>();
  s->down = this;
  s->downId = frame->hd.stream_id;
  s->ex.start = down_.w_.loop_.now();
  s->ex.startUnix = unixNanos();
  s->lastProgress = s->ex.start;
  down_.deadline_ = std::min(down_.deadline_, s->lastProgress + idleLimit(*s));  // its header block must end in time
  nghttp2_session_set_stream_user_data(session_, s->downId, s.get());
  streams_[s->downId] = std::move(s);
  return 0;
}

int H2Server::onHeader(const nghttp2_frame* frame, std::string_view name, std::string_view value) {
  auto it = streams_.find(frame->hd.stream_id);
  if (it == streams_.end() || frame->hd.type != NGHTTP2_HEADERS) return 0;
  H2Stream& s = *it->second;
  if (s.headersDone) return 0;  // request trailers: the upstream request ends with the body
  if (name == ":method") s.method = value;
  else if (name == ":path") s.path = value;
  else if (name == ":authority") s.authority = value;
  else if (name == ":scheme") s.scheme = value;
  else if (name == ":protocol") s.protocol = value;
  else if (!name.empty() && name[0] != ':') {
    if (name == "content-type") s.contentType = value;
    if (name == "host" && s.authority.empty()) s.authority = value;
    s.requestHeaders.emplace_back(name, value);
  }
  return 0;
}

int H2Server::onFrame(const nghttp2_frame* frame) {
  auto it = streams_.find(frame->hd.stream_id);
  if (it == streams_.end()) return 0;
  H2Stream& s = *it->second;
  bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
  if (frame->hd.type == NGHTTP2_HEADERS && !s.headersDone) {
    s.headersDone = true;
    s.requestEnd = end;
    route(s);
    return 0;
  }
  if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) && end) {
    s.requestEnd = true;
    mirrorStream(s);
    if (s.up) s.up->resume(s);
    else if (s.h1) wakeLeg(s);
  }
  return 0;
}

int H2Server::onData(int32_t id, const uint8_t* data, size_t len) {
  auto it = streams_.find(id);
  if (it == streams_.end() || it->second->local) {
    // Nobody takes these bytes (answered locally, or gone): give the window back at once.
    if (nghttp2_session_consume(session_, id, len) != 0) nghttp2_session_consume_connection(session_, len);
    return 0;
  }
  H2Stream& s = *it->second;
  s.requestBody.append(reinterpret_cast<const char*>(data), len);
  if (s.ex.bodyRetained && s.requestBody.size() > kRetainBody) s.ex.bodyRetained = false;  // too big to send twice
  if (s.up) s.up->resume(s);
  else if (s.h1) wakeLeg(s);
  return 0;
}

int H2Server::onStreamClose(int32_t id, uint32_t error) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return 0;
  H2Stream& s = *it->second;
  if (error != NGHTTP2_NO_ERROR && s.ex.status == 0) s.ex.status = 499;  // the client gave up
  dropUpstream(s);
  finish(s);
  streams_.erase(it);
  armDeadline();
  return 0;
}

void H2Server::finish(H2Stream& s) {
  release(s);
  if (s.ex.listener) down_.w_.record(s.ex, down_.peer_.sin_addr.s_addr, down_.peerText_);
}

void H2Server::release(H2Stream& s) {
  if (s.counted) {
    s.ex.cluster->state->requests.fetch_sub(1, std::memory_order_relaxed);
    s.counted = false;
  }
  if (s.ex.inRetryBudget) {
    s.ex.cluster->state->retries.fetch_sub(1, std::memory_order_relaxed);
    s.ex.inRetryBudget = false;
  }
  releaseEndpoint(s);
}

void H2Server::releaseEndpoint(H2Stream& s) {
  if (!s.endpointHeld) return;
  s.ex.cluster->endpoints[size_t(s.ex.endpoint)].state->active.fetch_sub(1, std::memory_order_relaxed);
  s.endpointHeld = false;
}

void H2Server::failAttempt(H2Stream& s, int status, std::string_view reason, bool connectionFailure) {
  // A pooled HTTP/1.1 connection the server had just closed: the pool's race, not the endpoint's
  // fault; tried once more on a fresh connection, for free (as HTTP/1.1 callers are).
  bool staleConnection = connectionFailure && s.h1 && s.h1->reused() && !s.responseStarted;
  dropUpstream(s);
  if (s.responseStarted) {
    reset(s, NGHTTP2_INTERNAL_ERROR);
    return;
  }
  Worker& w = down_.w_;
  auto now = w.loop_.now();
  int failed = s.ex.endpoint;
  if (staleConnection && !s.ex.reusedResetRetried && s.ex.bodyRetained) {
    s.ex.reusedResetRetried = true;
    --s.ex.attempts;
    releaseEndpoint(s);
    s.backingOff = true;
    s.backoffUntil = now;
    markDirty();
    armDeadline();
    return;
  }
  if (connectionFailure && s.endpointHeld && !staleConnection) countOutlierError(*s.ex.cluster, failed, now);
  releaseEndpoint(s);
  s.responseHeaders.clear();
  s.trailers.clear();
  s.responseBody.clear();
  s.responseOffset = 0;
  s.responseEnd = false;
  if (auto wait = planRetry(s.ex, connectionFailure, now, w.random())) {
    s.ex.lastFailed = failed;
    s.backingOff = true;
    s.backoffUntil = now + *wait;
    markDirty();  // sendPending starts a retry that is due (never from inside a session's callback)
    armDeadline();
    return;
  }
  localReply(s, status, reason);
}

void H2Server::reset(H2Stream& s, uint32_t error) {
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.downId, error);
  markDirty();
}

void H2Server::resume(H2Stream& s) {
  nghttp2_session_resume_data(session_, s.downId);
  markDirty();
}

void H2Server::localReply(H2Stream& s, int status, std::string_view message, std::vector<std::pair<std::string, std::string>> extra) {
  s.local = true;
  s.ex.status = status;
  std::string code = std::to_string(status);
  std::vector<std::pair<std::string, std::string>> h{{":status", code}};
  bool grpc = s.contentType.starts_with("application/grpc");
  if (grpc) {
    // gRPC callers read the outcome from grpc-status (a trailers-only response).
    h.emplace_back("content-type", "application/grpc");
    h.emplace_back("grpc-status", grpcStatusFor(status));
    std::string m;
    for (char c : message) m += (c >= 0x20 && c < 0x7f && c != '%') ? std::string(1, c) : "%" + std::string(1, "0123456789ABCDEF"[uint8_t(c) >> 4]) + "0123456789ABCDEF"[uint8_t(c) & 15];
    h.emplace_back("grpc-message", m);
  } else {
    h.emplace_back("content-type", "text/plain");
    s.localBody = std::string(message) + "\n";
  }
  for (auto& e : extra) h.push_back(std::move(e));
  std::vector<nghttp2_nv> nva;
  for (const auto& [k, v] : h) nva.push_back(nv(k, v));
  nghttp2_data_provider body;
  body.source.ptr = &s;
  body.read_callback = provideResponseBody;
  s.responseStarted = true;
  nghttp2_submit_response(session_, s.downId, nva.data(), nva.size(), grpc ? nullptr : &body);
  markDirty();
}

void H2Server::route(H2Stream& s) {
  Worker& w = down_.w_;
  const Listener* listener = down_.slot_->config;
  if (!listener) return reset(s, NGHTTP2_REFUSED_STREAM);
  Exchange& ex = s.ex;
  ex.table = w.table_;
  ex.listener = listener;
  ex.protocol = "HTTP/2";
  if (!s.protocol.empty()) {  // extended CONNECT: routed as the GET it stands for
    if (s.protocol != "websocket")
      return localReply(s, 501, "extended CONNECT is served for the websocket protocol only, not " + s.protocol);
    s.websocket = true;
    s.method = "GET";
  }
  ex.method = s.method;
  ex.target = s.path;
  ex.host = s.authority;
  std::string traceparent;
  for (const auto& [k, v] : s.requestHeaders) {
    if (k == "user-agent") ex.userAgent = v;
    else if (k == "traceparent") traceparent = v;
  }
  std::string flags = w.startTrace(ex, traceparent);

  std::string_view target = s.path;
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q), query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
  std::vector<http1::Header> headers;
  headers.reserve(s.requestHeaders.size());
  for (const auto& [k, v] : s.requestHeaders) headers.push_back({k, v});
  RequestView view{s.method, path, query, s.authority, &headers};
  const Route* route = matchRoute(*listener, view);
  ex.route = route;
  if (!route) return localReply(s, 404, "no route for " + s.authority + std::string(path));
  if (route->redirectStatus) {
    std::string location = redirectLocation(*route, down_.tls_ != nullptr, s.authority, listener->port, s.path);
    return localReply(s, route->redirectStatus, "", {{"location", location}});
  }
  const BackendRef* backend = chooseBackend(*route, w.random());
  if (!backend || backend->cluster < 0)
    return localReply(s, route->directResponse ? route->directResponse : 500,
                      backend ? "the route's backend does not exist (see the HTTPRoute's ResolvedRefs condition)" : "the route has no backends");
  const Cluster& c = ex.table->clusters[size_t(backend->cluster)];
  ex.cluster = &c;
  if (s.websocket && c.http2)
    return localReply(s, 501, "WebSockets over HTTP/2 reach HTTP/1.1 service ports; " + c.name + " speaks HTTP/2");
  if (c.state->requests.load(std::memory_order_relaxed) >= c.limits.maxRequests) {
    proxyEvent(c.name, "overflow_requests").inc();
    return localReply(s, 503, "upstream overloaded (circuit breaker: max requests)", {{"x-skiff-overloaded", "true"}});
  }
  c.state->requests.fetch_add(1, std::memory_order_relaxed);
  s.counted = true;
  auto timeout = route->timeout.count() ? route->timeout : c.timeout;
  if (timeout.count()) ex.requestDeadline = ex.start + timeout;

  ex.retriesLeft = retryPolicyOf(route, c).attempts;
  if (c.lb == LbPolicy::kConsistentHash && c.hash.source == HashPolicy::Source::kHeader) {
    for (const auto& [k, v] : s.requestHeaders)
      if (k == c.hash.name) ex.hashKey = hash64(v);
  } else if (c.lb == LbPolicy::kConsistentHash && c.hash.source == HashPolicy::Source::kSourceIp) {
    ex.hashKey = hash64(std::string_view(reinterpret_cast<const char*>(&down_.peer_.sin_addr), 4));
  }

  // The request as it goes upstream: route edits, trace context and forwarding headers.
  std::string upstreamPath = upstreamTarget(*route, s.path);
  std::vector<std::pair<std::string, std::string>>& out = s.upstreamHeaders;
  out = {{":method", s.method}, {":scheme", "http"}, {":authority", route->rewriteHost ? *route->rewriteHost : s.authority}, {":path", upstreamPath}};
  std::string forwardedFor;
  for (const auto& [k, v] : s.requestHeaders) {
    if (isHopByHopHeader(k) || k == "traceparent" || (k == "te" && v != "trailers")) continue;
    if (k == "x-forwarded-for") {
      forwardedFor = v + ", ";
      continue;
    }
    if (down_.tls_ && k == "x-forwarded-proto") continue;
    bool skip = false;
    for (const auto& r : route->requestHeaders.remove) skip = skip || k == r;
    for (const auto& [n, val] : route->requestHeaders.set) skip = skip || http1::equalsIgnoreCase(k, n);
    if (!skip) out.emplace_back(k, v);
  }
  // HTTP/2 header names are lower case (nghttp2 refuses others from clients); route edits may not be.
  size_t added = out.size();
  for (const auto& [n, v] : route->requestHeaders.set) out.emplace_back(n, v);
  for (const auto& [n, v] : route->requestHeaders.add) out.emplace_back(n, v);
  for (size_t i = added; i < out.size(); ++i)
    std::transform(out[i].first.begin(), out[i].first.end(), out[i].first.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
  out.emplace_back("x-forwarded-for", forwardedFor + down_.peerText_);
  if (down_.tls_) out.emplace_back("x-forwarded-proto", "https");
  out.emplace_back("traceparent", "00-" + ex.traceId + "-" + ex.spanId + "-" + flags);
  ex.mirrorPending = !route->mirrors.empty() && !s.websocket;
  mirrorStream(s);
  if (!c.http2 && !s.requestEnd) {
    // To an HTTP/1.1 service the try starts after the frames that came with the head: a body that
    // arrived whole goes up with its length, not chunked (which more servers take).
    s.backingOff = true;
    s.backoffUntil = w.loop_.now();
    markDirty();
    armDeadline();
    return;
  }
  attempt(s);
}

void H2Server::mirrorStream(H2Stream& s) {
  Exchange& ex = s.ex;
  if (!ex.mirrorPending || !s.requestEnd || !ex.route) return;
  ex.mirrorPending = false;
  mirrorExchange(down_.w_, ex, down_.peer_.sin_addr.s_addr, ex.bodyRetained && s.requestDiscarded == 0,
                 [&] { return shadowRequestFromHttp2(s.upstreamHeaders, s.requestBody); });
}

// One try: an endpoint (not the one that just failed, if there is another), authorized for this
// caller, and a stream on this worker's HTTP/2 connection to it.
void H2Server::attempt(H2Stream& s) {
  Worker& w = down_.w_;
  Exchange& ex = s.ex;
  const Cluster& c = *ex.cluster;
  s.backingOff = false;
  s.backoffUntil = kNever;
  auto now = w.loop_.now();
  uint64_t rnd = w.random();
  int e = pickEndpointFor(c, down_.peer_.sin_addr.s_addr, ex.hashKey, ex.lastFailed, rnd, now);
  if (e < 0) return localReply(s, 503, "no healthy upstream for " + c.name);
  ex.endpoint = e;
  std::string_view path = std::string_view(s.path).substr(0, s.path.find('?'));
  if (!w.authorize(*ex.table, c, e, ex.table->workloadOf(down_.peer_.sin_addr.s_addr), s.method, path, s.authority))
    return localReply(s, 403, "RBAC: access denied");  // not the endpoint's doing: no attempt counted
  ++ex.attempts;
  ex.attemptStart = now;
  c.endpoints[size_t(e)].state->active.fetch_add(1, std::memory_order_relaxed);
  s.endpointHeld = true;
  s.requestOffset = 0;  // a retry sends the whole (retained) body again

  if (!c.http2) {
    // An HTTP/1.1 service: a pooled connection of its own for this try (http2_to_http1.h).
    auto leg = std::make_unique<Http1Leg>(s);
    bool refused = false;
    Upstream* u = w.connection(c, e, leg.get(), ex.table->workloadOf(down_.peer_.sin_addr.s_addr), refused);
    if (!u && refused) return failAttempt(s, 503, "upstream connect error or disconnect/reset before headers (connection refused)", true);
    if (!u) {
      proxyEvent(c.name, "overflow_connections").inc();
      releaseEndpoint(s);
      return localReply(s, 503, "upstream overloaded (circuit breaker: max connections)", {{"x-skiff-overloaded", "true"}});
    }
    s.h1 = std::move(leg);
    if (!s.h1->start(u)) return;  // the stream was told (retry or answer)
    armDeadline();
    return;
  }

  // An HTTP/2 connection to that endpoint from this worker, shared with other streams.
  // A pod on another node: through the mesh, as the caller's identity (see Worker::connection).
  const Endpoint& ep = c.endpoints[size_t(e)];
  const MeshTls* mesh = ep.remote ? ex.table->mesh.get() : nullptr;
  if (ep.remote && !mesh) return failAttempt(s, 503, "upstream connect error (no mesh credentials to reach another node)", true);
  std::string identity = mesh ? meshIdentity(*mesh, ex.table->workloadOf(down_.peer_.sin_addr.s_addr)) : std::string();
  std::string key = c.name + "|" + ep.text + (mesh ? "|" + identity + "|" + std::to_string(mesh->generation()) : "");
  H2Client* client = nullptr;
  if (auto it = w.h2Clients_.find(key); it != w.h2Clients_.end() && it->second->accepting()) client = it->second;
  if (!client) {
    bool inProgress = false;
    int fd = connectTo(mesh ? ep.via : ep.address, inProgress);
    if (fd < 0) return failAttempt(s, 503, "upstream connect error or disconnect/reset before headers (connection refused)", true);
    client = new H2Client(w, fd, key, c, e);
    client->connecting_ = inProgress;
    client->tcpUp_ = !inProgress;
    client->deadline_ = now + c.connectTimeout;
    w.track(client);
    if (!w.loop_.add(fd, client) || (mesh && !client->startDial(mesh->client(identity), ep.viaId, ep.text))) {
      client->close();
      return failAttempt(s, 503, "upstream connect error", true);
    }
    if (auto old = w.h2Clients_.find(key); old != w.h2Clients_.end()) old->second->key_.clear();  // draining: not reused
    w.h2Clients_[key] = client;
  }
  std::vector<nghttp2_nv> nva;
  nva.reserve(s.upstreamHeaders.size());
  for (const auto& [k, v] : s.upstreamHeaders) nva.push_back(nv(k, v));
  if (!client->submit(s, nva, !(s.requestEnd && s.requestBody.empty())))
    return failAttempt(s, 503, "upstream connection cannot take a new stream", true);
  armDeadline();
}

void H2Server::startResponse(H2Stream& s, bool endStream) {
  std::vector<nghttp2_nv> nva;
  const Route* route = s.ex.route;
  std::vector<std::pair<std::string, std::string>> extra;
  if (route) {
    for (const auto& [n, v] : route->responseHeaders.set) extra.emplace_back(n, v);
    for (const auto& [n, v] : route->responseHeaders.add) extra.emplace_back(n, v);
  }
  for (const auto& [k, v] : s.responseHeaders) {
    if (k == ":status") s.ex.status = std::atoi(v.c_str());
    if (isHopByHopHeader(k)) continue;
    bool skip = false;
    if (route) {
      for (const auto& r : route->responseHeaders.remove) skip = skip || k == r;
      for (const auto& [n, val] : route->responseHeaders.set) skip = skip || http1::equalsIgnoreCase(k, n);
    }
    if (!skip) nva.push_back(nv(k, v));
  }
  for (auto& [k, v] : extra) {
    std::transform(k.begin(), k.end(), k.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
    nva.push_back(nv(k, v));
  }
  s.responseStarted = true;
  nghttp2_data_provider body;
  body.source.ptr = &s;
  body.read_callback = provideResponseBody;
  nghttp2_submit_response(session_, s.downId, nva.data(), nva.size(), endStream ? nullptr : &body);
  markDirty();
}

// ---- H2Client ----

H2Client::H2Client(Worker& w, int fd, std::string key, const Cluster& cluster, int endpoint)
    : Socket(w, fd), key_(std::move(key)), cluster_(cluster.state), clusterName_(cluster.name), endpointText_(cluster.endpoints[size_t(endpoint)].text) {
  worker_ = &w;
  cluster_->connections.fetch_add(1, std::memory_order_relaxed);
  cluster_->busy.fetch_add(1, std::memory_order_relaxed);
  nghttp2_session_client_new2(&session_, clientCallbacks(), static_cast<H2Session*>(this), sessionOptions());
  sendSettings(session_, false);
}

H2Client::~H2Client() {
  cluster_->connections.fetch_sub(1, std::memory_order_relaxed);
  cluster_->busy.fetch_sub(1, std::memory_order_relaxed);
}

bool H2Client::accepting() const {
  return !closed_ && !dead_ && !key_.empty() && nghttp2_session_check_request_allowed(session_);
}

bool H2Client::submit(H2Stream& s, const std::vector<nghttp2_nv>& headers, bool withBody) {
  nghttp2_data_provider body;
  body.source.ptr = &s;
  body.read_callback = provideRequestBody;
  int32_t id = nghttp2_submit_request(session_, nullptr, headers.data(), headers.size(), withBody ? &body : nullptr, &s);
  if (id < 0) return false;
  s.up = this;
  s.upId = id;
  streams_[id] = &s;
  if (!connecting_) deadline_ = kNever;  // while connecting: the connect timeout
  markDirty();
  return true;
}

void H2Client::resume(H2Stream& s) {
  if (s.upId > 0) nghttp2_session_resume_data(session_, s.upId);
  markDirty();
}

void H2Client::cancel(H2Stream& s) {
  if (s.upId > 0 && streams_.erase(s.upId)) {
    nghttp2_session_set_stream_user_data(session_, s.upId, nullptr);
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.upId, NGHTTP2_CANCEL);
    markDirty();
  }
  s.up = nullptr;
  s.upId = -1;
  if (streams_.empty()) deadline_ = w_.loop_.now() + std::chrono::seconds(60);
}

void H2Client::onEvents(uint32_t events) {
  if (closed_) return;
  if (events & (EPOLLRDHUP | EPOLLHUP)) peerClosed_ = true;
  if (connecting_) {
    if (int up = tcpConnectResult(events); up <= 0) {
      if (up == 0) return;
      return fail("upstream connect error or disconnect/reset before headers (connection refused)");
    }
    if (dial_ && !dialStep()) {
      if (!dialFailed_) return;
      if (dial_->status == 403) return fail("RBAC: access denied", 403, false);  // the destination node's policy
      return fail("upstream connect error (the mesh tunnel to the pod's node failed)");
    }
    connecting_ = false;
    deadline_ = streams_.empty() ? w_.loop_.now() + std::chrono::seconds(60) : kNever;
    markDirty();
  }
  if (events & EPOLLERR) return fail("upstream connection error");
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
    readable_ = true;
    while (!closed_ && readable_) {
      if (!fill(256 * 1024) || !receive(*this)) return fail("upstream sent malformed HTTP/2");
      if (eof_) break;
    }
  }
  if (events & EPOLLOUT) markDirty();
  flushHttp2(w_);
  if (!closed_ && eof_) fail("upstream closed the connection");
}

void H2Client::sendPending() {
  if (closed_) return;
  if (!send(*this)) return fail("upstream write failed");
}

void H2Client::expire(Clock::time_point) {
  if (connecting_) {
    proxyEvent(clusterName_, "connect_timeout").inc();
    return fail("upstream connect timeout");
  }
  if (streams_.empty()) close();
}

void H2Client::fail(const char* why, int status, bool retriable) {
  if (closed_) return;
  // Streams still waiting for a response are tried again or answered; streams mid-response are reset.
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, s] : streams) {
    s->up = nullptr;
    s->upId = -1;
    if (!s->down) continue;
    if (!s->responseStarted) {
      if (retriable) s->down->failAttempt(*s, status, why, true);
      else s->down->localReply(*s, status, why);
    } else if (!s->responseEnd) {
      s->down->reset(*s, NGHTTP2_INTERNAL_ERROR);
    }
  }
  close();
  flushHttp2(w_);
}

void H2Client::close() {
  if (closed_) return;
  closed_ = true;
  dead_ = true;
  for (auto& [id, s] : streams_) {
    s->up = nullptr;
    s->upId = -1;
    if (s->down && !s->responseEnd) s->down->reset(*s, NGHTTP2_INTERNAL_ERROR);
  }
  streams_.clear();
  if (!key_.empty()) {
    auto it = w_.h2Clients_.find(key_);
    if (it != w_.h2Clients_.end() && it->second == this) w_.h2Clients_.erase(it);
  }
  w_.loop_.remove(fd_);
  w_.untrack(this);
  releaseBuffers();
  w_.loop_.retire(this);
}

int H2Client::onHeader(const nghttp2_frame* frame, std::string_view name, std::string_view value) {
  auto it = streams_.find(frame->hd.stream_id);
  if (it == streams_.end() || frame->hd.type != NGHTTP2_HEADERS) return 0;
  H2Stream& s = *it->second;
  if (frame->headers.cat == NGHTTP2_HCAT_HEADERS && s.responseStarted) s.trailers.emplace_back(name, value);
  else s.responseHeaders.emplace_back(name, value);
  return 0;
}

bool H2Client::considerResponse(H2Stream& s, bool endStream) {
  int status = 0;
  for (const auto& [k, v] : s.responseHeaders) {
    if (k == ":status") status = std::atoi(v.c_str());
    else if (k == "grpc-status" && endStream && status == 200) status = httpStatusForGrpc(v);  // trailers-only gRPC answer
  }
  if (answerWantsRetry(s.ex, status, w_.loop_.now())) {
    s.down->failAttempt(s, status, "retryable status", false);
    return false;
  }
  return true;
}

int H2Client::onFrame(const nghttp2_frame* frame) {
  auto it = streams_.find(frame->hd.stream_id);
  if (it == streams_.end()) return 0;
  H2Stream& s = *it->second;
  bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
  if (frame->hd.type == NGHTTP2_HEADERS) {
    if (!s.responseStarted) {
      if (!s.responseHeaders.empty() && s.responseHeaders.front().first == ":status" && s.responseHeaders.front().second[0] == '1') {
        s.responseHeaders.clear();  // 1xx: the final response follows
        return 0;
      }
      if (!s.down) return 0;
      if (!considerResponse(s, end)) return 0;  // tried again
      s.responseEnd = end;
      s.down->startResponse(s, end);
      return 0;
    }
    if (end) {  // trailers
      s.responseEnd = true;
      if (s.down) s.down->resume(s);
    }
    return 0;
  }
  if (frame->hd.type == NGHTTP2_DATA && end) {
    s.responseEnd = true;
    if (s.down) s.down->resume(s);
  }
  return 0;
}

int H2Client::onData(int32_t id, const uint8_t* data, size_t len) {
  auto it = streams_.find(id);
  if (it == streams_.end()) {
    if (nghttp2_session_consume(session_, id, len) != 0) nghttp2_session_consume_connection(session_, len);
    return 0;
  }
  H2Stream& s = *it->second;
  s.responseBody.append(reinterpret_cast<const char*>(data), len);
  if (s.down) s.down->resume(s);
  return 0;
}

int H2Client::onStreamClose(int32_t id, uint32_t error) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return 0;
  H2Stream& s = *it->second;
  streams_.erase(it);
  s.up = nullptr;
  s.upId = -1;
  if (streams_.empty()) deadline_ = w_.loop_.now() + std::chrono::seconds(60);
  if (!s.down) return 0;
  if (!s.responseStarted) {
    // Refused (never processed) or reset before any answer: a connection failure for the retry policy.
    s.down->failAttempt(s, 502, error == NGHTTP2_REFUSED_STREAM ? "upstream refused the stream" : "upstream reset the stream before a response", true);
  } else if (!s.responseEnd) {
    s.down->reset(s, error ? error : uint32_t(NGHTTP2_INTERNAL_ERROR));
  }
  return 0;
}

}  // namespace dataplane
}  // namespace skiff::proxy
