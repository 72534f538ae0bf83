// HTTP/2 callers of HTTP/1.1 services: one stream's try carried over a pooled HTTP/1.1
// connection, as Envoy and nginx translate. The request goes up as an HTTP/1.1 head (:authority
// becomes Host) with the body framed by the client's content-length, by its size when the whole
// body is already here, or else chunked; the response head becomes the stream's HEADERS (names
// lower-cased, hop-by-hop headers dropped) and its body, whatever its HTTP/1.1 framing, the
// stream's DATA. The connection goes back to the pool when both messages are complete.
//
// A WebSocket stream (RFC 8441) goes up as a GET with Upgrade: websocket and a key of the leg's
// own; the 101 (its Sec-WebSocket-Accept checked) becomes the stream's 200, and from then on the
// bytes pass unframed both ways until either side ends.
//
// Backpressure both ways: request bytes reopen the client's window only as the upstream socket
// takes them, and reading the upstream pauses while the client has a full buffer unread.
#pragma once
#include "proxy/http2.h"

namespace skiff::proxy::dataplane {

class Http1Leg final : public UpstreamOwner {
 public:
  // `s` owns the leg (as its `h1`); the leg is the owner given to Worker::connection.
  explicit Http1Leg(H2Stream& s) : s_(s) {}
  // A leg ended before its exchange completed closes its connection (it cannot be reused).
  ~Http1Leg() override;
  Http1Leg(const Http1Leg&) = delete;
  Http1Leg& operator=(const Http1Leg&) = delete;

  // Sends the request head and the body so far on `upstream` (from Worker::connection, idle or
  // connecting). False when the connection failed at once (the caller tells the stream).
  bool start(Upstream* upstream);
  // Moves what can move: request body up, response bytes down. Called after the client sent more
  // or took response bytes. False when the try failed (the stream was told; the leg may be gone).
  bool pump();
  bool connecting() const { return up_ && up_->connecting_; }
  bool reused() const { return reused_; }

  void onUpstreamEvent(uint32_t events) override;
  void onConnectFailed() override;

 private:
  bool sendRequestBody();
  bool readResponse();
  bool readResponseHead();
  bool readResponseBody();
  // The upstream accepted a WebSocket stream's upgrade (101): the stream opens with a 200.
  bool acceptWebSocket(const http1::Head& head);
  // The try failed before the client saw a response: the stream decides (retry or answer).
  // The leg is destroyed by then; callers return at once.
  void fail(int status, const char* reason, bool connectionFailure);
  // Done with the connection: to the pool when both messages are complete, else closed.
  void detach(bool reusable);

  H2Stream& s_;
  Upstream* up_ = nullptr;
  bool reused_ = false;
  bool chunkedRequest_ = false;
  bool requestSent_ = false;  // the whole request (with its end) is in the socket's buffer
  bool headDone_ = false;
  bool keepAlive_ = true;
  http1::Framing framing_ = http1::Framing::kNone;
  uint64_t remaining_ = 0;
  http1::ChunkedFramer chunks_;
  std::string webSocketKey_;  // sent upstream for a WebSocket stream
};

}  // namespace skiff::proxy::dataplane
