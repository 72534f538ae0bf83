// HTTP/2 in the node proxy (nghttp2): clients that open with the HTTP/2 preface on an HTTP
// listener (h2c prior knowledge, as gRPC clients do in a mesh) get an H2Server; each of their
// streams is routed like an HTTP/1.1 request (routes, weights, circuit breaker, load balancing,
// AuthorizationPolicy, metrics, access log, spans) and multiplexed onto an H2Client: one HTTP/2
// connection per worker and endpoint of a cluster whose port speaks HTTP/2 (grpc, h2c, http2
// names or appProtocol). Streams to services that speak HTTP/1.1 take a pooled HTTP/1.1
// connection each (http2_to_http1.h). Trailers pass through (gRPC status), and flow control is end to end:
// a stream's window opens on one side only as the other side takes its bytes, so a slow reader
// holds memory to a window, not to a whole stream. WebSockets over HTTP/2 (RFC 8441 extended
// CONNECT, announced with SETTINGS_ENABLE_CONNECT_PROTOCOL) reach HTTP/1.1 services as an
// Upgrade: websocket request; after the 101 the stream's DATA carries the socket's bytes.
#pragma once
#include <nghttp2/nghttp2.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "proxy/dataplane.h"

namespace skiff::proxy {
namespace dataplane {

class H2Client;
class Http1Leg;

// One request/response pair across both sessions. Owned by the H2Server; the H2Client refers to it
// by its upstream stream id while that stream is open. A try to an HTTP/1.1 upstream goes through
// `h1` instead (http2_to_http1.h).
struct H2Stream {
  H2Server* down = nullptr;
  int32_t downId = 0;
  H2Client* up = nullptr;
  int32_t upId = -1;
  Exchange ex;
  std::vector<std::pair<std::string, std::string>> requestHeaders;  // regular headers, lower case
  std::string method, path, authority, scheme, contentType;
  std::string protocol;    // :protocol of an extended CONNECT (RFC 8441)
  bool websocket = false;  // a WebSocket over this stream: upgraded upstream, then bytes both ways
  bool headersDone = false;
  std::vector<std::pair<std::string, std::string>> upstreamHeaders;  // as sent upstream, kept for retries
  // Request body on its way up, response body on its way down: bytes [offset, size) are pending.
  // While the request body fits kRetainBody it is kept whole (a retry sends it again).
  std::string requestBody, responseBody;
  size_t requestOffset = 0, responseOffset = 0;
  uint64_t requestDiscarded = 0;  // request body bytes dropped from the front (no retry possible then)
  uint64_t requestConsumed = 0;   // request body bytes whose window went back to the client
  bool requestEnd = false, responseEnd = false;
  std::vector<std::pair<std::string, std::string>> responseHeaders, trailers;
  bool responseStarted = false;  // response HEADERS submitted to the client
  bool counted = false;          // cluster request count taken
  bool endpointHeld = false;     // the try's endpoint counts this stream as active
  bool backingOff = false;       // waiting to be tried again
  Clock::time_point backoffUntil = kNever;
  bool local = false;            // answered by the proxy
  std::string localBody;
  size_t localOffset = 0;
  // Stream idle timeout: when bytes last moved either way (checked against progressMark).
  Clock::time_point lastProgress;
  uint64_t progressMark = 0;
  // Last, so it is destroyed first: a leg ending mid-exchange still reads the stream's state.
  std::unique_ptr<Http1Leg> h1;
};

// `n` request body bytes after requestOffset went upstream (already copied out): the client's
// window reopens for bytes sent the first time, and a body too big to keep for a retry is dropped
// as it goes.
void takeRequestBody(H2Stream& s, size_t n);

// What both ends share: an nghttp2 session over a Socket's buffers.
class H2Session {
 public:
  virtual ~H2Session();
  // Feeds what the socket has read to the session. False on a protocol or socket error.
  bool receive(Socket& s);
  // Moves frames the session wants to send into the socket and flushes. False on error.
  bool send(Socket& s);
  // Asks the worker to send() this session's frames after the current event.
  void markDirty();
  virtual void sendPending() = 0;
  nghttp2_session* session_ = nullptr;
  Worker* worker_ = nullptr;
  bool dirty_ = false;
  bool dead_ = false;
};

// The downstream side, owned by the Downstream connection that received the preface.
class H2Server : public H2Session {
 public:
  explicit H2Server(Downstream& d);
  ~H2Server() override;
  bool start();
  void onReadable();
  void onWritable();
  void onTimeout(Clock::time_point now);
  // How long `s` may go without a byte moving: its header block 10 s (slow clients), an open
  // WebSocket the tunnel idle time, any other stream the upstream idle time. A stream is looked
  // at each time its limit passes and ended when nothing moved since the previous look (so after
  // one to two limits): 408 while the client still owed its body, 504 while the upstream owed
  // its answer, a reset once the answer had started.
  std::chrono::milliseconds idleLimit(const H2Stream& s) const;
  // The client connection is going away: every stream lets go of its upstream.
  void shutdown();
  void sendPending() override;

  // nghttp2 callbacks.
  int onBeginHeaders(const nghttp2_frame* frame);
  int onHeader(const nghttp2_frame* frame, std::string_view name, std::string_view value);
  int onFrame(const nghttp2_frame* frame);
  int onData(int32_t id, const uint8_t* data, size_t len);
  int onStreamClose(int32_t id, uint32_t error);

  // Answers a stream from the proxy itself (404, 503, ...), with gRPC's status for gRPC callers.
  void localReply(H2Stream& s, int status, std::string_view message, std::vector<std::pair<std::string, std::string>> extra = {});
  // The upstream's response head (or trailers-only response) is here.
  void startResponse(H2Stream& s, bool endStream);
  void resume(H2Stream& s);
  void reset(H2Stream& s, uint32_t error);
  // The current try failed before the client saw a response: try again after a back-off if the
  // retry policy and budget allow (the same rules as HTTP/1.1), else answer `status`.
  void failAttempt(H2Stream& s, int status, std::string_view reason, bool connectionFailure);
  // Runs `s`'s HTTP/1.1 leg after the current event (more request body, or room for response).
  void wakeLeg(H2Stream& s);

  Downstream& down_;

 private:
  void route(H2Stream& s);
  // RequestMirror: once the stream's request has ended, its copies leave (request_mirror.h).
  void mirrorStream(H2Stream& s);
  void attempt(H2Stream& s);
  void retryDue(Clock::time_point now);
  void finish(H2Stream& s);
  void release(H2Stream& s);
  void releaseEndpoint(H2Stream& s);
  Clock::time_point tryDeadline(const H2Stream& s) const;
  void armDeadline();
  // The stream's try lets go of its upstream (HTTP/2 stream cancelled, HTTP/1.1 leg ended).
  void dropUpstream(H2Stream& s);
  void runLegs();
  std::map<int32_t, std::unique_ptr<H2Stream>> streams_;
  std::vector<int32_t> legsToRun_;  // streams whose HTTP/1.1 leg has work (wakeLeg)
};

// One HTTP/2 connection to an endpoint, shared by every stream this worker sends there.
class H2Client : public Socket, public H2Session {
 public:
  H2Client(Worker& w, int fd, std::string key, const Cluster& cluster, int endpoint);
  ~H2Client() override;
  void onEvents(uint32_t events) override;
  void close() override;
  void expire(Clock::time_point now) override;
  void sendPending() override;
  bool accepting() const;
  // Sends `s` upstream; false when the session cannot take a new stream.
  bool submit(H2Stream& s, const std::vector<nghttp2_nv>& headers, bool withBody);
  void resume(H2Stream& s);
  void cancel(H2Stream& s);

  // nghttp2 callbacks.
  int onHeader(const nghttp2_frame* frame, std::string_view name, std::string_view value);
  int onFrame(const nghttp2_frame* frame);
  int onData(int32_t id, const uint8_t* data, size_t len);
  int onStreamClose(int32_t id, uint32_t error);

  std::string key_;
  std::shared_ptr<ClusterState> cluster_;
  std::string clusterName_, endpointText_;
  std::map<int32_t, H2Stream*> streams_;

 private:
  // Outlier detection and the retry policy look at a try's response head; false when the stream
  // is tried again instead of answered.
  bool considerResponse(H2Stream& s, bool endStream);
  // The connection is lost: streams without a response yet are tried again or answered `status`
  // (`retriable` false: answered, as when the destination node refused the caller).
  void fail(const char* why, int status = 503, bool retriable = true);
};

// Sends what every session marked dirty has queued (after an event, never from inside a callback
// of another session, so a stream is never freed under a caller).
void flushHttp2(Worker& w);

// True when `in` starts with the HTTP/2 connection preface (or is a prefix of it: wait for more).
enum class Preface { kNo, kPartial, kYes };
Preface http2Preface(std::string_view in);

}  // namespace dataplane
}  // namespace skiff::proxy
