// SPDY/3.1 framing, the server side of what Kubernetes' port-forward speaks (kubectl tunnels
// it inside a WebSocket, subprotocol "SPDY/3.1+portforward.k8s.io"; the kubelet's streams ride
// on it). Only what a stream-multiplexing server needs: SYN_STREAM, SYN_REPLY, RST_STREAM,
// SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE and data frames.
//
// Header blocks are zlib streams with the SPDY/3 dictionary; each direction keeps one
// compression context for the whole session, so one SpdyCodec serves one connection.
// Bounds: a frame over kMaxFrameBytes or a header block inflating past kMaxHeaderBytes is an
// error (the session is then closed), never an allocation the peer chose.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace skiff::http::spdy {

inline constexpr size_t kMaxFrameBytes = 1 << 20;
inline constexpr size_t kMaxHeaderBytes = 64 << 10;

enum class FrameType : uint16_t {
  kData = 0,
  kSynStream = 1,
  kSynReply = 2,
  kRstStream = 3,
  kSettings = 4,
  kPing = 6,
  kGoAway = 7,
  kHeaders = 8,
  kWindowUpdate = 9,
};

inline constexpr uint8_t kFlagFin = 0x01;

// RST_STREAM status codes.
inline constexpr uint32_t kProtocolError = 1, kRefusedStream = 3, kCancel = 5, kInternalError = 6;

struct Frame {
  FrameType type = FrameType::kData;
  uint8_t flags = 0;
  uint32_t streamId = 0;  // data, SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS, WINDOW_UPDATE
  uint32_t value = 0;     // RST_STREAM / GOAWAY status, PING id, WINDOW_UPDATE delta
  std::map<std::string, std::string> headers;  // SYN_STREAM, SYN_REPLY, HEADERS (names lower case)
  std::string data;       // data frames
  bool fin() const { return flags & kFlagFin; }
};

class Codec {
 public:
  Codec();
  ~Codec();
  Codec(const Codec&) = delete;
  Codec& operator=(const Codec&) = delete;

  // Appends bytes from the peer.
  void feed(std::string_view bytes) { in_.append(bytes); }
  // The next whole frame, nothing when more bytes are needed, an error when the stream is not
  // SPDY/3 (the session must end).
  Result<std::optional<Frame>> next();

  std::string synReply(uint32_t streamId, const std::map<std::string, std::string>& headers, bool fin = false);
  static std::string data(uint32_t streamId, std::string_view bytes, bool fin);
  static std::string rstStream(uint32_t streamId, uint32_t status);
  static std::string ping(uint32_t id);
  static std::string goAway(uint32_t lastStreamId, uint32_t status);
  // What a client sends (tests and tools): SYN_STREAM with headers.
  std::string synStream(uint32_t streamId, const std::map<std::string, std::string>& headers, bool fin = false);

  // The SPDY/3 header dictionary (draft-mbelshe-httpbis-spdy-00, 2.6.10.1).
  static const std::string& dictionary();

 private:
  Result<std::map<std::string, std::string>> inflateHeaders(std::string_view block);
  std::string deflateHeaders(const std::map<std::string, std::string>& headers);
  struct Zlib;
  std::unique_ptr<Zlib> z_;
  std::string in_;
};

}  // namespace skiff::http::spdy
